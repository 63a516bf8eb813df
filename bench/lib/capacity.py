"""Listening capacity: how many sessions streaming the microphone a server carries before
its event loop lags, seen from outside by ``lib/probe.py``; and that ramp on two servers,
the VAD scored on the event loop versus batched on a worker thread (``--capacity-only``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib.live import LiveClient, audio_message
from lib.machine import CpuWindow, await_quiet, proc_status
from lib.server import FAKE_LLM, Server
from lib.sessions import Bench
from lib.speech import noise
from lib.stats import pct
from lib.tables import header, mib, ms, row

LAG_TARGET_MS = 20.0
PROBE = Path(__file__).resolve().with_name("probe.py")


async def run_probe(url: str, seconds: float, quickack: bool = True) -> dict[str, Any]:
    """Probe the server at ``url`` for ``seconds``: {"ms": [times], "errors": n}."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(PROBE), url, str(seconds),
        *([] if quickack else ["--no-quickack"]), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return dict(json.loads(out))


@dataclass
class Level:
    """One level of the ramp: the probe's times (ms) and what the machine did."""

    sessions: int
    p50: float
    p95: float
    p99: float
    errors: int
    rss: int
    server_cpu: float  # cores the server used during the window
    client_cpu: float  # cores this benchmark process used
    other_cpu: float  # cores every other process on the machine used
    closed: int  # sessions the server closed
    send_late_p95: float  # client-side pacing lateness (s), to show the load was real time
    note: str = ""


async def capacity(bench: Bench, levels: list[int], measure_s: float
                   ) -> tuple[list[Level], dict[str, float]]:
    """Open sessions that only listen, up to each of ``levels`` in turn, and probe the
    server for ``measure_s`` at each; stop past the lag target. Also returns the probe's
    p50/p95 without TCP_QUICKACK on the idle server (the delayed-ACK stall)."""
    rng = np.random.default_rng(3)
    chunk_ms = 100  # what the Python SDK's examples send; 10 messages per second
    silence = [audio_message(noise(chunk_ms / 1000, rng)) for _ in range(16)]
    clients: list[LiveClient] = []
    results: list[Level] = []
    nagle: dict[str, float] = {}

    async def measure(k: int) -> Level:
        await asyncio.sleep(2.0)  # settle after the ramp
        for c in clients:
            c.lateness.clear()
        window = CpuWindow(bench.server.pid)
        probe_result = await run_probe(bench.server.http, measure_s)
        cores = window.cores()
        lag = probe_result["ms"]
        late = [x for c in clients for x in c.lateness]
        return Level(k, pct(lag, 0.5), pct(lag, 0.95), pct(lag, 0.99),
                     probe_result["errors"], proc_status(bench.server.pid).get("VmRSS", 0),
                     cores["server"], cores["bench"], cores["other"],
                     sum(1 for c in clients if c.closed), pct(late, 0.95))

    try:
        results.append(await measure(0))
        plain = await run_probe(bench.server.http, 3.0, quickack=False)
        nagle = {"p50": pct(plain["ms"], 0.5), "p95": pct(plain["ms"], 0.95)}
        for k in levels:
            failed = ""
            while len(clients) < k and not failed:
                batch = [LiveClient(bench.server.ws_url, chunk_ms, silence,
                                    not bench.args.no_deflate)
                         for _ in range(min(10, k - len(clients)))]
                opened = await asyncio.gather(
                    *(asyncio.wait_for(c.open(bench.setup_default), 20) for c in batch),
                    return_exceptions=True)
                clients += [c for c, r in zip(batch, opened, strict=True) if r is None]
                errors = [r for r in opened if r is not None]
                if errors:
                    failed = f"{len(errors)} of {len(batch)} sessions failed to open: {errors[0]!r}"
            level = await measure(len(clients))
            level.note = failed
            results.append(level)
            print(f"  capacity {level.sessions}: /health p50 {level.p50:.1f} ms p95 "
                  f"{level.p95:.1f} ms, server {level.server_cpu:.2f} cores, other processes "
                  f"{level.other_cpu:.2f} cores, rss {mib(level.rss)} {failed}", file=sys.stderr)
            if failed or level.p95 > LAG_TARGET_MS or level.closed:
                break  # past the target: more sessions only overload the server
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return results, nagle


CAPACITY_TITLES = ("listening sessions", "/health p50", "p95", "p99", "server CPU",
                   "benchmark CPU", "other processes CPU", "client send lateness p95",
                   "server RSS", "sessions closed")


def capacity_method(args: argparse.Namespace) -> str:
    """How the load was made and measured, for a report."""
    return ("sessions streaming noise in real time in 100 ms chunks; `GET /health` from "
            f"another process every ~50 ms for {args.capacity_seconds:.0f} s")


def capacity_row(lv: dict[str, Any], first: str | None = None) -> str:
    """One level's table row; ``first`` replaces the session count in the first cell."""
    return row(first or lv["sessions"], f"{lv['p50']:.1f} ms", f"{lv['p95']:.1f} ms",
               f"{lv['p99']:.1f} ms", f"{lv['server_cpu']:.2f}", f"{lv['client_cpu']:.2f}",
               f"{lv['other_cpu']:.2f}", ms(lv["send_late_p95"]), mib(lv["rss"]), lv["closed"])


def largest_passing(levels: list[dict[str, Any]]) -> int:
    """The largest K such that it and every smaller level met the lag target."""
    best = 0
    for lv in levels:
        if lv["sessions"] and lv["p95"] > LAG_TARGET_MS:
            break
        best = lv["sessions"]
    return best


# (name in the report, the server's flags); the first is the baseline
VAD_MODES = (("event loop", ["--no-vad-batching"]), ("batched", ["--vad-batching"]))


async def capacity_only(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Only the listening-capacity ramp, on a fresh server per VAD mode, alternating the
    order each round (ABBA…) so that drift in the machine's load hits both alike."""
    for round_no in range(1, args.capacity_rounds + 1):
        modes = VAD_MODES if round_no % 2 else VAD_MODES[::-1]
        for name, flags in modes:
            with tempfile.TemporaryDirectory(prefix="openlive-bench-") as tmp:
                print(f"round {round_no}, VAD {name}: starting openlive serve {' '.join(flags)} …",
                      file=sys.stderr)
                extra = ["--llm-threads", str(args.llm_threads)] if args.llm_threads else []
                server = Server(Path(tmp), FAKE_LLM if args.fake_llm else None,
                                [*extra, *flags])
                try:
                    await asyncio.sleep(1.0)
                    await await_quiet(args.quiet_wait, server.pid)
                    levels, _ = await capacity(Bench(args, server), args.capacity,
                                               args.capacity_seconds)
                    results["capacity_runs"].append({
                        "round": round_no, "vad": name, "levels": [vars(lv) for lv in levels],
                        "peak": proc_status(server.pid).get("VmHWM"),
                        "warnings": server.warnings(10)})
                finally:
                    server.stop()
                    if args.keep_log:
                        shutil.copy(server.log_path,
                                    f"{args.keep_log}.{round_no}.{name.replace(' ', '-')}")


def capacity_report(results: dict[str, Any], args: argparse.Namespace) -> str:
    """The markdown of a ``--capacity-only`` run."""
    runs: list[dict[str, Any]] = results["capacity_runs"]
    out: list[str] = []
    add = out.append
    llm = "fake echo LLM (tests.fakes.llm)" if args.fake_llm else "llama.cpp Qwen2.5-0.5B"
    add(f"Run {results['when']} at commit {results['commit']}, {results['machine']}; load "
        f"average {results['load_start']} at start, {results['load_end']} at end.  ")
    add(f"Servers: `openlive serve` with Silero VAD, Whisper, Piper, Smart Turn and {llm}, "
        "once with `--no-vad-batching` (each 32 ms frame scored on the event loop as it "
        "arrives: the old path) and once with `--vad-batching` (the default: one worker "
        "thread scores the frames of all sessions in batched calls), a fresh server for "
        f"each, alternating which goes first; rounds: {args.capacity_rounds}.  ")
    add(f"Load: {capacity_method(args)}; levels "
        f"{', '.join(str(k) for k in args.capacity)}, each ramp stopping at the first level "
        f"over {LAG_TARGET_MS:.0f} ms.  ")
    add(f"Command: `{results['command']}` ({results['elapsed']:.0f} s)")
    add("")
    out += header("VAD", *(f"round {r}" for r in range(1, args.capacity_rounds + 1)))
    for name, _ in VAD_MODES:
        add(row(name, *(f"**{largest_passing(run['levels'])}**" for run in runs
                        if run["vad"] == name)))
    add("")
    add(f"Largest number of listening sessions with /health p95 ≤ {LAG_TARGET_MS:.0f} ms at "
        "that level and every smaller one. Every level measured, in the order run (CPU in "
        "cores of 2):")
    add("")
    out += header("round, VAD: listening sessions", *CAPACITY_TITLES[1:])
    for run in runs:
        out.extend(capacity_row(lv, f"{run['round']}, {run['vad']}: {lv['sessions']}")
                   for lv in run["levels"])
    add("")
    for run in runs:
        for lv in run["levels"]:
            if lv.get("note"):
                add(f"Round {run['round']}, {run['vad']}: ramp stopped at {lv['sessions']} "
                    f"sessions: {lv['note']}.")
                add("")
    return "\n".join(out)


def capacity_section(levels: list[dict[str, Any]], nagle: dict[str, float],
                     args: argparse.Namespace) -> list[str]:
    """The listening-capacity part of the voice latency report (lines of markdown)."""
    out = [f"### Listening capacity ({capacity_method(args)})", "",
           *header(*CAPACITY_TITLES), *(capacity_row(lv) for lv in levels), ""]
    for lv in levels:
        if lv.get("note"):
            out += [f"Ramp stopped at {lv['sessions']} sessions: {lv['note']}.", ""]
    if nagle:
        stalled = nagle["p95"] > LAG_TARGET_MS
        out += [f"The probe sets TCP_QUICKACK. Without it, on the idle server: /health p50 "
                f"{nagle['p50']:.1f} ms, p95 {nagle['p95']:.1f} ms"
                + (" — the server's sockets have no TCP_NODELAY, so the response body waits "
                   "for the probe's delayed ACK." if stalled else
                   " (no delayed-ACK stall this time; it comes and goes)."), ""]
    out += [(f"Largest K (of {', '.join(str(k) for k in args.capacity)}) with /health "
            f"p95 ≤ {LAG_TARGET_MS:.0f} ms at that level and every smaller one: "
            f"**{largest_passing(levels)}**. CPU in cores (of 2)."), ""]
    return out
