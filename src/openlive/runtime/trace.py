"""Where the time of one voice turn goes, from the end of the user's speech to the first
audio byte of the answer: measured by the driver, exported as metrics and one log line.

Stages (seconds, wall clock):

- ``endpoint``: end of speech → the turn was declared over (silence window or the
  end-of-turn model);
- ``asr``: recognizing the turn's audio;
- ``llm_first_token`` and ``llm_first_piece``: generation start → first text, and → the
  first speakable piece (clause or sentence);
- ``tts_first_chunk``: that piece → its first audio;
- ``ahead``: how long before the endpoint the answer was started, when it was answered
  during the user's pause (``session/ahead.py``); then the LLM and TTS stages ran (in
  part) before the endpoint and do not add up to the total;
- ``first_audio``: end of speech → first audio byte queued to the client (the total).

The generation stages are kept per generation (:class:`GenerationMarks`), since an answer
ahead starts before the turn it answers has ended; the turn takes the marks of the
generation whose audio went out first.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from openlive import metrics

log = logging.getLogger("openlive.latency")


@dataclass(slots=True)
class AudioClock:
    """Maps audio-stream time to the wall time at which that audio arrived."""

    _audio: list[float] = field(default_factory=list)
    _wall: list[float] = field(default_factory=list)

    def arrived(self, audio_end: float, wall: float) -> None:
        self._audio.append(audio_end)
        self._wall.append(wall)
        if len(self._audio) > 4096:  # keep the recent past only
            del self._audio[:2048], self._wall[:2048]

    def wall_at(self, audio_time: float) -> float | None:
        i = bisect.bisect_left(self._audio, audio_time)
        return self._wall[i] if i < len(self._wall) else None


@dataclass(slots=True)
class GenerationMarks:
    """When one generation started, and its first text, speakable piece and audio."""

    started: float | None = None
    first_token: float | None = None
    first_piece: float | None = None
    first_chunk: float | None = None


@dataclass(slots=True)
class TurnTrace:
    """Timestamps of one voice turn; ``done`` once the first audio has gone out."""

    speech_end: float | None = None
    endpointed: float | None = None
    transcribed: float | None = None
    generation: GenerationMarks | None = None  # of the answer whose audio went out
    first_audio: float | None = None
    done: bool = False

    def stages(self) -> dict[str, float]:
        g = self.generation or GenerationMarks()
        pairs = {
            "endpoint": (self.speech_end, self.endpointed),
            "asr": (self.endpointed, self.transcribed),
            "llm_first_token": (g.started, g.first_token),
            "llm_first_piece": (g.started, g.first_piece),
            "tts_first_chunk": (g.first_piece, g.first_chunk),
            "first_audio": (self.speech_end, self.first_audio),
        }
        stages = {name: b - a for name, (a, b) in pairs.items()
                  if a is not None and b is not None}
        if g.started is not None and self.endpointed is not None and g.started < self.endpointed:
            stages["ahead"] = self.endpointed - g.started
        return stages

    def report(self, session_id: str) -> dict[str, float]:
        """Export the stages once, when the first audio byte is out; return them."""
        if self.done:
            return {}
        self.done = True
        stages = self.stages()
        for name, seconds in stages.items():
            metrics.VOICE_STAGE_SECONDS.labels(stage=name).observe(seconds)
        log.info("session %s: turn latency %s", session_id,
                 ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in stages.items()))
        return stages


MAX_MARKS = 8  # generations whose timestamps are kept for the latency trace


class Tracer:
    """The latency trace of one voice session: the driver tells it what happened, it
    reads the clock at the first of each kind and reports each turn at its first audio.

    Only voice sessions are traced (:meth:`generation_started` with ``voice``)."""

    def __init__(self, session_id: str, clock: Callable[[], float],
                 on_report: Callable[[dict[str, float]], None] | None = None) -> None:
        self._session_id = session_id
        self._clock = clock
        self._on_report = on_report  # also told each turn's stages (the playground shows them)
        self.audio_clock = AudioClock()
        self._trace: TurnTrace | None = None
        self._marks: dict[int, GenerationMarks] = {}  # recent generations

    def turn_ended(self, speech_end: float) -> None:
        """The user's turn ended at ``speech_end`` (audio time): its trace starts."""
        self._trace = TurnTrace(speech_end=self.audio_clock.wall_at(speech_end),
                                endpointed=self._clock())

    def generation_started(self, generation_id: int) -> None:
        self._marks[generation_id] = GenerationMarks(started=self._clock())
        while len(self._marks) > MAX_MARKS:
            del self._marks[next(iter(self._marks))]

    def generation_cancelled(self, generation_id: int) -> None:
        self._marks.pop(generation_id, None)

    def piece_queued(self, generation_id: int) -> None:
        """A piece of the reply went to synthesis."""
        marks = self._marks.get(generation_id)
        if marks is not None and marks.first_piece is None:
            marks.first_piece = self._clock()

    def transcribed(self) -> None:
        if self._trace is not None:
            self._trace.transcribed = self._trace.transcribed or self._clock()

    def first_token(self, generation_id: int) -> None:
        if marks := self._marks.get(generation_id):
            marks.first_token = marks.first_token or self._clock()

    def first_chunk(self, generation_id: int) -> None:
        if marks := self._marks.get(generation_id):
            marks.first_chunk = marks.first_chunk or self._clock()

    @property
    def active(self) -> bool:
        """Whether anything is being timed (else events need not be looked at)."""
        return bool(self._marks) or self._trace is not None

    def audio_sent(self) -> None:
        """Audio went out: the first of a turn ends its trace, which is reported."""
        trace, self._trace = self._trace, None
        if trace is None:
            return
        trace.first_audio = self._clock()
        # no TranscriptReady after the end: the speculative one was ready at once
        trace.transcribed = trace.transcribed or trace.endpointed
        voiced = [gid for gid, marks in self._marks.items() if marks.first_chunk is not None]
        if voiced:  # the newest generation with audio is the one being heard
            trace.generation = self._marks.pop(voiced[-1])
        stages = trace.report(self._session_id)
        if stages and self._on_report is not None:
            self._on_report(stages)
