"""False barge-ins: how often noise, backchannels and the model's own echo interrupt it.

Each trial plays one disturbance into a voice session while the model is speaking, on
the real engines of the input path (Silero VAD, the echo guard, Whisper for the
transcript the session judges) and the real session machine; a trial counts as a
false barge-in when the session sends ``interrupted``. Real user interruptions are run
too, as the baseline that must interrupt. Prints a markdown table.

    .venv/bin/python bench/false_barge_in.py [--trials 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from openlive.audio.resample import StreamResampler
from openlive.catalog import ModelCatalog
from openlive.engines.asr.factory import create_speech_recognizer
from openlive.engines.vad.silero import SharedSileroModel
from openlive.protocol.codec import decode_client_message, to_wire
from openlive.runtime.audio_input import AudioInput
from openlive.runtime.vad_batcher import InlineVad
from openlive.session.actions import Synthesize, Transcribe
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    ClientMessageReceived,
    GenerationDelta,
    GenerationFinished,
    SpeechScored,
    SpeechSynthesized,
    TranscriptReady,
)
from openlive.session.machine import Session

ANSWER = "The capital of France is Paris. It lies on the river Seine, in the north of the country."
RATE = 16000


def speak(text: str, voice: str, rate: int, tmp: Path) -> np.ndarray:
    wav = tmp / "s.wav"
    raw = tmp / "s.raw"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed",
                    str(raw)], check=True)
    return np.fromfile(raw, dtype="<i2").astype(np.float32)


def disturbances(tmp: Path, answer24k: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    out["white noise burst 150 ms"] = rng.normal(0, 3000, int(0.15 * RATE))
    clicks = np.zeros(int(0.6 * RATE))
    for at in rng.integers(0, clicks.size - 200, 6):
        clicks[at:at + 80] = rng.normal(0, 12000, 80)
    out["clicks"] = clicks
    cough = rng.normal(0, 6000, int(0.25 * RATE)) * np.exp(-np.linspace(0, 6, int(0.25 * RATE)))
    out["cough-like burst 250 ms"] = cough
    for word in ("mm-hm", "yeah", "okay", "uh-huh"):
        out[f"backchannel '{word}'"] = speak(word, "en-us+m3", RATE, tmp)
    resampler = StreamResampler(RATE, in_rate=24000)
    pcm = answer24k.astype("<i2").tobytes()
    echo = np.frombuffer(resampler.process(pcm) + resampler.flush(), dtype="<i2").astype(
        np.float32)
    for delay, gain in ((0.15, 0.3), (0.5, 0.5)):
        delayed = np.concatenate([np.zeros(int(delay * RATE)), echo * gain])
        out[f"own voice echo {int(delay * 1000)} ms x{gain}"] = delayed + rng.normal(
            0, 40, delayed.size)
    out["REAL: 'stop, tell me about Berlin instead'"] = speak(
        "Stop, stop. Tell me about Berlin instead, please.", "en-us+m3", RATE, tmp)
    return out


async def trial(name: str, noise: np.ndarray, answer24k: np.ndarray,
                vad: SharedSileroModel, asr: object) -> bool:
    """Play ``noise`` while the model speaks; True if the session was interrupted."""
    session = Session(session_id="b", catalog=ModelCatalog(), capabilities=ServerCapabilities(
        audio_output=True, audio_input=True))
    now = 0.0

    def feed(event: object) -> list:
        return session.handle(event, now)  # type: ignore[arg-type]

    def client(frame: dict) -> list:
        import orjson
        return feed(ClientMessageReceived(decode_client_message(orjson.dumps(frame))))

    client({"setup": {"model": "models/gemini-live-2.5-flash-preview",
                      "generationConfig": {"responseModalities": ["AUDIO"]},
                      "realtimeInputConfig": {"automaticActivityDetection": {
                          "silenceDurationMs": 500}}}})
    starts = client({"realtimeInput": {"text": "tell me about France"}})
    gid = starts[0].generation_id
    pieces = [a for a in feed(GenerationDelta(gid, ANSWER)) if isinstance(a, Synthesize)]
    # the model has finished writing while its audio plays (as it usually has): the
    # session knows every word it is saying, which the echo check compares with
    pieces += [a for a in feed(GenerationFinished(gid, 20, 30)) if isinstance(a, Synthesize)]
    scored: list[tuple[float, float, float]] = []

    def on_scored(at: float, probability: float, echo: float) -> None:
        scored.append((at, probability, echo))

    def on_failure(error: Exception) -> None:
        raise error

    # inline: each push has reported its frames' scores before it returns
    audio_in = AudioInput(InlineVad(vad), on_scored, on_failure)
    answer = answer24k.astype("<i2").tobytes()
    chunk_out = 4800  # 100 ms of answer per step
    step = int(0.1 * RATE)
    mic = np.concatenate([np.zeros(int(0.5 * RATE)), noise, np.zeros(int(1.5 * RATE))])
    mic = np.clip(mic, -32768, 32767).astype("<i2").tobytes()
    interrupted = False
    pending: list[Transcribe] = []
    for i in range(0, len(mic), step * 2):
        now += 0.1
        piece = pieces[0].piece_id if pieces else 0
        out_chunk = answer[(i // (step * 2)) * chunk_out:(i // (step * 2) + 1) * chunk_out]
        actions = feed(SpeechSynthesized(gid, piece, out_chunk)) if out_chunk else []
        for a in actions:  # what the session released goes to the echo reference
            wire = to_wire(a.message) if hasattr(a, "message") else {}
            for part in wire.get("serverContent", {}).get("modelTurn", {}).get("parts", []):
                if "inlineData" in part:
                    audio_in.echo.sent(out_chunk, now)
        audio_in.push(mic[i:i + step * 2], RATE, now)
        batch, scored[:] = list(scored), []
        for at, p, echo in batch:
            for a in feed(SpeechScored(at, p, echo)):
                if isinstance(a, Transcribe):
                    pending.append(a)
                wire = to_wire(a.message) if hasattr(a, "message") else {}
                interrupted |= bool(wire.get("serverContent", {}).get("interrupted"))
        for t in pending:
            text = (await asr.transcribe(audio_in.cut(t.start, t.end))).text  # type: ignore[attr-defined]
            for a in feed(TranscriptReady(t.turn_id, text, end=t.end)):
                wire = to_wire(a.message) if hasattr(a, "message") else {}
                interrupted |= bool(wire.get("serverContent", {}).get("interrupted"))
        pending.clear()
    return interrupted


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        raise SystemExit("needs espeak-ng and sox")
    vad = SharedSileroModel()
    asr = create_speech_recognizer("whisper", preload=False)
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        answer24k = speak(ANSWER, "en", 24000, Path(tmp))
        for seed in range(args.trials):
            for name, noise in disturbances(Path(tmp), answer24k, seed).items():
                counts[name] = counts.get(name, 0) + await trial(name, noise, answer24k, vad, asr)
    await asr.aclose()
    print(f"\nBarge-in decisions over {args.trials} trials each (model speaking)\n")
    print("| disturbance | interrupted | expected |")
    print("|---|---|---|")
    false = total = 0
    for name, n in counts.items():
        real = name.startswith("REAL")
        print(f"| {name} | {n}/{args.trials} | {'yes' if real else 'no'} |")
        if not real:
            false += n
            total += args.trials
    print(f"\nfalse barge-ins: {false}/{total} ({100 * false / max(total, 1):.0f} %)")


if __name__ == "__main__":
    asyncio.run(main())
