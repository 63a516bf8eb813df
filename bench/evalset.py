"""The understanding evaluation set: audio the code is not tuned on, made from packages.

``bench/evalset.json`` (committed) lists the items; this script makes their audio into a
cache directory, reproducibly and only from package registries:

* human recordings: Debian's ``pocketsphinx-testdata`` (LibriVox sentences, spoken card
  names, "go forward ten meters", each with the package's own transcript) and the voice
  clips of ``alsa-utils`` (speaker-test's channel names) and its noise clip. The packages
  are fetched with ``apt-get download`` and unpacked into the cache, not installed;
* the voices openlive ships, through its own synthesizers: Piper joe (the default extra)
  and Kokoro (the ``kokoro`` extra), each Live voice name being a speed/pitch variant;
  espeak-ng (the Debian package) as one voice among them;
* noise made here (white, pink: seeded) or the alsa noise clip, mixed at the item's SNR
  against the speech's own level; a cough-like burst.

Item fields (one JSON object per item in ``items``):

``id``; ``kind``: ``transcribe`` (say it back), ``question`` (``answer`` lists keywords,
any of which makes the answer right), ``pause`` (``text`` is split after word
``pause_after`` with ``pause_ms`` of silence: the turn must not end there), ``prompt``
(asks for a long reply), ``barge-ok`` / ``barge-stop`` (played over the reply to the
``over`` prompt: must not / must interrupt it); ``source`` and ``licence`` (see
``sources``); ``voice_kind`` (human, piper, kokoro, espeak, noise), ``voice`` (a Live
voice name for Piper and Kokoro, an espeak-ng voice) and ``speed`` (the voice's length
scale, or espeak's words per minute); ``language`` (a Live ``languageCode``); ``text``
(the reference transcript); ``rate`` (the input rate it is sent at); ``noise`` and
``snr_db``; ``file`` (a path inside the item's Debian package).

Each item becomes ``<cache>/audio/<id>.wav`` (16-bit mono at its rate) and ``<id>.json``
(where the speech starts and ends, and a digest of the item: a changed item is made
again, an unchanged one is not).

    .venv/bin/python bench/evalset.py build                 # all items (~2 minutes once)
    .venv/bin/python bench/evalset.py build --items 'human-*'
    .venv/bin/python bench/evalset.py list

Needs: espeak-ng (apt-get install espeak-ng), apt-get and dpkg-deb, and the venv with
the ``kokoro`` extra (``make install-test``).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "bench" / "evalset.json"
DEFAULT_CACHE = Path(os.environ.get("OPENLIVE_EVALSET_CACHE",
                                    Path.home() / ".cache" / "openlive" / "evalset"))
DEBIAN_SOURCES = ("pocketsphinx-testdata", "alsa-utils")
BUILD_VERSION = 1  # bump when the way audio is made changes: every item is made again
NOISE_LEAD = 0.3  # seconds of noise alone before and after the speech of a noisy item
SPEECH_DB = 35.0  # a 10 ms frame within this many dB of the loudest is speech

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Item:
    """One entry of the manifest (see the module docstring for the fields)."""

    id: str
    kind: str
    source: str
    licence: str
    voice_kind: str
    voice: str | None
    speed: float | None
    language: str
    text: str
    answer: tuple[str, ...] | None
    rate: int
    noise: str | None
    snr_db: float | None
    pause_after: int | None
    pause_ms: int | None
    over: str | None
    file: str | None

    @property
    def digest(self) -> str:
        fields = {**vars(self), "answer": list(self.answer or ()), "build": BUILD_VERSION}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Built:
    """An item's audio on disk: 16-bit mono PCM at ``item.rate``."""

    item: Item
    path: Path
    speech_start: float  # seconds into the file
    speech_end: float

    def pcm(self) -> bytes:
        with wave.open(str(self.path), "rb") as w:
            return w.readframes(w.getnframes())


def load_items(manifest: Path = MANIFEST) -> list[Item]:
    """The manifest's items, in order."""
    data = json.loads(manifest.read_text())
    items = []
    for raw in data["items"]:
        answer = raw.get("answer")
        items.append(Item(**{**raw, "answer": tuple(answer) if answer else None}))
    return items


def select(items: Sequence[Item], patterns: Iterable[str] = (), limit: int | None = None,
           ) -> list[Item]:
    """Items whose id matches any glob in ``patterns`` (all when none), the first ``limit``;
    a barge-in item brings the prompt it is played over."""
    wanted = list(patterns)
    chosen = [i for i in items if not wanted or any(fnmatch.fnmatch(i.id, p) for p in wanted)]
    chosen = chosen[:limit] if limit else chosen
    ids = {i.id for i in chosen}
    prompts = [i for i in items if i.id in {c.over for c in chosen if c.over} - ids]
    return prompts + chosen


# --- sources ----------------------------------------------------------------------------


def debian_root(cache: Path, package: str) -> Path:
    """``package`` unpacked under the cache (``apt-get download``; nothing is installed)."""
    root = cache / "debs" / package
    if (root / ".unpacked").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        got = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True,
                             text=True, check=False)
        if got.returncode != 0 and os.geteuid() == 0:  # a fresh machine has no package lists
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            got = subprocess.run(["apt-get", "download", package], cwd=tmp,
                                 capture_output=True, text=True, check=False)
        if got.returncode != 0:
            raise SystemExit(f"apt-get download {package} failed:\n{got.stderr}")
        [deb] = Path(tmp).glob("*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        (root / ".unpacked").write_text(deb.name + "\n")
    return root


def read_audio(path: Path) -> tuple[Audio, int]:
    """A WAV file, or pocketsphinx's headerless 16 kHz 16-bit raw, as float32 in -1..1."""
    if path.suffix == ".raw":
        return to_float(np.fromfile(path, dtype="<i2")), 16000
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit WAV is read here")
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        channels, rate = w.getnchannels(), w.getframerate()
    mono = samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples
    return to_float(mono), rate


def to_float(samples: npt.NDArray[Any]) -> Audio:
    """16-bit samples as float32 in -1..1."""
    return (np.asarray(samples, dtype=np.float32) / np.float32(32768)).astype(np.float32)


class Voices:
    """The synthesizers, made on first use (Piper and Kokoro load their models)."""

    def __init__(self) -> None:
        self._piper: Any = None
        self._kokoro: Any = None
        # One event loop for every synthesis: the engines' worker slots are freed by a
        # callback on the loop that started the job, and a loop per call (asyncio.run)
        # can close with that callback still queued, leaking the slot (the build hung at
        # its next Piper item on a fresh machine, 2026-12-07).
        self._runner = asyncio.Runner()

    def speak(self, item: Item, text: str) -> tuple[Audio, int]:
        if item.voice_kind == "espeak":
            return _espeak(text, item.voice or "en-us", int(item.speed or 165))
        if item.voice_kind == "piper":
            if self._piper is None:
                from openlive.engines.tts.piper import PiperSynthesizer

                self._piper = PiperSynthesizer()
            return _synthesize(self._runner, self._piper, text, item), 24000
        if item.voice_kind == "kokoro":
            if self._kokoro is None:
                from openlive.engines.tts.kokoro import KokoroSynthesizer

                self._kokoro = KokoroSynthesizer()
            return _synthesize(self._runner, self._kokoro, text, item), 24000
        raise SystemExit(f"{item.id}: no synthesizer for voice kind {item.voice_kind!r}")


def _synthesize(runner: asyncio.Runner, synth: Any, text: str, item: Item) -> Audio:
    async def run() -> bytes:
        chunks = [c async for c in synth.synthesize(text, voice=item.voice,
                                                    language=item.language)]
        return b"".join(chunks)

    pcm = runner.run(run())
    return trim(to_float(np.frombuffer(pcm, dtype="<i2")), 24000)


def _espeak(text: str, voice: str, wpm: int) -> tuple[Audio, int]:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text],
                       check=True, capture_output=True)
        audio, rate = read_audio(wav)
    return trim(audio, rate), rate


def speech_bounds(audio: Audio, rate: int) -> tuple[int, int]:
    """First and one-past-last sample of the 10 ms frames within SPEECH_DB of the loudest."""
    frame = rate // 100
    n = len(audio) // frame
    if n == 0:
        return 0, len(audio)
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9
    db = 20 * np.log10(rms)
    loud = np.nonzero(db >= db.max() - SPEECH_DB)[0]
    return int(loud[0]) * frame, (int(loud[-1]) + 1) * frame


def trim(audio: Audio, rate: int) -> Audio:
    """Synthesized speech without its leading and trailing silence."""
    start, end = speech_bounds(audio, rate)
    return audio[start:end]


# --- noise ------------------------------------------------------------------------------


def _rng(item: Item) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(item.id.encode()).hexdigest()[:8], 16))


def make_noise(kind: str, n: int, rate: int, rng: np.random.Generator, cache: Path) -> Audio:
    """``n`` samples of ``kind`` noise (white, pink, alsa-noise) at unit RMS."""
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":  # 1/f power: shape white noise's spectrum by 1/sqrt(f)
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, n)
    elif kind == "alsa-noise":
        clip, clip_rate = read_audio(debian_root(cache, "alsa-utils")
                                     / "usr/share/sounds/alsa/Noise.wav")
        clip = resample(clip, clip_rate, rate)
        start = int(rng.integers(0, len(clip)))
        noise = np.resize(np.roll(clip, -start), n)  # looped from a random point
    else:
        raise SystemExit(f"unknown noise {kind!r}")
    scaled: Audio = (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)
    return scaled


def cough(rate: int, rng: np.random.Generator) -> Audio:
    """A cough-like sound: two bursts of band-passed noise with a sharp attack."""
    parts = []
    for length in (0.22, 0.16):
        n = int(length * rate)
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / rate)
        spectrum *= np.exp(-(((freqs - 900) / 700) ** 2))
        burst = np.fft.irfft(spectrum, n)
        envelope = np.minimum(1.0, np.arange(n) / (0.01 * rate)) * np.exp(-np.arange(n) / (0.06 * rate))
        burst = burst * envelope
        parts += [0.5 * burst / np.abs(burst).max(), np.zeros(int(0.12 * rate))]
    return np.concatenate(parts).astype(np.float32)


def mix(speech: Audio, rate: int, item: Item, cache: Path) -> tuple[Audio, int]:
    """``speech`` with noise at ``item.snr_db`` (against the speech's RMS over its loud
    frames), NOISE_LEAD seconds of noise alone on each side; returns (audio, offset)."""
    if item.noise is None or item.snr_db is None:
        return speech, 0
    start, end = speech_bounds(speech, rate)
    level = float(np.sqrt(np.mean(speech[start:end] ** 2)))
    lead = int(NOISE_LEAD * rate)
    padded = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(lead, np.float32)])
    noise = make_noise(item.noise, len(padded), rate, _rng(item), cache)
    mixed = padded + noise * level / (10 ** (item.snr_db / 20))
    peak = float(np.abs(mixed).max())
    return (mixed / peak * 0.9 if peak > 0.99 else mixed).astype(np.float32), lead


def resample(audio: Audio, rate: int, to: int) -> Audio:
    if rate == to:
        return audio
    import soxr

    return np.asarray(soxr.resample(audio, rate, to, quality="HQ"), dtype=np.float32)


# --- building ---------------------------------------------------------------------------


def render(item: Item, voices: Voices, cache: Path) -> tuple[Audio, int]:
    """The item's clean audio (before noise) at the rate its source has."""
    if item.file is not None:
        return read_audio(debian_root(cache, item.source) / item.file.lstrip("/"))
    if item.voice_kind == "noise":
        return cough(16000, _rng(item)), 16000
    if item.pause_after is None or item.pause_ms is None:
        return voices.speak(item, item.text)
    words = item.text.split()
    first, rate = voices.speak(item, " ".join(words[: item.pause_after]))
    second, rate2 = voices.speak(item, " ".join(words[item.pause_after:]))
    second = resample(second, rate2, rate)
    gap = np.zeros(int(item.pause_ms / 1000 * rate), np.float32)
    return np.concatenate([first, gap, second]), rate


def build_item(item: Item, voices: Voices, cache: Path) -> Built:
    """Make one item's audio unless an up-to-date copy is there."""
    audio_dir = cache / "audio"
    wav, meta = audio_dir / f"{item.id}.wav", audio_dir / f"{item.id}.json"
    if wav.exists() and meta.exists():
        known = json.loads(meta.read_text())
        if known.get("digest") == item.digest:
            return Built(item, wav, known["speech_start"], known["speech_end"])
    clean, rate = render(item, voices, cache)
    start, end = speech_bounds(clean, rate)
    audio, offset = mix(clean, rate, item, cache)
    audio = resample(audio, rate, item.rate)
    scale = item.rate / rate
    bounds = ((start + offset) * scale / item.rate, (end + offset) * scale / item.rate)
    audio_dir.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(item.rate)
        w.writeframes(pcm.tobytes())
    meta.write_text(json.dumps({"digest": item.digest, "speech_start": round(bounds[0], 3),
                                "speech_end": round(bounds[1], 3),
                                "seconds": round(len(pcm) / item.rate, 3)}) + "\n")
    return Built(item, wav, round(bounds[0], 3), round(bounds[1], 3))


def build(items: Sequence[Item], cache: Path = DEFAULT_CACHE, quiet: bool = False,
          ) -> dict[str, Built]:
    """Make (or find) every item's audio; id -> Built. Quick once made."""
    cache.mkdir(parents=True, exist_ok=True)
    voices = Voices()
    out = {}
    for n, item in enumerate(items, 1):
        out[item.id] = build_item(item, voices, cache)
        if not quiet and sys.stderr.isatty():
            print(f"\r{n}/{len(items)} {item.id:<40}", end="", file=sys.stderr, flush=True)
    if not quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "list"))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"where the audio goes (default {DEFAULT_CACHE}; "
                             "OPENLIVE_EVALSET_CACHE)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--items", action="append", default=[], metavar="GLOB",
                        help="only items whose id matches (repeatable), e.g. 'human-*'")
    parser.add_argument("--limit", type=int, default=None, help="at most this many items")
    args = parser.parse_args()
    items = select(load_items(args.manifest), args.items, args.limit)
    if args.command == "list":
        for i in items:
            print(f"{i.id:<36} {i.kind:<10} {i.voice_kind:<6} {i.language:<5} {i.rate:>5} "
                  f"{(i.noise or '') + (f'@{i.snr_db:g}dB' if i.snr_db is not None else ''):<14}"
                  f" {i.text}")
        return
    built = build(items, args.cache)
    total = sum(b.speech_end - b.speech_start for b in built.values())
    print(f"{len(built)} items in {args.cache / 'audio'} ({total / 60:.1f} min of speech)")


if __name__ == "__main__":
    main()
