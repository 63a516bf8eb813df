"""False barge-ins: how often noise, backchannels and the model's own echo interrupt it.

Each trial plays one disturbance into a voice session while the model is speaking, on
the real engines of the input path (Silero VAD, the echo guard, Whisper for the
transcript the session judges) and the real session machine; a trial counts as a
false barge-in when the session sends ``interrupted``. Real user interruptions are run
too, as the baseline that must interrupt: alone, and spoken over the echo.

The client is simulated: it plays what the session *released* (paced, up to half a
second ahead, held while a barge-in is judged, flushed on ``interrupted``), and on a
speakerphone that playback comes back in the microphone ``delay`` seconds after the
server sent it (client buffer, network, room), quieter, and for ``room`` echoes through
a small loudspeaker (band-limited, mildly clipped) and a reverberant room. The server's
synthesizer delivers audio twice as fast as real time, so the lead builds up as it does
in production. Prints a markdown table, then the cost of the echo path.

    .venv/bin/python bench/false_barge_in.py [--trials 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lib.speech import espeak, require_tools

from openlive.audio.resample import StreamResampler
from openlive.catalog import ModelCatalog
from openlive.engines.asr.factory import create_speech_recognizer
from openlive.engines.vad.silero import SharedSileroModel
from openlive.protocol.codec import decode_client_message, to_wire
from openlive.runtime.audio_input import AudioInput
from openlive.runtime.echo import EchoGuard
from openlive.runtime.vad_batcher import InlineVad
from openlive.session.actions import Synthesize, Transcribe
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    ClientMessageReceived,
    GenerationDelta,
    GenerationFinished,
    SpeechScored,
    SpeechSynthesized,
    Tick,
    TranscriptReady,
)
from openlive.session.machine import Session

ANSWER = ("The capital of France is Paris. It lies on the river Seine, in the north of the "
          "country. About two million people live in the city itself.")
RATE = 16000
STEP = 0.1  # the client sends 100 ms of microphone audio at a time
SYNTH_SPEED = 2.0  # the synthesizer's speed, in seconds of audio per second


@dataclass(frozen=True)
class Echo:
    """The model's voice coming back in the microphone."""

    delay: float  # seconds from the server sending a sample to its echo arriving
    gain: float
    room: bool = False  # a small loudspeaker in a reverberant room, not a pure delay


@dataclass(frozen=True)
class Disturbance:
    sound: np.ndarray | None  # what the user does, 16 kHz
    at: float = 0.5  # when, seconds after the reply started
    echo: Echo | None = None
    real: bool = False  # a real interruption: it must interrupt


def speak(text: str, voice: str, rate: int, tmp: Path) -> np.ndarray:
    """``text`` at espeak-ng's default speed, ``rate`` Hz, as float samples."""
    pcm = espeak(text, voice, None, tmp, rate=rate)
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32)


def disturbances(tmp: Path, seed: int) -> dict[str, Disturbance]:
    rng = np.random.default_rng(seed)
    out: dict[str, Disturbance] = {}
    out["white noise burst 150 ms"] = Disturbance(rng.normal(0, 3000, int(0.15 * RATE)))
    clicks = np.zeros(int(0.6 * RATE))
    for at in rng.integers(0, clicks.size - 200, 6):
        clicks[at:at + 80] = rng.normal(0, 12000, 80)
    out["clicks"] = Disturbance(clicks)
    cough = rng.normal(0, 6000, int(0.25 * RATE)) * np.exp(-np.linspace(0, 6, int(0.25 * RATE)))
    out["cough-like burst 250 ms"] = Disturbance(cough)
    for word in ("mm-hm", "yeah", "okay", "uh-huh"):
        out[f"backchannel '{word}'"] = Disturbance(speak(word, "en-us+m3", RATE, tmp))
    echoes = {
        "own voice echo 150 ms x0.3": Echo(0.15, 0.3),
        "own voice echo 500 ms x0.5": Echo(0.5, 0.5),
        "own voice echo 1000 ms x0.5": Echo(1.0, 0.5),
        "own voice echo 1400 ms x0.7": Echo(1.4, 0.7),
        "own voice echo 300 ms x0.5, room": Echo(0.3, 0.5, room=True),
        "own voice echo 800 ms x1.0, room": Echo(0.8, 1.0, room=True),
    }
    for name, echo in echoes.items():
        out[name] = Disturbance(None, echo=echo)
    mm = speak("mm-hm", "en-us+m3", RATE, tmp)
    out["backchannel 'mm-hm' over echo 500 ms x0.5"] = Disturbance(mm, 2.0, Echo(0.5, 0.5))
    stop = speak("Stop, stop. Tell me about Berlin instead, please.", "en-us+m3", RATE, tmp)
    question = speak("What is the weather like in Rome tomorrow?", "en-us+f3", RATE, tmp)
    out["REAL: 'stop, tell me about Berlin instead'"] = Disturbance(stop, real=True)
    out["REAL: new question"] = Disturbance(question, real=True)
    out["REAL: 'stop...' over echo 500 ms x0.5"] = Disturbance(stop, 2.0, Echo(0.5, 0.5),
                                                              real=True)
    out["REAL: new question over echo 150 ms x0.3"] = Disturbance(question, 0.5, Echo(0.15, 0.3),
                                                                 real=True)
    out["REAL: new question over echo 800 ms x1.0, room"] = Disturbance(
        question, 2.5, Echo(0.8, 1.0, room=True), real=True)
    return out


def room_path(seed: int) -> np.ndarray:
    """A speakerphone's path at 16 kHz: a 200-4000 Hz loudspeaker in a room (RT60 0.3 s,
    direct sound about 10 dB above the reverberation)."""
    rng = np.random.default_rng(1000 + seed)
    n = np.arange(129) - 64
    band = (2 * 4000 / RATE * np.sinc(2 * 4000 / RATE * n)
            - 2 * 200 / RATE * np.sinc(2 * 200 / RATE * n)) * np.hamming(129)
    length = int(0.3 * RATE)
    t = np.arange(length) / RATE
    room = rng.normal(0, 1, length) * np.exp(-6.9 * t / 0.3) * 0.013
    room[0] = 1.0
    room[int(0.004 * RATE)] += 0.4  # a first reflection (the desk)
    return np.convolve(band, room)


class Client:
    """What the client plays (released audio, in order) and what its microphone hears."""

    def __init__(self, echo: Echo | None, seed: int, length: int) -> None:
        self.echo = echo
        self.played = np.zeros(length + 10 * RATE)  # 16 kHz, on the microphone's clock
        self.end = 0  # where the queue of audio to play ends (with the echo's delay)
        self.path = room_path(seed) if echo is not None and echo.room else np.ones(1)
        self._resampler = StreamResampler(RATE, in_rate=24000)

    def receive(self, pcm24k: bytes, now: float) -> None:
        audio = self._resampler.process(pcm24k)
        samples = np.frombuffer(audio, dtype="<i2").astype(np.float64)
        if self.echo is None:
            return
        start = max(int((now + self.echo.delay) * RATE), self.end)
        self.played[start:start + samples.size] = samples
        self.end = start + samples.size

    def interrupted(self, now: float) -> None:
        if self.echo is not None:  # the client drops what it had not played yet
            cut = int((now + self.echo.delay) * RATE)
            self.played[cut:] = 0.0
            self.end = cut

    def heard(self, start: int, stop: int) -> np.ndarray:
        """The echo in the microphone, samples ``start`` .. ``stop``."""
        if self.echo is None:
            return np.zeros(stop - start)
        lo = max(0, start - self.path.size + 1)
        source = self.played[lo:stop]
        if self.echo.room:
            peak = 20000.0  # the loudspeaker starts to clip
            source = np.tanh(source / peak) * peak
        out = np.convolve(source, self.path)[start - lo:stop - lo]
        return np.asarray(out * self.echo.gain)


def _wire(action: object) -> dict[str, Any]:
    return to_wire(action.message) if hasattr(action, "message") else {}


def start_reply(session: Session) -> tuple[int, int]:
    """Set the session up and have the model write its whole answer: (the generation's
    id, the id of its first piece to synthesize)."""

    def feed(event: object) -> list[Any]:
        return session.handle(event, 0.0)  # type: ignore[arg-type]

    def client(frame: dict[str, Any]) -> list[Any]:
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
    return gid, pieces[0].piece_id if pieces else 0


def user_audio(disturbance: Disturbance, answer24k: np.ndarray) -> np.ndarray:
    """What the user does, 16 kHz, long enough for the reply's echo and the disturbance
    to be over for 1.5 s."""
    sound = disturbance.sound
    reply_seconds = answer24k.size / 24000
    if disturbance.echo is not None:
        length = reply_seconds + disturbance.echo.delay + 1.5
    else:
        length = 0.0
    if sound is not None:
        length = max(length, disturbance.at + sound.size / RATE + 1.5)
    total = int(length * RATE)
    user = np.zeros(total)
    if sound is not None:
        at = int(disturbance.at * RATE)
        user[at:at + sound.size] = sound[:max(0, total - at)]
    return user


async def trial(disturbance: Disturbance, answer24k: np.ndarray, vad: SharedSileroModel,
                asr: object, seed: int) -> tuple[float | None, bool]:
    """Play the disturbance while the model speaks: (when it was interrupted, seconds
    after the disturbance began, or None; paused at some point?)."""
    session = Session(session_id="b", catalog=ModelCatalog(), capabilities=ServerCapabilities(
        audio_output=True, audio_input=True))
    gid, piece = start_reply(session)
    now = 0.0

    def feed(event: object) -> list[Any]:
        return session.handle(event, now)  # type: ignore[arg-type]

    scored: list[tuple[float, float, float]] = []

    def on_scored(at: float, probability: float, echo: float) -> None:
        scored.append((at, probability, echo))

    def on_failure(error: Exception) -> None:
        raise error

    user = user_audio(disturbance, answer24k)
    total = user.size
    rng = np.random.default_rng(seed)
    phone = Client(disturbance.echo, seed, total)

    # inline: each push has reported its frames' scores before it returns
    audio_in = AudioInput(InlineVad(vad), on_scored, on_failure)
    answer = answer24k.astype("<i2").tobytes()
    synth_chunk = int(24000 * STEP * SYNTH_SPEED) * 2
    step = int(STEP * RATE)
    interrupted = paused = False
    interrupted_at: float | None = None
    pending: list[Transcribe] = []

    def run(actions: list[Any]) -> None:
        nonlocal interrupted, interrupted_at
        for a in actions:
            if isinstance(a, Transcribe):
                pending.append(a)
            content = _wire(a).get("serverContent", {})
            for part in content.get("modelTurn", {}).get("parts", []):
                if "inlineData" in part:  # released: it leaves, and the client plays it
                    pcm = base64.b64decode(part["inlineData"]["data"])
                    audio_in.echo.sent(pcm, now)
                    phone.receive(pcm, now)
            if content.get("interrupted") and not interrupted:
                interrupted, interrupted_at = True, now - disturbance.at
                phone.interrupted(now)
                if hasattr(audio_in.echo, "flushed"):  # as the driver does
                    audio_in.echo.flushed(now)

    sent_bytes = 0
    for i in range(0, total - step + 1, step):
        if sent_bytes < len(answer):  # the synthesizer delivers, faster than real time
            chunk = answer[sent_bytes:sent_bytes + synth_chunk]
            sent_bytes += len(chunk)
            run(feed(SpeechSynthesized(gid, piece, chunk)))
        run(feed(Tick()))
        mic = user[i:i + step] + phone.heard(i, i + step) + rng.normal(0, 40, step)
        now += STEP
        audio_in.push(np.clip(mic, -32768, 32767).astype("<i2").tobytes(), RATE, now)
        batch, scored[:] = list(scored), []
        for end, p, echo in batch:
            run(feed(SpeechScored(end, p, echo)))
        for t in pending:
            text = (await asr.transcribe(audio_in.cut(t.start, t.end))).text  # type: ignore[attr-defined]
            run(feed(TranscriptReady(t.turn_id, text, end=t.end)))
        pending.clear()
        reply = getattr(session, "_reply", None)  # the reply's audio held: a hiccup at most
        paused |= reply is not None and reply.paused_at is not None
    return interrupted_at, paused


def echo_cost(answer24k: np.ndarray) -> dict[str, float]:
    """Microseconds per 32 ms frame that the echo path costs: with nothing sent lately,
    while a reply plays with no echo coming back (the delay search), and with an echo
    being cancelled."""
    answer = answer24k.astype("<i2").tobytes()
    rng = np.random.default_rng(7)
    speech = np.frombuffer(
        StreamResampler(RATE, in_rate=24000).process(answer), dtype="<i2").astype(np.float64)
    costs: dict[str, float] = {}
    for kind in ("idle", "reply, no echo (user talking)", "reply, echo cancelled"):
        guard = EchoGuard()
        now, spent, frames = 0.0, 0.0, 0.0
        for i in range(0, speech.size - 1600, 1600):
            now += 0.1
            if kind != "idle":
                guard.sent(answer[i * 3:(i + 1600) * 3], now)
            if kind.endswith("cancelled"):
                mic = np.concatenate([np.zeros(4800), speech])[i:i + 1600] * 0.5
            elif kind == "idle":
                mic = np.zeros(1600)
            else:
                mic = speech[::-1][i:i + 1600]  # someone else's voice
            pcm = np.clip(mic + rng.normal(0, 40, 1600), -32768, 32767).astype("<i2").tobytes()
            start = time.perf_counter()
            guard.heard(pcm, now)
            for f in range(1, 4):
                guard.score((i // 512 + f) * 512)
            spent += time.perf_counter() - start
            frames += 1600 / 512
        costs[kind] = spent / frames * 1e6
    return costs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--only", default="", help="run the disturbances whose name has this")
    args = parser.parse_args()
    require_tools()
    vad = SharedSileroModel()
    asr = create_speech_recognizer("whisper", preload=False)
    counts: dict[str, list[int]] = {}
    delays: dict[str, list[float]] = {}
    real: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        answer24k = speak(ANSWER, "en", 24000, Path(tmp))
        for seed in range(args.trials):
            for name, disturbance in disturbances(Path(tmp), seed).items():
                if args.only not in name:
                    continue
                hit, paused = await trial(disturbance, answer24k, vad, asr, seed)
                count = counts.setdefault(name, [0, 0])
                count[0] += hit is not None
                count[1] += paused
                if hit is not None:
                    delays.setdefault(name, []).append(hit)
                real[name] = disturbance.real
    await asr.aclose()
    print(f"\nBarge-in decisions over {args.trials} trials each (model speaking)\n")
    print("| disturbance | interrupted | paused the reply | expected | interrupted after |")
    print("|---|---|---|---|---|")
    false = total = missed = reals = 0
    for name, (n, pauses) in counts.items():
        after = f"{np.mean(delays[name]):.2f} s" if name in delays else ""
        print(f"| {name} | {n}/{args.trials} | {pauses}/{args.trials} | "
              f"{'yes' if real[name] else 'no'} | {after} |")
        if real[name]:
            missed += args.trials - n
            reals += args.trials
        else:
            false += n
            total += args.trials
    print(f"\nfalse barge-ins: {false}/{total} ({100 * false / max(total, 1):.0f} %); "
          f"real interruptions missed: {missed}/{reals}")
    if not hasattr(EchoGuard, "score"):
        return  # an older guard, scored in the VAD's callback
    print("\nEcho path cost, µs per 32 ms frame:")
    for kind, us in echo_cost(answer24k).items():
        print(f"- {kind}: {us:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
