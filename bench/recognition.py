"""Recognition choices on the evaluation set: accuracy and decode time of each variant.

In-process (no server): every speech item of the evaluation set (``bench/evalset.py``)
is heard the way the server hears it, then transcribed by :class:`WhisperRecognizer`
once per variant, the variants interleaved item by item (their order rotating) so that
whatever else loads the machine loads them all alike.

How an item is heard. The client streams silence, the item, silence (``LEAD_S`` and
``TRAIL_S``, at the item's rate); the stream goes through the server's input resampler
to 16 kHz, Silero VAD scores its 32 ms frames and the session's own
:class:`~openlive.session.activity.ActivityDetector` (default settings) finds the turn.
Today the server gives the recognizer the turn's audio from ``preroll_ms`` (300 ms)
before the VAD's onset to the start of the silence that ended it (session/activity.py,
session/listening.py, runtime/audio_input.py ``cut``). The variants change one thing
each against that baseline ("today"):

* which model hears English: Whisper base detecting the language with the
  ``LanguageRule`` (no ``languageCode``, the default path), tiny.en (``languageCode``
  en), base with the language given;
* decoding: beam 5 against greedy for finals; the no-speech threshold off; no token
  3-gram twice (Whisper's loops: "ten of clubs ten of clubs…");
* the conversation so far as Whisper's prompt: another turn of the same topic (a
  stand-in for the model's previous reply: the next item of the same group with other
  words), or one of another topic (misleading context); both deterministic;
* the audio: the pre-roll before the VAD's onset (0, 0.1 s; today 0.3 s), 0.2 s more
  after the VAD's end, or the whole buffer with its silence.

Scores: corpus WER (bench/textnorm.py, errors summed over items then divided), the
transcripts with letters outside the language's script, and the wall time of each
decode (p50/p95 per utterance, and per second of audio sent), per voice kind.

    .venv/bin/python bench/recognition.py --items 'human-*' --variants today,tiny.en
    nice -n 5 .venv/bin/python bench/recognition.py --json /tmp/recog.json
    .venv/bin/python bench/recognition.py --report /tmp/recog.json
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from evalset import DEFAULT_CACHE, MANIFEST, Built, Item, build, load_items, select
from lib.stats import pct
from lib.tables import header, ms, row
from textnorm import word_errors, words, wrong_script

from openlive.audio.resample import input_resampler
from openlive.engines.asr.whisper import DecodeOptions, WhisperRecognizer
from openlive.engines.models import WHISPER_BASE
from openlive.engines.vad.silero import FRAME_SECONDS, FrameSplitter, SharedSileroModel
from openlive.engines.weights import ensure
from openlive.session.activity import ActivityDefaults, ActivityDetector, SpeechEnded, SpeechStarted

SPEECH_KINDS = ("transcribe", "question", "pause", "barge-stop")
LEAD_S = 0.6  # silence the client sends before the item (more than the longest pre-roll)
TRAIL_S = 1.0  # and after it
BYTES_PER_S = 32_000  # 16 kHz 16-bit mono
TODAY_PREROLL = ActivityDefaults().preroll_ms / 1000


@dataclass(frozen=True)
class Variant:
    """One way to recognize an utterance; the defaults are today's default path."""

    label: str
    language: str = "detect"  # "detect": no languageCode; "given": the item's languageCode
    english_model: str = "tiny.en"  # which model a given English languageCode goes to
    beam_size: int = 1
    no_speech_threshold: float = DecodeOptions().no_speech_threshold
    no_repeat_ngram_size: int = DecodeOptions().no_repeat_ngram_size
    prompt: str = "none"  # "none", "previous" (same topic), "unrelated"
    preroll: float = TODAY_PREROLL  # seconds before the VAD's onset
    tail: float = 0.0  # seconds after the VAD's end of speech
    whole: bool = False  # the whole buffer, silence and all

    @property
    def recognizer_key(self) -> tuple[str, int, float, int]:
        return (self.english_model, self.beam_size, self.no_speech_threshold,
                self.no_repeat_ngram_size)


VARIANTS = {
    "today": Variant("today: no languageCode, base detects, greedy, 0.3 s pre-roll"),
    "tiny.en": Variant("languageCode: tiny.en for English", language="given"),
    "base-en": Variant("languageCode: base for English too", language="given",
                       english_model="base"),
    "beam5": Variant("beam 5 (base detects)", beam_size=5),
    "tiny.en-beam5": Variant("beam 5, tiny.en (languageCode)", language="given", beam_size=5),
    "no-speech-off": Variant("no-speech threshold off", no_speech_threshold=1.0),
    "no-repeat-3": Variant("no 3-token n-gram twice", no_repeat_ngram_size=3),
    "tiny.en-no-repeat-3": Variant("no 3-token n-gram twice, tiny.en (languageCode)",
                                   language="given", no_repeat_ngram_size=3),
    "prompt-previous": Variant("prompt: a previous turn, same topic", prompt="previous"),
    "prompt-unrelated": Variant("prompt: a previous turn, other topic", prompt="unrelated"),
    "preroll-0": Variant("pre-roll 0 s", preroll=0.0),
    "preroll-0.1": Variant("pre-roll 0.1 s", preroll=0.1),
    "tail-0.2": Variant("0.3 s pre-roll, +0.2 s after the end", tail=0.2),
    "whole": Variant("whole buffer (no trimming)", whole=True),
    "preroll-0.5": Variant("pre-roll 0.5 s", preroll=0.5),
    "tail-0.1": Variant("0.3 s pre-roll, +0.1 s after the end", tail=0.1),
    "tail-0.3": Variant("0.3 s pre-roll, +0.3 s after the end", tail=0.3),
    "base-en-tail": Variant("languageCode: base for English, +0.2 s after the end",
                            language="given", english_model="base", tail=0.2),
    "base-en-prompt-tail": Variant("languageCode: base for English, +0.2 s, prompt: same "
                                   "topic", language="given", english_model="base",
                                   tail=0.2, prompt="previous"),
}


# --- hearing an item as the server does -------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """An item as 16 kHz PCM with the turn the VAD found in it (seconds into ``pcm``)."""

    pcm: bytes
    onset: float  # start of the first speech frame of the turn
    today_from: float  # where today's server starts the turn's audio
    end: float  # where the silence that ended the turn began
    turns: int  # turns the detector found (more than one: the span covers them all)

    def span(self, variant: Variant) -> bytes:
        total = len(self.pcm) / BYTES_PER_S
        if variant.whole or self.turns == 0:
            start, end = 0.0, total
        elif variant.preroll == TODAY_PREROLL:
            start, end = self.today_from, self.end + variant.tail
        else:
            start, end = max(0.0, self.onset - variant.preroll), self.end + variant.tail
        first, last = int(start * 16_000) * 2, int(min(end, total) * 16_000) * 2
        return self.pcm[first:last]


def turns(probabilities: Sequence[float], defaults: ActivityDefaults) -> list[tuple[float, float]]:
    """(audio_from, speech_end) of each turn the session's detector finds."""
    detector = ActivityDetector(defaults=defaults)
    found: list[tuple[float, float]] = []
    start: float | None = None
    at = 0.0
    for n, p in enumerate(probabilities, 1):
        at = n * FRAME_SECONDS
        for event in detector.feed(at, p):
            if isinstance(event, SpeechStarted):
                start = event.audio_from
            elif isinstance(event, SpeechEnded) and start is not None:
                found.append((start, event.speech_end))
                start = None
    ended = detector.end_turn_now(at)  # the stream ends: close an open turn
    if ended is not None and start is not None:
        found.append((start, ended.speech_end))
    return found


def hear(built: Built, vad: SharedSileroModel) -> Heard:
    """The item streamed with silence around it, at 16 kHz, and the turn the VAD finds."""
    rate = built.item.rate
    silence = bytes(2 * int(LEAD_S * rate)), bytes(2 * int(TRAIL_S * rate))
    resampler = input_resampler(rate)
    pcm = resampler.process(silence[0] + built.pcm() + silence[1]) + resampler.flush()
    stream = vad.stream()
    probabilities = [stream.score(frame) for frame in FrameSplitter().push(pcm)]
    today = turns(probabilities, ActivityDefaults())
    # without pre-roll the detector's audio_from is the onset less prefixPaddingMs
    bare = ActivityDefaults(preroll_ms=0)
    onset_turns = turns(probabilities, bare)
    if not today or not onset_turns:
        return Heard(pcm, 0.0, 0.0, len(pcm) / BYTES_PER_S, 0)
    onset = onset_turns[0][0] + bare.prefix_padding_ms / 1000
    return Heard(pcm, onset, today[0][0], today[-1][1], len(today))


# --- the conversation so far ---------------------------------------------------------------


def topic(item: Item) -> str:
    """Items of one topic: a human recording's set (LibriVox, cards, alsa…), else the kind."""
    if item.voice_kind == "human":
        parts = item.id.split("-")
        return parts[parts.index("human") + 1]
    return "question" if item.kind == "barge-stop" else item.kind


def prompts(items: Sequence[Item]) -> dict[str, dict[str, str]]:
    """Per item id, the text of a previous turn of the same topic ("previous": the next
    item in the manifest, cyclically, of that topic and language with other words; of
    the same source when the topic has no other words) and of another topic
    ("unrelated": chosen by a hash of the id). Deterministic, from the whole manifest."""
    speech = [i for i in items if i.kind in SPEECH_KINDS]
    out: dict[str, dict[str, str]] = {}
    for n, item in enumerate(speech):
        later = speech[n + 1:] + speech[:n]
        mine = words(item.text, item.language)
        other_words = [i for i in later if words(i.text, i.language) != mine
                       and i.language == item.language]
        same = ([i for i in other_words if topic(i) == topic(item)]
                or [i for i in other_words if i.source == item.source] or other_words)
        unrelated = [i for i in speech if topic(i) != topic(item)
                     and words(i.text, i.language) != mine]
        pick = int(hashlib.sha256(item.id.encode()).hexdigest()[:8], 16) % len(unrelated)
        out[item.id] = {"previous": same[0].text, "unrelated": unrelated[pick].text}
    return out


# --- running ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One item decoded by one variant."""

    item: str
    variant: str
    voice_kind: str
    language: str
    reference: str
    text: str
    heard_language: str | None
    errors: int
    words: int
    wrong_script: bool
    audio_s: float  # seconds of audio given to the recognizer
    decode_s: float  # wall time of the call
    turns: int


async def run(items: Sequence[Item], built: dict[str, Built], names: Sequence[str],
              verbose: bool) -> list[Outcome]:
    base_dir = ensure(WHISPER_BASE)
    recognizers: dict[tuple[str, int, float, int], WhisperRecognizer] = {}
    for name in names:
        variant = VARIANTS[name]
        if variant.recognizer_key not in recognizers:
            recognizers[variant.recognizer_key] = WhisperRecognizer(
                english_model_path=base_dir if variant.english_model == "base" else None,
                decode=DecodeOptions(beam_size=variant.beam_size,
                                     no_speech_threshold=variant.no_speech_threshold,
                                     no_repeat_ngram_size=variant.no_repeat_ngram_size),
                preload=False,
            )
    vad = SharedSileroModel()
    context = prompts(load_items(MANIFEST))
    heard = {item.id: hear(built[item.id], vad) for item in items}
    outcomes: list[Outcome] = []

    async def decode(item: Item, name: str) -> Outcome:
        variant = VARIANTS[name]
        pcm = heard[item.id].span(variant)
        prompt = context[item.id].get(variant.prompt)
        language = item.language if variant.language == "given" else None
        began = time.perf_counter()
        got = await recognizers[variant.recognizer_key].transcribe(pcm, language=language,
                                                                   prompt=prompt)
        took = time.perf_counter() - began
        errors, total = word_errors(item.text, got.text, item.language)
        return Outcome(item.id, name, item.voice_kind, item.language, item.text, got.text,
                       got.language, errors, total, wrong_script(got.text, item.language),
                       len(pcm) / BYTES_PER_S, took, heard[item.id].turns)

    # load every model before timing anything: every variant hears the first item once
    for name in names:
        await decode(items[0], name)
        await decode(next((i for i in items if not i.language.startswith("en")), items[0]),
                     name)
    for n, item in enumerate(items):
        order = [*names[n % len(names):], *names[:n % len(names)]]
        for name in order:
            outcome = await decode(item, name)
            outcomes.append(outcome)
            if verbose:
                print(f"{item.id:34} {name:16} {outcome.decode_s * 1000:5.0f} ms "
                      f"{outcome.errors}/{outcome.words}  {outcome.text}", file=sys.stderr)
        if not verbose and sys.stderr.isatty():
            print(f"\r{n + 1}/{len(items)} {item.id:<40}", end="", file=sys.stderr, flush=True)
    for recognizer in recognizers.values():
        await recognizer.aclose()
    return outcomes


# --- reporting -------------------------------------------------------------------------------

GROUPS = ("human", "piper", "kokoro", "espeak", "non-English")


def wer(outcomes: Sequence[Outcome]) -> str:
    total = sum(o.words for o in outcomes)
    return f"{100 * sum(o.errors for o in outcomes) / total:.1f} %" if total else "–"


def report(outcomes: Sequence[Outcome]) -> str:
    """The summary table (WER per voice kind, wrong script, time) and the detail table."""
    by_variant: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_variant[o.variant].append(o)
    names = [n for n in VARIANTS if n in by_variant]
    kinds = [g for g in GROUPS if any(_group(o) == g for o in outcomes)]
    items = len({o.item for o in outcomes})
    lines = [(f"{items} items; WER per voice kind (corpus), transcripts in a wrong script, "
             "decode wall time per utterance."), ""]
    lines += header("variant", *(f"WER {k}" for k in kinds), "WER all English",
                    "wrong script", "decode p50", "decode p95", "p50 per s of audio")
    for name in names:
        got = by_variant[name]
        english = [o for o in got if o.language.startswith("en")]
        lines.append(row(f"`{name}`: {VARIANTS[name].label}",
                         *(wer([o for o in got if _group(o) == k]) for k in kinds),
                         wer(english), sum(o.wrong_script for o in got),
                         ms(pct([o.decode_s for o in got], 0.5)),
                         ms(pct([o.decode_s for o in got], 0.95)),
                         ms(pct([o.decode_s / o.audio_s for o in got if o.audio_s], 0.5))))
    lines += ["", ("Per voice kind: decode wall time per utterance and per second of audio "
              "sent (p50 / p95), and the mean audio sent."), ""]
    lines += header("variant", "voices", "items", "WER", "wrong script", "per utterance",
                    "per s of audio", "audio sent")
    for name in names:
        for kind in kinds:
            got = [o for o in by_variant[name] if _group(o) == kind]
            times = [o.decode_s for o in got]
            rates = [o.decode_s / o.audio_s for o in got if o.audio_s]
            lines.append(row(f"`{name}`", kind, len(got), wer(got),
                             sum(o.wrong_script for o in got),
                             f"{ms(pct(times, 0.5))} / {ms(pct(times, 0.95))}",
                             f"{ms(pct(rates, 0.5))} / {ms(pct(rates, 0.95))}",
                             f"{sum(o.audio_s for o in got) / max(1, len(got)):.2f} s"))
    several = sorted({o.item for o in outcomes if o.turns > 1})
    missed = sorted({o.item for o in outcomes if o.turns == 0})
    if several or missed:
        lines += ["", (f"The VAD found several turns in {len(several)} items (their span is "
                  f"heard whole), none in {len(missed)} (the whole buffer is heard).")]
    return "\n".join(lines) + "\n"


def _group(outcome: Outcome) -> str:
    return outcome.voice_kind if outcome.language.startswith("en") else "non-English"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", action="append", default=[], metavar="GLOB",
                        help="only items whose id matches (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many items")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="the built audio")
    parser.add_argument("--json", type=Path, help="also write every outcome here")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="no run: the tables of earlier runs' --json files")
    parser.add_argument("--verbose", action="store_true", help="a line per decode")
    args = parser.parse_args()
    if args.report:
        outcomes = [Outcome(**o) for path in args.report for o in json.loads(path.read_text())]
        print(report(outcomes))
        return
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    items = [i for i in select(load_items(), args.items, args.limit) if i.kind in SPEECH_KINDS]
    if not items:
        parser.error("no speech items match")
    built = build(items, args.cache, quiet=True)
    outcomes = asyncio.run(run(items, built, names, args.verbose))
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1) + "\n")
    print(report(outcomes))


if __name__ == "__main__":
    main()
