"""Word timings (``inputAudioTranscription.wordTimestamp``): accuracy and cost.

In-process (no server), on the default recognizer (Whisper base, default settings), the
audio cut as the server cuts a turn: ``LEAD_S`` of a quiet microphone's noise before
the speech (the session's pre-roll before the VAD's onset) and ``TRAIL_S`` after it.

Two references:

* words with known times: each word of a sentence spoken alone by espeak-ng, trimmed
  to its speech (the 10 ms frames within 35 dB of its loudest), the words joined with
  known gaps (``GAPS``, in turn); each recognised word is matched to its reference word
  (same letters, in order) and its start and end compared;
* the evaluation set (``bench/evalset.py``; Piper, Kokoro, espeak voices, some in
  noise): where the speech starts and ends is known (``speech_start``, ``speech_end``,
  measured on the clean synthesis), so the first word's start and the last word's end
  are compared. Its human recordings (``--items 'human-*'``) are reported apart: their
  bounds are measured on the recording, whose own room noise is within 35 dB of the
  speech, so the reference itself is off by up to a few hundred ms there.

Cost: the time :func:`~openlive.engines.asr.word_timing.align_words` takes per
utterance (measured around the call inside the recognizer), beside the whole decode.
``--alignment-only`` turns the fitting to pauses off, for the alignment's own errors.

Reads the evaluation set's audio as ``bench/evalset.py build`` left it (items missing
or out of date are skipped).

    PYTHONPATH=src:bench .venv/bin/python bench/word_timings.py
    PYTHONPATH=src:bench .venv/bin/python bench/word_timings.py --items 'human-*' --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
from evalset import DEFAULT_CACHE, MANIFEST, Built, Item, load_items, resample, select
from lib.speech import RATE, cache_dir, espeak, noise, require_tools, trim
from lib.stats import pct
from lib.tables import header, ms, row

import openlive.engines.asr.whisper as whisper_module
from openlive.audio.words import TimedWord
from openlive.engines.asr import word_timing
from openlive.engines.asr.whisper import WhisperRecognizer

LEAD_S = 0.3  # the session's pre-roll before the VAD's onset (ActivityDefaults.preroll_ms)
TRAIL_S = 0.2
GAPS = (0.05, 0.15, 0.3)  # silence between the words spoken alone, in turn
SENTENCES = [
    ("The quick brown fox jumps over the lazy dog.", "en-us", 160),
    ("Please set a timer for ten minutes.", "en-gb", 150),
    ("What is the weather like in Paris today?", "en-us+f3", 170),
    ("My favourite colour is green and my sister likes blue.", "en-gb-scotland", 160),
    ("Turn off the lights in the kitchen.", "en-us+m3", 145),
    ("How many legs does a spider have?", "en-us+f2", 175),
]


@dataclass
class Result:
    name: str
    kind: str  # "words" (each word's reference) or "span" (first start, last end)
    text: str
    heard: str
    starts: list[float]  # errors (heard - reference) of matched word starts, seconds
    ends: list[float]
    matched: int
    reference_words: int
    align_s: float  # the alignment's own time
    decode_s: float  # the whole transcribe call, alignment included
    seconds: float  # audio length


def _letters(word: str) -> str:
    return re.sub(r"[^a-z0-9']", "", word.lower())


def joined_words(text: str, voice: str, wpm: int, cache: Path,
                 rng: np.random.Generator) -> tuple[bytes, list[TimedWord]]:
    """``text``'s words spoken one by one, joined with :data:`GAPS` in noise; the PCM and
    each word's reference times in it."""
    parts: list[bytes] = [noise(LEAD_S, rng)]
    at, reference = LEAD_S, []
    for i, word in enumerate(text.split()):
        pcm = trim(espeak(word, voice, wpm, cache))
        seconds = len(pcm) / 2 / RATE
        reference.append(TimedWord(word, at, at + seconds))
        gap = GAPS[i % len(GAPS)]
        parts += [_mixed(pcm, rng), noise(gap, rng)]
        at += seconds + gap
    parts.append(noise(TRAIL_S, rng))
    return b"".join(parts), reference


def _mixed(pcm: bytes, rng: np.random.Generator) -> bytes:
    """Speech with the microphone's noise under it, as the gaps have."""
    speech = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    under = np.frombuffer(noise(len(speech) / RATE, rng), dtype="<i2")[: len(speech)]
    return np.clip(speech + under, -32768, 32767).astype("<i2").tobytes()


def match(reference: list[str], heard: list[TimedWord]) -> list[tuple[int, int]]:
    """Pairs (reference index, heard index) of the same word, in order."""
    left = [_letters(w) for w in reference]
    right = [_letters(w.word) for w in heard]
    pairs = []
    for block in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_matching_blocks():
        pairs += [(block.a + k, block.b + k) for k in range(block.size)]
    return pairs


class TimedAlignment:
    """Wraps the recognizer's alignment call to measure it."""

    def __init__(self) -> None:
        self.original: Callable[..., Any] = whisper_module.align_words
        self.last = 0.0

    def __enter__(self) -> Self:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.last = time.perf_counter() - started
        whisper_module.align_words = timed
        return self

    def __exit__(self, *exc: object) -> None:
        whisper_module.align_words = self.original


def transcribe(recognizer: WhisperRecognizer, timer: TimedAlignment, pcm: bytes,
               language: str | None) -> tuple[Any, float, float]:
    timer.last = 0.0
    started = time.perf_counter()
    result = asyncio.run(recognizer.transcribe(pcm, language=language, words=True))
    return result, timer.last, time.perf_counter() - started


def run_words(recognizer: WhisperRecognizer, timer: TimedAlignment) -> list[Result]:
    require_tools()
    cache, rng, results = cache_dir(), np.random.default_rng(7), []
    for i, (text, voice, wpm) in enumerate(SENTENCES):
        pcm, reference = joined_words(text, voice, wpm, cache, rng)
        heard, align_s, decode_s = transcribe(recognizer, timer, pcm, None)
        pairs = match([w.word for w in reference], list(heard.words))
        results.append(Result(
            f"joined-{i}-{voice}", "words", text, heard.text,
            [heard.words[h].start - reference[r].start for r, h in pairs],
            [heard.words[h].end - reference[r].end for r, h in pairs],
            len(pairs), len(reference), align_s, decode_s, len(pcm) / 2 / RATE))
    return results


def run_evalset(recognizer: WhisperRecognizer, timer: TimedAlignment,
                patterns: list[str]) -> list[Result]:
    items = [i for i in select(load_items(MANIFEST), patterns)
             if i.kind in ("transcribe", "question") and i.text]
    rng, results = np.random.default_rng(11), []
    for item in items:
        b = built(item)
        if b is None:
            continue
        samples = np.frombuffer(b.pcm(), dtype="<i2").astype(np.float32) / 32768
        audio = resample(samples, item.rate, RATE)
        pcm, start_ref, end_ref = around_speech(audio, b.speech_start, b.speech_end, rng)
        language = None if item.language.startswith("en") else item.language
        heard, align_s, decode_s = transcribe(recognizer, timer, pcm, language)
        words = heard.words
        results.append(Result(
            item.id, "span", item.text, heard.text,
            [words[0].start - start_ref] if words else [],
            [words[-1].end - end_ref] if words else [],
            1 if words else 0, 1, align_s, decode_s, len(pcm) / 2 / RATE))
    return results


def around_speech(audio: Any, start: float, end: float, rng: np.random.Generator
                  ) -> tuple[bytes, float, float]:
    """The speech of ``audio`` (16 kHz float) between ``start`` and ``end`` seconds, with
    :data:`LEAD_S` before and :data:`TRAIL_S` after it: the item's own audio there (its
    noise), or a quiet microphone's where the item has none (clean items are cut at
    their speech); the PCM and where the speech starts and ends in it."""
    first, last = int(start * RATE), int(end * RATE)
    lead, trail = int(LEAD_S * RATE), int(TRAIL_S * RATE)
    own = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    before = own[max(0, first - lead):first].tobytes()
    after = own[last:last + trail].tobytes()
    before = noise((lead * 2 - len(before)) / 2 / RATE, rng) + before
    after += noise((trail * 2 - len(after)) / 2 / RATE, rng)
    return before + own[first:last].tobytes() + after, len(before) / 2 / RATE, (
        len(before) / 2 / RATE + (last - first) / RATE)


def built(item: Item) -> Built | None:
    """The item's audio as ``bench/evalset.py build`` left it (read only: run that first),
    or None when it is missing or out of date."""
    wav = DEFAULT_CACHE / "audio" / f"{item.id}.wav"
    meta = wav.with_suffix(".json")
    if not wav.exists() or not meta.exists():
        return None
    known = json.loads(meta.read_text())
    if known.get("digest") != item.digest:
        return None
    return Built(item, wav, known["speech_start"], known["speech_end"])


def _mae(values: list[float]) -> float:
    return statistics.fmean(abs(v) for v in values) if values else float("nan")


def report(results: list[Result]) -> str:
    lines = ["Start and end errors (heard - reference), mean absolute, median signed;",
             "alignment time per utterance (p50, p95) beside the whole transcription.", ""]
    lines += header("set", "utterances", "words matched", "start MAE", "start median",
                    "end MAE", "end median", "align p50", "align p95", "transcribe p50")
    groups: dict[str, list[Result]] = {}
    for r in results:
        key = ("words spoken alone, known gaps" if r.kind == "words" else
               "evalset human (approximate reference)" if r.name.startswith("human")
               else "evalset synthetic")
        groups.setdefault(key, []).append(r)
    for key, rs in groups.items():
        starts = [e for r in rs for e in r.starts]
        ends = [e for r in rs for e in r.ends]
        aligns = [r.align_s for r in rs]
        decodes = [r.decode_s for r in rs]
        lines.append(row(key, len(rs), f"{sum(r.matched for r in rs)}/"
                         f"{sum(r.reference_words for r in rs)}",
                         ms(_mae(starts)), ms(statistics.median(starts) if starts else None),
                         ms(_mae(ends)), ms(statistics.median(ends) if ends else None),
                         ms(pct(aligns, 0.5)), ms(pct(aligns, 0.95)), ms(pct(decodes, 0.5))))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", nargs="*", default=["q*"],
                        help="evaluation-set items (globs); none: skip the set")
    parser.add_argument("--no-words", action="store_true", help="skip the joined words")
    parser.add_argument("--json", type=Path, help="write every result here")
    parser.add_argument("--alignment-only", action="store_true",
                        help="the cross-attention alignment alone, not fitted to pauses")
    args = parser.parse_args()
    if args.alignment_only:
        word_timing.MIN_RANGE_DB = float("inf")  # no audio is clear enough to fit
    recognizer = WhisperRecognizer(concurrency=1)
    with TimedAlignment() as timer:
        transcribe(recognizer, timer, trim(espeak("warm up", "en-us", 160, cache_dir())),
                   None)
        results = [] if args.no_words else run_words(recognizer, timer)
        if args.items:
            results += run_evalset(recognizer, timer, args.items)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    for r in results:
        print(f"{r.name}: {r.heard!r} starts {[round(e, 2) for e in r.starts]}")
    print()
    print(report(results))


if __name__ == "__main__":
    main()
