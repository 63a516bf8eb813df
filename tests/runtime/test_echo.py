"""The echo guard on real speech: the server's own voice played back is recognised as
echo; the user's voice, alone or over the echo, is not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from openlive.audio.resample import StreamResampler
from openlive.runtime.echo import EchoGuard
from openlive.session.bargein import ECHO_THRESHOLD

FRAME = 512 * 2  # bytes of one 32 ms frame at 16 kHz


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


def scores(guard: EchoGuard, heard16k: np.ndarray, start: float) -> list[float]:
    pcm = np.clip(heard16k, -32768, 32767).astype("<i2").tobytes()
    return [guard.heard(pcm[i:i + FRAME], start + (i // FRAME + 1) * 0.032)
            for i in range(0, len(pcm) - FRAME + 1, FRAME)]


@pytest.fixture
def answer(tmp_path: Path) -> np.ndarray:
    return speech(tmp_path, "The capital of France is Paris, a city on the river Seine.", 24000)


def played_back(answer24k: np.ndarray, delay: float, gain: float, seed: int = 0) -> np.ndarray:
    """What a speakerphone microphone hears: delayed, quieter, a little noise."""
    echo = to16k(answer24k) * gain
    rng = np.random.default_rng(seed)
    out = np.concatenate([np.zeros(int(delay * 16000), dtype=np.float32), echo])
    return out + rng.normal(0, 30, out.size).astype(np.float32)


def guard_that_sent(answer24k: np.ndarray) -> EchoGuard:
    guard = EchoGuard()
    pcm = answer24k.astype("<i2").tobytes()
    chunk = 4800  # 100 ms
    for i in range(0, len(pcm), chunk):
        guard.sent(pcm[i:i + chunk], 10.0 + (i // chunk) * 0.1)
    return guard


@pytest.mark.parametrize("delay", [0.1, 0.4, 0.9])
def test_own_voice_played_back_is_echo(answer: np.ndarray, delay: float) -> None:
    guard = guard_that_sent(answer)
    got = scores(guard, played_back(answer, delay, 0.3), 10.0)
    loud = got[40:-20]  # once a full window of the echo has been heard
    assert np.median(loud) >= ECHO_THRESHOLD, np.round(loud, 2)


def test_user_voice_is_not_echo(answer: np.ndarray, tmp_path: Path) -> None:
    guard = guard_that_sent(answer)
    user = speech(tmp_path, "No wait, I asked about Germany instead.", 16000, "en-us+m3")
    got = scores(guard, user, 10.0)
    assert max(got) < ECHO_THRESHOLD, np.round(got, 2)


def test_user_talking_over_the_echo_breaks_through(answer: np.ndarray, tmp_path: Path) -> None:
    guard = guard_that_sent(answer)
    echo = played_back(answer, 0.3, 0.15)
    user = speech(tmp_path, "Stop, stop, tell me about Berlin instead please.", 16000,
                  "en-us+m3")
    mixed = echo[: user.size] + user if echo.size >= user.size else echo + user[: echo.size]
    got = scores(guard, mixed, 10.0)
    # most of the user's speech gets through (a few frames may still look like echo)
    assert np.mean(np.array(got[32:]) < ECHO_THRESHOLD) >= 0.7, np.round(got, 2)
