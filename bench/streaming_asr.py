"""Recognizing while the user speaks, simulated in-process on the understanding evaluation set.

Each utterance's 16 kHz audio (from the item's speech onset to its end) is fed in real
time: every ``step`` seconds of new audio the buffer so far is decoded by the server's
Whisper model (the one ``WhisperRecognizer`` picks for the item's ``languageCode``:
tiny.en for English, base otherwise), and :class:`~openlive.session.agreement.
LocalAgreement` says which words are settled. A decode starts when ``step`` seconds of
new audio have come AND the previous decode is done (one decoder per session: a slow
decode delays the next, as it would in the server). At the end of speech the turn is
known ``--pause`` seconds later (the VAD's pause); then a final decode finishes the text:

* without trimming, the final decode is the whole-utterance decode itself (the same call
  as the baseline: its words after the committed ones are flushed), so the work left at
  the end is that decode, plus any partial still running;
* with trimming ("trim over X s": once the buffer is longer than X s it is cut at the end
  of the last committed word, words timed by faster-whisper's cross-attention alignment,
  and the committed text before the cut becomes Whisper's prompt; X = 0 cuts at every
  commit), the final decode covers only the audio after the last cut (with a shorter
  encoder window, ", W s window", every decode of the variant uses it).

The baseline, in the same run and on the same audio, is ``WhisperRecognizer.transcribe``
(``final=True``) on the whole utterance at the end of speech: what the server does today.
Variants alternate item by item (their order rotates), never compared across runs.

Measured per variant: corpus WER per voice kind (bench/textnorm.py), the tail (end of
turn known → final text: waiting for a running partial + the final decode) p50/p95,
CPU seconds of decoding per second of audio (process CPU time, alignment counted only
where trimming needs it), and each committed word's latency (commit time − the word's
end in the audio, from its aligned time).

    PYTHONPATH=src:bench nice -n 5 .venv/bin/python bench/streaming_asr.py
    ... --items 'human-*' --limit 10 --steps 0.5 1.0 --agreements 2 3
    ... --json /tmp/streaming.json --markdown /tmp/streaming.md

Needs the evaluation set's audio (``bench/evalset.py build``) and the Whisper models.
Decoding uses the engine's lower-level pieces (``_Model._prompt``, ``_encode``): the
recognizer has no hook yet for a prompt or word times (see docs/asr.md).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see docs/asr.md "Running it well"

import numpy as np
from evalset import DEFAULT_CACHE, Built, build, load_items, resample, select, to_float
from lib.stats import pct
from textnorm import word_errors

from openlive.engines.asr import whisper as engine
from openlive.session.agreement import LocalAgreement, Word, join, words_of

SR = 16_000
VOICE_KINDS = ("human", "piper", "kokoro", "espeak")
SPEECH_KINDS = ("transcribe", "question", "pause")
LEAD_S = 0.2  # audio kept before the speech onset, as the VAD's pre-roll keeps it
PROMPT_TOKENS = 223  # Whisper's prompt limit (half its 448-token context, minus one)
_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"


# --- decoding ---------------------------------------------------------------------------


@dataclass
class Decoded:
    """One decode of a buffer: words timed from the buffer's start, costs in seconds."""

    words: list[Word]
    text: str
    wall: float  # encoder + decoder, wall clock
    cpu: float  # the same, process CPU time
    align_wall: float = 0.0  # word timing on top (cross-attention alignment)
    align_cpu: float = 0.0


class Decoder:
    """The recognizer's own model and prompt, called directly to get a prompt and word times
    (WhisperRecognizer.transcribe offers neither)."""

    def __init__(self, recognizer: engine.WhisperRecognizer) -> None:
        self.recognizer = recognizer
        self.loop = asyncio.new_event_loop()  # the recognizer is used from one loop

    def transcribe(self, pcm: bytes, language: str) -> str:
        """The server's call: a final decode of the whole utterance."""
        got = self.loop.run_until_complete(self.recognizer.transcribe(pcm, language=language))
        return got.text

    def _model(self, code: str) -> Any:
        # same choice as WhisperRecognizer.transcribe for a known language
        return self.recognizer._english if code == "en" else self.recognizer._multilingual

    def decode(self, samples: np.ndarray, code: str, prompt_text: str = "",
               timed: bool = True, window_s: float | None = None) -> Decoded:
        options = self.recognizer._decode
        if not len(samples) or engine.level_dbfs(samples) < options.silence_dbfs:
            return Decoded([], "", 0.0, 0.0)
        model = self._model(code)
        whisper = model.load()
        wall, cpu = time.perf_counter(), time.process_time()
        encoded = engine._encode(whisper, samples, window_s or options.window_s)
        tokenizer, start, suppress = model._prompt(whisper, code)
        prompt = list(start)
        if prompt_text:
            previous = tokenizer.encode(" " + prompt_text.strip())[-PROMPT_TOKENS:]
            prompt = [tokenizer.sot_prev, *previous, *start]
        duration = len(samples) / SR
        result = whisper.model.generate(
            encoded, [prompt], beam_size=1,
            max_length=len(prompt) + int(duration * engine._TOKENS_PER_S) + 10,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=suppress,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = str(tokenizer.decode(tokens)).strip()
        if result.no_speech_prob > options.no_speech_threshold or not engine._has_words(text):
            tokens, text = [], ""
        done = Decoded([], text, time.perf_counter() - wall, time.process_time() - cpu)
        if not tokens:
            return done
        if not timed:
            done.words = list(words_of(text))
            return done
        wall, cpu = time.perf_counter(), time.process_time()
        done.words = _aligned_words(whisper, tokenizer, tokens, encoded,
                                    round(duration * engine._FRAMES_PER_S))
        done.align_wall, done.align_cpu = time.perf_counter() - wall, time.process_time() - cpu
        return done


def _aligned_words(whisper: Any, tokenizer: Any, tokens: list[int], encoded: Any,
                   frames: int) -> list[Word]:
    from faster_whisper.transcribe import merge_punctuations

    [alignment] = whisper.find_alignment(tokenizer, [tokens], encoded, frames)
    merge_punctuations(alignment, _PREPEND, _APPEND)
    return [Word(a["word"].strip(), float(a["start"]), float(a["end"]))
            for a in alignment if a["word"].strip()]


# --- one utterance under one variant ------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    step: float  # seconds of new audio between decodes
    agreement: int  # LocalAgreement-n
    # cut the buffer at the last committed word once it is longer than this (seconds),
    # prompt with the text before the cut; None: never cut
    trim: float | None
    window_s: float | None = None  # the encoder's shortest window (None: the server's)

    @property
    def name(self) -> str:
        trim = "" if self.trim is None else f", trim over {self.trim:g} s"
        window = f", {self.window_s:g} s window" if self.window_s else ""
        return f"{self.step:g} s, n={self.agreement}{trim}{window}"


@dataclass
class Run:
    """What one variant made of one utterance."""

    item: str
    voice_kind: str
    variant: str
    text: str
    errors: int
    ref_words: int
    audio_s: float
    tail_s: float  # end of turn known → final text
    final_decode_s: float  # the final decode alone
    cpu_s: float  # decoding CPU for the whole utterance
    busy_s: float  # decoding wall time for the whole utterance (the decoder slot is held)
    decodes: int
    word_latency_s: list[float] = field(default_factory=list)  # commit − word end, per word
    committed_early: int = 0  # words committed before the end of speech
    interim_updates: int = 0  # decodes that changed what the client would be shown


@dataclass
class Whole:
    """The baseline: one whole-utterance decode at the end of speech."""

    text: str
    wall: float
    cpu: float


def stream(decoder: Decoder, samples: np.ndarray, code: str, variant: Variant, whole: Whole,
           pause: float) -> tuple[LocalAgreement, dict[str, Any]]:
    """Feed ``samples`` in real time under ``variant``; see the module docstring."""
    end = len(samples) / SR
    policy = LocalAgreement(variant.agreement)
    free_at = decoded_to = cpu = busy = 0.0
    decodes = updates = 0
    latency: list[float] = []
    shown = ""
    while (start := max(free_at, decoded_to + variant.step)) < end:
        buffer = samples[int(policy.offset * SR): int(start * SR)]
        got = decoder.decode(buffer, code, policy.prompt(),
                             window_s=variant.window_s)
        cutting = variant.trim is not None  # only a cut needs word times
        cost = got.wall + (got.align_wall if cutting else 0.0)
        cpu += got.cpu + (got.align_cpu if cutting else 0.0)
        decodes += 1
        busy += cost
        free_at, decoded_to = start + cost, start
        update = policy.update(got.words)
        latency += [free_at - (w.end if w.end is not None else start) for w in update.committed]
        now = join([*policy.committed, *update.tail])
        updates += now != shown
        shown = now
        if (variant.trim is not None and start - policy.offset > variant.trim
                and (cut := policy.trim_point()) is not None):
            policy.trim(cut)
    early = len(policy.committed)
    known = end + pause
    begin = max(free_at, known)
    if policy.offset > 0 or variant.window_s:  # its own final decode (after the cut)
        last = decoder.decode(samples[int(policy.offset * SR):], code, policy.prompt(),
                              window_s=variant.window_s)
        final_s, final_cpu = last.wall + last.align_wall, last.cpu + last.align_cpu
        flushed = policy.flush(last.words)
    else:
        final_s, final_cpu = whole.wall, whole.cpu
        flushed = policy.flush(words_of(whole.text))
    decodes += 1
    done = begin + final_s
    latency += [done - (w.end if w.end is not None else end) for w in flushed.committed]
    return policy, {"tail_s": done - known, "final_decode_s": final_s, "cpu_s": cpu + final_cpu,
                    "busy_s": busy + final_s,
                    "decodes": decodes, "word_latency_s": latency, "committed_early": early,
                    "interim_updates": updates}


def utterance(built: Built) -> np.ndarray:
    """The item's speech at 16 kHz, from just before its onset to its end."""
    audio = to_float(np.frombuffer(built.pcm(), dtype="<i2"))
    rate = built.item.rate
    start = max(0, int((built.speech_start - LEAD_S) * rate))
    speech = audio[start: int(built.speech_end * rate)]
    return np.ascontiguousarray(resample(speech, rate, SR), dtype=np.float32)


def run_item(decoder: Decoder, built: Built, variants: Sequence[Variant], rotation: int,
             pause: float) -> list[Run]:
    item = built.item
    code = engine.whisper_language(item.language) or "en"
    samples = utterance(built)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    audio_s = len(samples) / SR

    def baseline() -> Whole:
        wall, cpu = time.perf_counter(), time.process_time()
        text = decoder.transcribe(pcm, item.language)
        return Whole(text, time.perf_counter() - wall, time.process_time() - cpu)

    def run(name: str, text: str, **measures: Any) -> Run:
        errors, ref = word_errors(item.text, text, item.language)
        return Run(item.id, item.voice_kind, name, text, errors, ref, audio_s, **measures)

    whole = baseline()
    runs = [run("whole utterance (today)", whole.text, tail_s=whole.wall,
                final_decode_s=whole.wall, cpu_s=whole.cpu, busy_s=whole.wall,
                decodes=1)]
    # variants without trimming decode the same buffers whatever n is: one job per step
    jobs: list[Callable[[], list[Run]]] = []
    for step in dict.fromkeys(v.step for v in variants):
        same = [v for v in variants if v.step == step and v.trim is None]
        if same:
            jobs.append(functools.partial(_shared, decoder, samples, code, same, whole, pause,
                                          run))
    jobs += [functools.partial(_shared, decoder, samples, code, [v], whole, pause, run)
             for v in variants if v.trim is not None]
    shift = rotation % max(1, len(jobs))
    for job in jobs[shift:] + jobs[:shift]:
        runs += job()
    return runs


def _one(decoder: Decoder, samples: np.ndarray, code: str, variant: Variant, whole: Whole,
         pause: float, run: Callable[..., Run]) -> Run:
    policy, measures = stream(decoder, samples, code, variant, whole, pause)
    return run(variant.name, policy.text, **measures)


class _Replay(Decoder):
    """Decodes once, replays the same results (and costs) to each further policy."""

    def __init__(self, inner: Decoder) -> None:
        self.recognizer = inner.recognizer
        self.loop = inner.loop
        self.inner = inner
        self.log: list[Decoded] = []
        self.cursor = 0

    def decode(self, samples: np.ndarray, code: str, prompt_text: str = "",
               timed: bool = True, window_s: float | None = None) -> Decoded:
        if self.cursor < len(self.log):
            got = self.log[self.cursor]
        else:
            got = self.inner.decode(samples, code, prompt_text, timed, window_s)
            self.log.append(got)
        self.cursor += 1
        return got


def _shared(decoder: Decoder, samples: np.ndarray, code: str, variants: Sequence[Variant],
            whole: Whole, pause: float, run: Callable[..., Run]) -> list[Run]:
    """Untrimmed variants of one step: the decodes (and their timing) of the first are
    replayed to the others; with equal costs the schedule, hence the buffers, match."""
    replay = _Replay(decoder)
    out = []
    for variant in variants:
        replay.cursor = 0
        out.append(_one(replay, samples, code, variant, whole, pause, run))
    return out


# --- report -------------------------------------------------------------------------------


def _wer(runs: Sequence[Run]) -> str:
    ref = sum(r.ref_words for r in runs)
    return f"{100 * sum(r.errors for r in runs) / ref:.1f} %" if ref else "–"


def _ms(values: Sequence[float]) -> str:
    return f"{1000 * pct(values, 0.5):.0f} / {1000 * pct(values, 0.95):.0f}" if values else "–"


def report(runs: Sequence[Run], names: Sequence[str]) -> str:
    kinds = [k for k in VOICE_KINDS if any(r.voice_kind == k for r in runs)]
    by = {(n, k): [r for r in runs if r.variant == n and r.voice_kind == k]
          for n in names for k in kinds}
    items = len({r.item for r in runs})
    lines = [f"Word error rate (corpus, {items} utterances):", "",
             "| variant | " + " | ".join(f"{k} ({len(by[names[0], k])})" for k in kinds)
             + " | all |",
             "|---|" + "---|" * (len(kinds) + 1)]
    for n in names:
        every = [r for r in runs if r.variant == n]
        lines.append(f"| {n} | " + " | ".join(_wer(by[n, k]) for k in kinds)
                     + f" | {_wer(every)} |")
    audio = [r.audio_s for r in runs if r.variant == names[0]]
    lines += ["", (f"Cost and timing ({len(audio)} utterances of {pct(audio, 0.5):.1f} s "
              f"(p50), {pct(audio, 0.95):.1f} s (p95); ms: p50 / p95 over utterances, "
              "latency over words):"),
              "", ("| variant | tail after end of turn | final decode "
                   "| CPU s / decoder busy s per s of audio | decodes per utterance "
                   "| words committed during speech | their latency (end of word → commit) "
                   "| words left for the end | interim updates per utterance "
                   "| committed during speech ≠ start of the whole decode | WER |"),
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    whole = {r.item: r.text for r in runs if r.variant == names[0]}
    for n in names:
        lines.append(_cost_row(n, [r for r in runs if r.variant == n], whole))
    return "\n".join(lines) + "\n"


def _diverged(run: Run, whole: str) -> bool:
    """The words committed during speech are not how the whole-utterance decode starts."""
    early = [w.key for w in words_of(run.text)][: run.committed_early]
    return early != [w.key for w in words_of(whole)][: len(early)]


def _cost_row(name: str, runs: Sequence[Run], whole: dict[str, str]) -> str:
    audio = sum(r.audio_s for r in runs)
    words = sum(len(r.word_latency_s) for r in runs)
    early = [x for r in runs for x in r.word_latency_s[: r.committed_early]]
    left = [len(r.word_latency_s) - r.committed_early for r in runs]
    streamed = (f"{100 * len(early) / words:.0f} % | {_ms(early)} | "
                f"{pct(left, 0.5):.0f} / {pct(left, 0.95):.0f} | "
                f"{sum(r.interim_updates for r in runs) / len(runs):.1f} | "
                f"{sum(_diverged(r, whole[r.item]) for r in runs)}/{len(runs)} |"
                if words else "– | – | – | – | – |")
    return (f"| {name} | {_ms([r.tail_s for r in runs])} | "
            f"{_ms([r.final_decode_s for r in runs])} | "
            f"{sum(r.cpu_s for r in runs) / audio:.2f} / {sum(r.busy_s for r in runs) / audio:.2f}"
            f" | {sum(r.decodes for r in runs) / len(runs):.1f} | {streamed} {_wer(runs)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", nargs="*", default=[], help="id globs (default: all speech)")
    parser.add_argument("--limit", type=int, help="first N items per voice kind")
    parser.add_argument("--steps", nargs="+", type=float, default=[0.5, 1.0])
    parser.add_argument("--agreements", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--trims", nargs="*", type=float, default=[4.0],
                        help="variants cutting the buffer once longer than this (s; 0: at "
                             "every commit); none: no cutting")
    parser.add_argument("--trim-windows", nargs="*", type=float, default=[],
                        help="also cut variants with these shorter encoder windows (s)")
    parser.add_argument("--pause", type=float, default=0.128,
                        help="seconds from the end of speech until the turn's end is known")
    parser.add_argument("--threads", type=int, help="Whisper's CPU threads (default: cores)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--build", action="store_true", help="make missing audio first")
    parser.add_argument("--json", type=Path, help="write every run here")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--report", type=Path, help="only print the tables of a --json file")
    args = parser.parse_args()
    if args.report:
        old = [Run(**r) for r in json.loads(args.report.read_text())]
        print(report(old, list(dict.fromkeys(r.variant for r in old))))
        return

    chosen = [i for i in select(load_items(), args.items)
              if i.kind in SPEECH_KINDS and i.voice_kind in VOICE_KINDS]
    if args.limit:
        chosen = [i for k in VOICE_KINDS
                  for i in [c for c in chosen if c.voice_kind == k][: args.limit]]
    if not args.build:  # making missing audio needs the synthesizers (minutes); say so
        missing = [i.id for i in chosen if not (args.cache / "audio" / f"{i.id}.json").exists()]
        if missing:
            print(f"skipped, audio not built: {', '.join(missing)}", file=sys.stderr)
        chosen = [i for i in chosen if i.id not in missing]
    built = build(chosen, args.cache, quiet=True)
    variants = [Variant(s, n, t) for s in args.steps for t in (None, *args.trims)
                for n in args.agreements]
    variants += [Variant(s, n, t, w) for w in args.trim_windows for t in args.trims
                 for s in args.steps for n in args.agreements]
    names = ["whole utterance (today)"] + [v.name for v in variants]
    recognizer = engine.WhisperRecognizer(cpu_threads=args.threads)
    decoder = Decoder(recognizer)
    runs: list[Run] = []
    for n, item in enumerate(chosen):
        runs += run_item(decoder, built[item.id], variants, n, args.pause)
        print(f"{n + 1}/{len(chosen)} {item.id}", file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in runs]))
    text = report(runs, names)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
