"""Spoken test utterances: espeak-ng through sox, 16-bit mono raw PCM.

The questions and the pizza order with a pause in it are the voice benchmarks' test set;
each is spoken by a different espeak voice and speed, and trimmed to its speech so that
the last sample sent is the last speech sample.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000
SPEECH_THRESHOLD_DB = 35.0  # a 10 ms frame within this many dB of the loudest is speech
NOISE_RMS = 10.0  # the "silence" a live microphone sends: white noise, about -70 dBFS

# (text, espeak-ng voice, words per minute)
QUESTIONS = [
    ("What is the capital of France?", "en-us", 165),
    ("How many days are there in a week?", "en-gb", 150),
    ("What color is the sky on a clear day?", "en-us+f3", 175),
    ("Can you name a fruit that is yellow?", "en-gb-scotland", 160),
    ("What is two plus three?", "en-us+m3", 140),
    ("Which animal says moo?", "en-029", 170),
    ("What do bees make?", "en-gb-x-rp", 155),
    ("How many legs does a spider have?", "en-us+f2", 180),
    ("What is the opposite of hot?", "en-us", 145),
    ("Name a planet in our solar system.", "en-gb", 170),
]
PAUSE_FIRST = "I would like to order a pizza and"
PAUSE_SECOND = "a large salad please"
PAUSE_MS = 600
PAUSE_VOICES = [("en-us", 165), ("en-gb", 150), ("en-us+f3", 175), ("en-gb-scotland", 160),
                ("en-us+m3", 140), ("en-029", 170), ("en-gb-x-rp", 155), ("en-us+f2", 180),
                ("en-us", 140), ("en-gb", 185)]


@dataclass
class Utterance:
    """A named utterance and its audio."""

    name: str
    text: str
    pcm: bytes  # 16 kHz 16-bit mono, trimmed to speech

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def require_tools() -> None:
    """Exit with a hint unless espeak-ng and sox are installed."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise SystemExit("espeak-ng and sox are needed (apt-get install espeak-ng sox)")


def cache_dir() -> Path:
    """Where spoken utterances are kept between runs."""
    cache = Path(tempfile.gettempdir()) / "openlive-bench-voice"
    cache.mkdir(exist_ok=True)
    return cache


def espeak(text: str, voice: str, wpm: int | None, cache: Path, ssml: bool = False,
           rate: int = RATE) -> bytes:
    """``text`` spoken by espeak-ng (at its default speed if ``wpm`` is None), ``rate`` Hz
    16-bit mono raw PCM, cached in ``cache`` by content."""
    prefix = "" if rate == RATE else f"{rate}_"
    key = re.sub(r"\W+", "_", f"{prefix}{voice}_{wpm}_{'ssml_' if ssml else ''}{text}")[:120]
    raw = cache / f"{key}.raw"
    if not raw.exists():
        wav = cache / f"{key}.wav"
        speed = [] if wpm is None else ["-s", str(wpm)]
        subprocess.run(["espeak-ng", *(["-m"] if ssml else []), "-v", voice, *speed,
                        "-w", str(wav), text], check=True, capture_output=True)
        subprocess.run(["sox", str(wav), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed",
                        "-t", "raw", str(raw)], check=True, capture_output=True)
    return raw.read_bytes()


def trim(pcm: bytes) -> bytes:
    """Cut leading and trailing silence: keep from the first to the last 10 ms frame whose
    RMS is within SPEECH_THRESHOLD_DB of the loudest frame."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frame = RATE // 100
    n = len(samples) // frame
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9
    db = 20 * np.log10(rms)
    loud = np.nonzero(db >= db.max() - SPEECH_THRESHOLD_DB)[0]
    first, last = int(loud[0]), int(loud[-1])
    return pcm[first * frame * 2:(last + 1) * frame * 2]


def noise(seconds: float, rng: np.random.Generator) -> bytes:
    """``seconds`` of a quiet microphone's white noise, 16 kHz 16-bit."""
    samples = rng.normal(0.0, NOISE_RMS, int(seconds * RATE))
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


def make_utterances(cache: Path) -> tuple[list[Utterance], list[Utterance]]:
    """The questions, and the pizza order with a mid-sentence pause in several voices."""
    require_tools()
    questions = [Utterance(f"q{i}-{voice}-{wpm}", text, trim(espeak(text, voice, wpm, cache)))
                 for i, (text, voice, wpm) in enumerate(QUESTIONS)]
    pauses = []
    for voice, wpm in PAUSE_VOICES:
        # one sentence with a break in it, so that the prosody runs on across the pause
        ssml = f'<speak>{PAUSE_FIRST} <break time="{PAUSE_MS}ms"/> {PAUSE_SECOND}</speak>'
        pcm = trim(espeak(ssml, voice, wpm, cache, ssml=True))
        pauses.append(Utterance(f"pause-{voice}-{wpm}", f"{PAUSE_FIRST} … {PAUSE_SECOND}", pcm))
    return questions, pauses
