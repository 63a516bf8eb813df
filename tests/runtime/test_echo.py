"""The echo guard on real speech: the server's own voice played back is found and
cancelled (the VAD hears what is left, and its frames score as echo); the user's voice,
alone or over the echo, comes through; nothing runs while nothing is being said."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from openlive.audio.resample import StreamResampler
from openlive.engines.vad.silero import SharedSileroModel
from openlive.runtime import echo as echo_module
from openlive.runtime.audio_input import AudioInput
from openlive.runtime.echo import EchoGuard
from openlive.runtime.vad_batcher import InlineVad
from openlive.session.bargein import ECHO_REPLAYED, ECHO_THRESHOLD

RATE = 16_000
FRAME = 512  # samples of one 32 ms VAD frame
START = 10.0  # wall time the reply starts playing


def speech(tmp_path: Path, text: str, rate: int, voice: str = "en") -> np.ndarray:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are needed (scripts/test.sh installs them)")
    wav = tmp_path / f"{abs(hash((text, voice)))}.wav"
    raw = wav.with_suffix(f".{rate}.raw")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed",
                    str(raw)], check=True)
    return np.fromfile(raw, dtype="<i2").astype(np.float32)


def to16k(pcm24k: np.ndarray) -> np.ndarray:
    resampler = StreamResampler(16000, in_rate=24000)
    data = pcm24k.astype("<i2").tobytes()
    out = resampler.process(data) + resampler.flush()
    return np.frombuffer(out, dtype="<i2").astype(np.float32)


def played_back(answer24k: np.ndarray, delay: float, gain: float, seed: int = 0) -> np.ndarray:
    """What a speakerphone microphone hears: delayed, quieter, a little noise."""
    echo = to16k(answer24k) * gain
    rng = np.random.default_rng(seed)
    out = np.concatenate([np.zeros(int(delay * 16000), dtype=np.float32), echo])
    return out + rng.normal(0, 30, out.size).astype(np.float32)


@pytest.fixture
def answer(tmp_path: Path) -> np.ndarray:
    return speech(tmp_path, "The capital of France is Paris, a city on the river Seine.", 24000)


@pytest.fixture
def user(tmp_path: Path) -> np.ndarray:
    return speech(tmp_path, "No wait, I asked about Germany instead.", 16000, "en-us+m3")


def send(guard: EchoGuard, answer24k: np.ndarray, start: float = START) -> None:
    """The server sends the answer in 100 ms chunks, as it plays."""
    pcm = answer24k.astype("<i2").tobytes()
    for i in range(0, len(pcm), 4800):
        guard.sent(pcm[i:i + 4800], start + i // 4800 * 0.1)


class Mic:
    """A session's microphone into ``guard``: what it gives back, and the frames' scores
    (asked for as the session's input asks, each frame once it is complete)."""

    def __init__(self, guard: EchoGuard) -> None:
        self.guard = guard
        self.given = 0  # samples given back so far

    def hear(self, heard16k: np.ndarray, start: float = START,
             chunk: int = 320) -> tuple[np.ndarray, np.ndarray]:
        """Feed ``chunk``-sample pieces arriving as they were spoken: the audio given
        back, and the echo score of each whole frame of it."""
        pcm = np.clip(heard16k, -32768, 32767).astype("<i2").tobytes()
        out = bytearray()
        scores: list[float] = []
        first = self.given
        for i in range(0, len(pcm), chunk * 2):
            out += self.guard.heard(pcm[i:i + chunk * 2], start + (i // 2 + chunk) / RATE)
            while first + (len(scores) + 1) * FRAME <= first + len(out) // 2:
                scores.append(self.guard.score(first + (len(scores) + 1) * FRAME, FRAME))
        self.given += len(out) // 2
        return np.frombuffer(bytes(out), dtype="<i2").astype(np.float32), np.array(scores)


def hear(guard: EchoGuard, heard16k: np.ndarray, start: float = START,
         chunk: int = 320) -> tuple[np.ndarray, np.ndarray]:
    return Mic(guard).hear(heard16k, start, chunk)


def level(x: np.ndarray) -> float:
    return 20 * float(np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1.0))


@pytest.mark.parametrize("delay", [0.1, 0.5, 1.0, 1.5])
def test_own_voice_played_back_is_found_and_cancelled(answer: np.ndarray,
                                                      delay: float) -> None:
    guard = EchoGuard()
    send(guard, answer)
    heard = played_back(answer, delay, 0.3)
    given, scores = hear(guard, heard)
    assert guard.delay is not None and abs(guard.delay - delay * RATE) <= 32
    onset = int((delay + 0.2) * RATE)  # a few frames to find it
    end = int(delay * RATE) + to16k(answer).size
    assert level(given[onset:end]) <= level(heard[onset:end]) - 20
    loud = [s for f, s in enumerate(scores)
            if onset <= f * FRAME and (f + 1) * FRAME <= end and level(
                heard[f * FRAME:(f + 1) * FRAME]) > 60]
    assert np.median(loud) >= ECHO_THRESHOLD, np.round(loud, 2)


def test_another_voice_passes_untouched(answer: np.ndarray, user: np.ndarray) -> None:
    guard = EchoGuard()
    send(guard, answer)
    heard = np.concatenate([np.zeros(RATE // 4, dtype=np.float32), user])
    given, scores = hear(guard, heard)
    assert guard.delay is None  # no echo found: no canceller (it would eat the voice)
    assert np.array_equal(given, np.clip(heard, -32768, 32767).astype("<i2"))
    assert max(scores) < ECHO_THRESHOLD, np.round(scores, 2)


def test_the_user_talking_over_the_echo_comes_through(answer: np.ndarray,
                                                      user: np.ndarray) -> None:
    guard = EchoGuard()
    send(guard, answer)
    echo = played_back(answer, 0.3, 0.3)
    at = int(1.5 * RATE)  # the echo has been playing (and cancelled) for a second
    mixed = echo.copy()
    mixed[at:at + user.size] += user[:max(0, mixed.size - at)]
    given, scores = hear(guard, mixed)
    assert guard.delay is not None
    span = slice(at, min(mixed.size, at + user.size))
    # the canceller keeps most of the voice (AEC3 attenuates some of it while both talk)
    assert level(given[span]) >= level(user[:span.stop - span.start]) - 6
    frames = [s for f, s in enumerate(scores)
              if span.start <= f * FRAME < span.stop and level(
                  user[f * FRAME - at:(f + 1) * FRAME - at]) > 60]
    assert np.mean(np.array(frames) < ECHO_THRESHOLD) >= 0.7, np.round(frames, 2)


def arriving(guard: EchoGuard, heard16k: np.ndarray, times: list[float],
             chunk: int = 320) -> None:
    """Feed ``chunk``-sample pieces, the i-th read by the server at ``times[i]``."""
    pcm = np.clip(heard16k, -32768, 32767).astype("<i2").tobytes()
    for i, at in zip(range(0, len(pcm), chunk * 2), times, strict=False):
        guard.heard(pcm[i:i + chunk * 2], at)


@pytest.mark.parametrize(("delay", "stall", "early"), [
    (0.7, 0.0, 0.0), (0.7, 0.5, 0.0), (0.2, 0.0, 0.4)])
def test_echoed_first_words_are_judged_whole_before_the_delay_is_found(
        answer: np.ndarray, delay: float, stall: float, early: float) -> None:
    """The speakerphone case the frame scores miss: an echo's first word (0.35 s of it,
    at 0.8 of the answer's level), heard before its delay is found; the server reading the
    input on time, or half a second late (a loaded machine), or the input arriving 0.4 s
    ahead of the time it takes to say (a client that sent a burst: the echo seems to come
    before its audio was played). Judged whole, it is the answer coming back."""
    guard = EchoGuard()
    send(guard, answer)
    heard = played_back(answer, delay, 0.8)[:int((delay + 0.35) * RATE)]
    times = [START - early + (i + 1) * 0.02 for i in range(heard.size // 320)]
    if stall:  # from 0.8 s on the server reads the input late, then catches up
        late = int(0.8 / 0.02)
        times[late:] = [max(t, START + 0.8 + stall) for t in times[late:]]
    arriving(guard, heard, times)
    share = guard.replayed(int(delay * RATE), heard.size)
    assert share >= ECHO_REPLAYED, share


def test_echo_across_a_paused_reply_is_judged_the_answer_coming_back(
        answer: np.ndarray) -> None:
    """The reply paused 0.4 s while speech over it was judged, and the server lays what
    it sends next where it then plays; the client's loudspeaker had played on from its
    buffer, so the echo runs on unbroken. Each part fits at its own delay."""
    guard = EchoGuard()
    cut = 24000  # the first second was sent before the pause
    send(guard, answer[:cut])
    send(guard, answer[cut:], START + 1.4)
    heard = played_back(answer, 0.7, 0.8)[:int(2.7 * RATE)]
    hear(guard, heard)
    share = guard.replayed(int(1.2 * RATE), heard.size)  # a second either side of it
    assert share >= ECHO_REPLAYED, share


def test_the_users_own_words_are_not_judged_the_answer_coming_back(
        answer: np.ndarray, user: np.ndarray) -> None:
    """Alone while the reply plays, or over its echo as loud as they are."""
    guard = EchoGuard()
    send(guard, answer)
    alone = np.concatenate([np.zeros(RATE // 4, dtype=np.float32), user])
    hear(guard, alone)
    assert guard.replayed(RATE // 4, alone.size) < 0.5
    guard = EchoGuard()
    send(guard, answer)
    echo = played_back(answer, 0.3, 0.6)
    mixed = echo.copy()
    mixed[RATE // 2:RATE // 2 + user.size] += user[:max(0, mixed.size - RATE // 2)]
    hear(guard, mixed)
    share = guard.replayed(RATE // 2, min(mixed.size, RATE // 2 + user.size))
    assert share < ECHO_REPLAYED, share


def test_nothing_runs_while_nothing_is_said() -> None:
    guard = EchoGuard()
    chunk = np.random.default_rng(0).normal(0, 3000, 320).astype("<i2").tobytes()
    assert guard.heard(chunk, 1.0) is chunk
    assert guard.score(320, FRAME) == 0.0
    guard.sent(b"\0" * 4800, 2.0)  # 100 ms sent at 2.0: echo is possible from then on
    assert guard.heard(chunk, 10.0) is chunk  # long after its echo could come back
    assert guard.replayed(0, 640) == 0.0


def test_a_later_reply_is_cancelled_from_its_first_word(answer: np.ndarray) -> None:
    guard = EchoGuard()
    mic = Mic(guard)
    send(guard, answer)
    first_reply = played_back(answer, 0.4, 0.3)
    mic.hear(first_reply)
    assert guard.delay is not None
    later = START + 20.0  # the next reply: the delay is known, the canceller starts at once
    pause = later - START - first_reply.size / RATE
    mic.hear(np.zeros(int(pause * RATE), dtype=np.float32), START + first_reply.size / RATE)
    send(guard, answer, later)
    heard = played_back(answer, 0.4, 0.3, seed=1)
    given, scores = mic.hear(heard, later)
    onset = int(0.4 * RATE)
    loud = [f for f in range(len(scores)) if level(heard[f * FRAME:(f + 1) * FRAME]) > 60]
    assert loud[0] * FRAME < onset + 0.1 * RATE
    first = [scores[f] for f in loud[:10]]
    assert min(first) >= ECHO_THRESHOLD, np.round(first, 2)
    end = onset + to16k(answer).size
    assert level(given[onset:end]) <= level(heard[onset:end]) - 20


def test_when_the_echo_stops_coming_back_the_canceller_stops(
        answer: np.ndarray, user: np.ndarray) -> None:
    guard = EchoGuard()
    mic = Mic(guard)
    send(guard, answer)
    first_reply = played_back(answer, 0.4, 0.3)
    mic.hear(first_reply)
    assert guard.delay is not None
    later = START + 20.0  # headphones now: the user talks over the reply, no echo comes
    pause = later - START - first_reply.size / RATE
    mic.hear(np.zeros(int(pause * RATE), dtype=np.float32), START + first_reply.size / RATE)
    send(guard, np.concatenate([answer] * 3), later)
    heard = np.concatenate([user] * 3)
    given, _ = mic.hear(heard, later)
    assert guard.delay is None
    tail = slice(heard.size - user.size, heard.size)  # the last time round: untouched
    assert np.array_equal(given[tail], np.clip(heard[tail], -32768, 32767).astype("<i2"))


@pytest.mark.parametrize("chunk", [160, 333, 1600])
def test_every_sample_comes_back_in_order(answer: np.ndarray, chunk: int) -> None:
    guard = EchoGuard()
    send(guard, answer)
    heard = np.concatenate([played_back(answer, 0.2, 0.3), np.zeros(3 * RATE)])
    given, _ = hear(guard, heard, chunk=chunk)
    assert given.size == heard.size  # nothing lost, nothing held once the reply is over
    tail = heard[-RATE:]  # quiet again, long after the echo: passed through as it came
    assert np.array_equal(given[-RATE:], np.clip(tail, -32768, 32767).astype("<i2"))


@pytest.fixture(scope="module")
def vad_model() -> SharedSileroModel:
    return SharedSileroModel()


def test_the_vad_and_the_recognizer_hear_the_echo_removed(
        vad_model: SharedSileroModel, answer: np.ndarray) -> None:
    scored: list[tuple[float, float, float]] = []
    failures: list[Exception] = []
    audio = AudioInput(InlineVad(vad_model), lambda *s: scored.append(s), failures.append)
    send(audio.echo, answer)
    heard = played_back(answer, 0.5, 0.5)
    pcm = np.clip(heard, -32768, 32767).astype("<i2").tobytes()
    for i in range(0, len(pcm), 640):
        audio.push(pcm[i:i + 640], RATE, START + (i // 2 + 320) / RATE)
    audio.close()
    assert not failures
    after = [(p, e) for at, p, e in scored if at > 0.5 + 0.15]  # once found
    heard_as_speech = [p for p, e in after if p >= 0.5 and e < ECHO_THRESHOLD]
    assert len(heard_as_speech) <= 2, after  # the session sees (almost) no speech
    kept = np.frombuffer(audio.cut(0.7, 0.5 + to16k(answer).size / RATE), dtype="<i2")
    assert level(kept.astype(np.float32)) <= level(heard[int(0.7 * RATE):]) - 20


def test_audio_the_client_dropped_is_not_cancelled_from_the_interruption(
        answer: np.ndarray, user: np.ndarray) -> None:
    delay, gain, cut = 0.3, 0.5, 2.0  # the session says ``interrupted`` 2 s into the reply

    def run(flush: bool) -> np.ndarray:
        guard = EchoGuard()
        pcm = answer.astype("<i2").tobytes()
        for i in range(0, len(pcm), 4800):  # sent 0.5 s ahead, as the session paces it
            if i // 4800 * 0.1 - 0.5 < cut:
                guard.sent(pcm[i:i + 4800], START + max(0.0, i // 4800 * 0.1 - 0.5))
        if flush:
            guard.flushed(START + cut)  # the client drops the last half second unplayed
        echo = to16k(answer)[:int(cut * RATE)] * gain
        heard = np.zeros(int((cut + delay) * RATE) + user.size + RATE, dtype=np.float32)
        heard[int(delay * RATE):int(delay * RATE) + echo.size] = echo
        heard[int((cut + delay) * RATE):][:user.size] += user
        given, _ = hear(guard, heard)
        assert guard.delay is not None
        return given[int((cut + delay) * RATE):][:int(0.5 * RATE)]

    spoken = level(user[:int(0.5 * RATE)])
    assert level(run(flush=True)) >= spoken - 3  # the user's first half second, whole


def test_without_the_canceller_echo_is_still_scored(
        answer: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(echo_module, "_AEC3", None)  # pywebrtc-audio not installed
    guard = EchoGuard()
    send(guard, answer)
    heard = played_back(answer, 0.5, 0.3)
    given, scores = hear(guard, heard)
    assert np.array_equal(given, np.clip(heard, -32768, 32767).astype("<i2"))
    onset, end = int(0.7 * RATE), int(0.5 * RATE) + to16k(answer).size
    loud = [s for f, s in enumerate(scores)
            if onset <= f * FRAME and (f + 1) * FRAME <= end and level(
                heard[f * FRAME:(f + 1) * FRAME]) > 60]
    assert np.median(loud) >= ECHO_THRESHOLD, np.round(loud, 2)
