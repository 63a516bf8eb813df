"""The VAD alone, in-process: scored on the event loop vs batched on a worker thread.

K simulated sessions on one event loop each push 100 ms of noise (3–4 Silero frames)
every 100 ms, at random phases, through :class:`~openlive.runtime.audio_input.AudioInput`,
as the driver does; no sockets, no JSON. Per level and mode it reports:

- event-loop lag: how late a 10 ms ``asyncio.sleep`` wakes, p50/p95/p99 (what every
  other session on the loop waits);
- frame delay: push → the frame's score reaching the session, p50/p95/p99 (inline, only
  the scoring of the chunk's frames one after another: its cost is the loop lag);
- mean frames per model call (batched only), and the CPU the process used.

The modes alternate at each level (inline, batched, batched, inline, …), so a change in
the machine's load hits both.

    .venv/bin/python bench/vad_batching.py [--levels 25,50,100,150] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import deque
from collections.abc import Sequence

import numpy as np
from lib.stats import pct
from lib.tables import header, ms, row

from openlive.engines.vad.silero import FRAME_SAMPLES, SharedSileroModel, SileroStream
from openlive.runtime.audio_input import AudioInput
from openlive.runtime.vad_batcher import InlineVad, VadBatcher, VadScorer

CHUNK_SECONDS = 0.1
TICK_SECONDS = 0.01


class CountingModel:
    """The shared model, counting frames and calls (to report the batch size)."""

    def __init__(self, model: SharedSileroModel) -> None:
        self.model = model
        self.calls = 0
        self.frames = 0

    def stream(self) -> SileroStream:
        return self.model.stream()

    def score_batch(self, streams: Sequence[SileroStream], frames: Sequence[bytes]
                    ) -> list[float]:
        self.calls += 1
        self.frames += len(frames)
        return self.model.score_batch(streams, frames)


async def session(vad: VadScorer, chunk: bytes, until: float, delays: list[float]) -> None:
    pushed: deque[float] = deque()  # push time of each frame not scored yet

    def scored(at: float, probability: float, echo: float) -> None:
        delays.append(time.perf_counter() - pushed.popleft())

    audio = AudioInput(vad, scored, lambda error: None)
    await asyncio.sleep(random.random() * CHUNK_SECONDS)
    due = time.perf_counter()
    samples = frames = 0
    while due < until:
        now = time.perf_counter()
        samples += len(chunk) // 2
        new, frames = samples // FRAME_SAMPLES - frames, samples // FRAME_SAMPLES
        pushed.extend([now] * new)
        audio.push(chunk, 16_000, now)
        due += CHUNK_SECONDS
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    await audio.settled()
    audio.close()


async def ticker(until: float, lags: list[float]) -> None:
    while time.perf_counter() < until:
        start = time.perf_counter()
        await asyncio.sleep(TICK_SECONDS)
        lags.append(time.perf_counter() - start - TICK_SECONDS)


async def measure(vad: VadScorer, sessions: int, seconds: float) -> dict[str, float]:
    rng = np.random.default_rng(1)
    chunk = (rng.normal(0, 10, int(16_000 * CHUNK_SECONDS))).astype("<i2").tobytes()
    until = time.perf_counter() + seconds
    delays: list[float] = []
    lags: list[float] = []
    cpu = time.process_time()
    wall = time.perf_counter()
    await asyncio.gather(ticker(until, lags),
                         *(session(vad, chunk, until, delays) for _ in range(sessions)))
    return {"lag_p50": pct(lags, 0.5), "lag_p95": pct(lags, 0.95), "lag_p99": pct(lags, 0.99),
            "delay_p50": pct(delays, 0.5), "delay_p95": pct(delays, 0.95),
            "delay_p99": pct(delays, 0.99),
            "cpu": (time.process_time() - cpu) / (time.perf_counter() - wall)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="25,50,100,150")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    model = SharedSileroModel()
    counting = CountingModel(model)
    batcher = VadBatcher(counting)  # type: ignore[arg-type]  # the model, counted
    inline = InlineVad(model)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start\n")
    print(*header("sessions", "VAD", "loop lag p50", "p95", "p99", "frame delay p50", "p95",
                  "p99", "frames per call", "process CPU"), sep="\n")
    try:
        for i, k in enumerate(int(x) for x in args.levels.split(",")):
            modes: list[tuple[str, VadScorer]] = [("event loop", inline), ("batched", batcher)]
            for name, vad in modes if i % 2 == 0 else modes[::-1]:
                counting.calls = counting.frames = 0
                r = await measure(vad, k, args.seconds)
                per_call = (f"{counting.frames / counting.calls:.1f}"
                            if vad is batcher and counting.calls else "–")
                delays = (ms(r[key], 1) for key in ("lag_p50", "lag_p95", "lag_p99",
                                                    "delay_p50", "delay_p95", "delay_p99"))
                print(row(k, name, *delays, per_call, f"{r['cpu']:.2f}"), flush=True)
    finally:
        batcher.close()
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    asyncio.run(main())
