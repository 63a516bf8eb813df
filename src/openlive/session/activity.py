"""Automatic activity detection: per-frame speech probabilities in, turn events out.

Pure: no I/O, no clock, no model. The runtime scores each 32 ms frame of 16 kHz audio
with the VAD and calls :meth:`ActivityDetector.feed` with the frame's end time (seconds
of audio time) and its speech probability; the detector answers with events:

- :class:`SpeechStarted` ``(at, audio_from, onset)`` — the user's turn began. ``at`` is
  when the start was committed (the end of the frame that committed it); ``audio_from``
  is where the turn's audio should begin for the recognizer; ``onset`` where the speech
  itself began (the start of the first speech frame of the run that committed it).
- :class:`PauseDetected` ``(at, speech_end, silence_ms)`` — the user has been quiet for
  ``pause_ms`` (128 ms by default), and again every ``pause_repeat_ms`` after that,
  while the silence window still runs. Consult the end-of-turn model here, or start
  speculative work; call :meth:`ActivityDetector.end_turn_now` if it says "done".
- :class:`SpeechEnded` ``(at, speech_end)`` — the silence window ran out (or
  :meth:`~ActivityDetector.end_turn_now` was called). ``speech_end`` is where the
  silence began: the user's true end of speech.

Theory of operation — a Schmitt trigger with two timers. A frame is *speech* when its
probability is at least the start threshold, *silence* when it is below the end
threshold, and *uncertain* in between (hysteresis: a score hovering around one value
cannot make the state flap). Uncertain frames neither start a turn nor open a silence
window; once a window runs they count as silence, and only speech frames cancel it.

::

    IDLE     --speech frame-->                 PENDING
    PENDING  --enough speech (SpeechStarted)--> SPEAKING
    PENDING  --silence frame, or a long dip-->  IDLE
    SPEAKING --silence frame-->                 SILENCE   (PauseDetected while it lasts)
    SILENCE  --enough speech frames in a row--> SPEAKING
    SILENCE  --window ran out (SpeechEnded)-->  IDLE
    any      --end_turn_now() (SpeechEnded)-->  IDLE

The knobs of ``realtimeInputConfig.automaticActivityDetection``, each honoured exactly
when set (the defaults are server settings, :class:`ActivityDefaults`):

``startOfSpeechSensitivity`` (default HIGH)
    The start threshold and a floor under the speech needed before a start is
    declared. HIGH: probability ≥ 0.5 and one frame; LOW: ≥ 0.75 and 224 ms — so
    coughs, clicks and short noises do not open a turn (or barge in).
``prefixPaddingMs`` (default 64 ms)
    The Live API's meaning: "the required duration of detected speech before
    start-of-speech is committed". PENDING needs this much speech (frames at or above
    the start threshold; uncertain dips of up to 64 ms are tolerated but do not
    count) — or the sensitivity's floor, whichever is larger. It also sets how much
    audio before the onset the turn keeps: ``audio_from = onset - max(prefixPaddingMs,
    preroll_ms)``, where the server's ``preroll_ms`` (300 ms) keeps the recognizer from
    losing a soft first consonant.
``endOfSpeechSensitivity`` (default HIGH)
    The end threshold (a frame below it is silence) and the temporal hysteresis of the
    silence window. HIGH: below 0.45 is silence, and it takes 3 speech frames in a row
    to cancel a running silence window (a click does not keep the turn open); LOW:
    only below 0.2 is silence (quiet or breathy speech keeps the turn), and one speech
    frame cancels the window.
``silenceDurationMs`` (unset by default)
    The silence that ends the turn. When set, exactly that and nothing earlier. When
    unset, the window is the server's fallback (``silence_ms``, 1500 ms) and
    :attr:`ActivityDetector.semantic_end_of_turn` is True: the session asks the
    end-of-turn model at each :class:`PauseDetected` and may end the turn earlier with
    :meth:`~ActivityDetector.end_turn_now`.
``disabled``
    The detector never fires; the client marks turns with ``activityStart`` /
    ``activityEnd``.

Times are seconds of audio time (monotonic within a stream). Durations are rounded up
to whole frames: 20 ms means one 32 ms frame, a 500 ms silence window ends the turn
512 ms after the last speech frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, assert_never

from openlive.errors import InvalidArgument
from openlive.protocol.client import AutomaticActivityDetection

FRAME_SECONDS = 0.032  # Silero's frame: 512 samples at 16 kHz

Sensitivity = Literal["HIGH", "LOW"]


@dataclass(frozen=True, slots=True)
class StartProfile:
    """What start-of-speech sensitivity means in numbers."""

    threshold: float  # a frame scoring at least this is speech
    min_speech_ms: int  # speech needed before a start, whatever prefixPaddingMs says


@dataclass(frozen=True, slots=True)
class EndProfile:
    """What end-of-speech sensitivity means in numbers."""

    threshold: float  # a frame scoring below this is silence
    resume_frames: int  # speech frames in a row that cancel a running silence window


@dataclass(frozen=True, slots=True)
class ActivityDefaults:
    """Server-side settings: what the sensitivities mean, and values for unset knobs."""

    start_high: StartProfile = StartProfile(threshold=0.5, min_speech_ms=32)
    start_low: StartProfile = StartProfile(threshold=0.75, min_speech_ms=224)
    end_high: EndProfile = EndProfile(threshold=0.45, resume_frames=3)
    end_low: EndProfile = EndProfile(threshold=0.2, resume_frames=1)
    prefix_padding_ms: int = 64  # speech needed to commit a start, when unset
    preroll_ms: int = 300  # audio kept before the onset, at least
    silence_ms: int = 1500  # the silence window when unset (a semantic decision may cut it)
    pause_ms: int = 128  # silence that counts as a pause
    pause_repeat_ms: int = 300  # a pause is reported again after this much more silence
    max_dip_ms: int = 64  # uncertain frames tolerated in a row while a start is pending


@dataclass(frozen=True, slots=True)
class ActivityConfig:
    """The client's ``automaticActivityDetection``, as read by :meth:`from_wire`."""

    disabled: bool = False
    start_sensitivity: Sensitivity = "HIGH"
    end_sensitivity: Sensitivity = "HIGH"
    prefix_padding_ms: int | None = None  # None: unset, use the server default
    silence_duration_ms: int | None = None  # None: unset, end the turn semantically

    @classmethod
    def from_wire(cls, wire: AutomaticActivityDetection | None) -> ActivityConfig:
        """Read the setup's ``automaticActivityDetection``; InvalidArgument if negative."""
        if wire is None:
            return cls()
        for name, value in (
            ("prefixPaddingMs", wire.prefix_padding_ms),
            ("silenceDurationMs", wire.silence_duration_ms),
        ):
            if value is not None and value < 0:
                raise InvalidArgument(f"automaticActivityDetection.{name} must not be negative.")
        return cls(
            disabled=bool(wire.disabled),
            start_sensitivity="LOW" if wire.start_of_speech_sensitivity == "START_SENSITIVITY_LOW"
            else "HIGH",
            end_sensitivity="LOW" if wire.end_of_speech_sensitivity == "END_SENSITIVITY_LOW"
            else "HIGH",
            prefix_padding_ms=wire.prefix_padding_ms,
            silence_duration_ms=wire.silence_duration_ms,
        )


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at: float  # when the start was committed
    audio_from: float  # where the turn's audio begins (onset minus padding)
    onset: float  # where the speech began: the start of its first speech frame


@dataclass(frozen=True, slots=True)
class PauseDetected:
    at: float
    speech_end: float  # where the silence began
    silence_ms: int  # silence so far, in whole frames


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    at: float  # when the turn was ended
    speech_end: float  # where the silence began (== at when ended during speech)


ActivityEvent = SpeechStarted | PauseDetected | SpeechEnded


class State(Enum):
    IDLE = "idle"  # no turn
    PENDING = "pending"  # speech seen, not yet enough to commit a start
    SPEAKING = "speaking"  # in a turn, the user speaks
    SILENCE = "silence"  # in a turn, the silence window runs


@dataclass(slots=True)
class _Tracking:
    """Mutable bookkeeping of one stream; reset wholesale between turns."""

    onset: float = 0.0  # start of the first speech frame of the pending run
    speech_frames: int = 0  # speech frames counted toward the start
    dip_frames: int = 0  # uncertain frames in a row while pending
    silence_from: float = 0.0  # start of the silence in a turn
    resume_frames: int = 0  # speech frames in a row during the silence window
    pauses_reported: int = 0


@dataclass(slots=True)
class ActivityDetector:
    """Turn events for ONE audio stream. Call :meth:`feed` once per VAD frame, in order."""

    config: ActivityConfig = field(default_factory=ActivityConfig)
    defaults: ActivityDefaults = field(default_factory=ActivityDefaults)
    frame_seconds: float = FRAME_SECONDS
    state: State = field(default=State.IDLE, init=False)
    _track: _Tracking = field(default_factory=_Tracking, init=False, repr=False)
    # audio before this time is not the next turn's (stream start, or the last turn's end)
    _audio_floor: float | None = field(default=None, init=False, repr=False)

    # --- the effective knobs ------------------------------------------------------------

    @property
    def start(self) -> StartProfile:
        high = self.config.start_sensitivity == "HIGH"
        return self.defaults.start_high if high else self.defaults.start_low

    @property
    def end(self) -> EndProfile:
        high = self.config.end_sensitivity == "HIGH"
        return self.defaults.end_high if high else self.defaults.end_low

    @property
    def prefix_padding_ms(self) -> int:
        padding = self.config.prefix_padding_ms
        return self.defaults.prefix_padding_ms if padding is None else padding

    @property
    def silence_window_ms(self) -> int:
        window = self.config.silence_duration_ms
        return self.defaults.silence_ms if window is None else window

    @property
    def semantic_end_of_turn(self) -> bool:
        """True when the client left silenceDurationMs unset: ask the end-of-turn model."""
        return not self.config.disabled and self.config.silence_duration_ms is None

    @property
    def in_turn(self) -> bool:
        """True between SpeechStarted and SpeechEnded."""
        return self.state in (State.SPEAKING, State.SILENCE)

    # --- driving it ---------------------------------------------------------------------

    def feed(self, at: float, probability: float) -> list[ActivityEvent]:
        """Take the frame ending at ``at`` with its speech ``probability``; return events."""
        if self.config.disabled:
            return []
        if self._audio_floor is None:
            self._audio_floor = at - self.frame_seconds
        kind = self._classify(probability)
        match self.state:
            case State.IDLE:
                return self._idle(at, kind)
            case State.PENDING:
                return self._pending(at, kind)
            case State.SPEAKING:
                return self._speaking(at, kind)
            case State.SILENCE:
                return self._silence(at, kind)
            case _:
                assert_never(self.state)

    def end_turn_now(self, at: float) -> SpeechEnded | None:
        """End the current turn at ``at`` (a semantic decision, ``audioStreamEnd``).

        Returns the event, or None when no turn was open (a pending start is dropped).
        """
        if self.config.disabled:
            return None
        event = None
        if self.in_turn:
            speech_end = self._track.silence_from if self.state is State.SILENCE else at
            event = SpeechEnded(at=at, speech_end=speech_end)
            self._audio_floor = at
        self._to(State.IDLE)
        return event

    def reset(self) -> None:
        """Forget everything (a new stream, e.g. after the client reopened its mic)."""
        self._to(State.IDLE)
        self._audio_floor = None

    # --- the states ---------------------------------------------------------------------

    def _classify(self, probability: float) -> Literal["speech", "silence", "uncertain"]:
        if probability >= self.start.threshold:
            return "speech"
        if probability < self.end.threshold:
            return "silence"
        return "uncertain"

    def _idle(self, at: float, kind: str) -> list[ActivityEvent]:
        if kind != "speech":
            return []
        self._to(State.PENDING)
        self._track.onset = at - self.frame_seconds
        return self._pending_speech(at)

    def _pending(self, at: float, kind: str) -> list[ActivityEvent]:
        if kind == "speech":
            self._track.dip_frames = 0
            return self._pending_speech(at)
        self._track.dip_frames += 1
        if kind == "silence" or self._track.dip_frames > self._frames(self.defaults.max_dip_ms):
            self._to(State.IDLE)
        return []

    def _pending_speech(self, at: float) -> list[ActivityEvent]:
        self._track.speech_frames += 1
        needed = max(self._frames(self.prefix_padding_ms), self._frames(self.start.min_speech_ms))
        if self._track.speech_frames < needed:
            return []
        onset = self._track.onset
        padding = max(self.prefix_padding_ms, self.defaults.preroll_ms) / 1000
        audio_from = onset - padding
        if self._audio_floor is not None:
            # a turn ended at once (audioStreamEnd) ends where the audio received ends,
            # up to a frame past the last frame scored: what follows starts after it
            onset = max(onset, self._audio_floor)
            audio_from = max(audio_from, self._audio_floor)
        self._to(State.SPEAKING)
        return [SpeechStarted(at=at, audio_from=audio_from, onset=onset)]

    def _speaking(self, at: float, kind: str) -> list[ActivityEvent]:
        if kind != "silence":
            return []
        self._to(State.SILENCE)
        self._track.silence_from = at - self.frame_seconds
        return self._silence_elapsed(at)

    def _silence(self, at: float, kind: str) -> list[ActivityEvent]:
        if kind == "speech":
            self._track.resume_frames += 1
            if self._track.resume_frames >= self.end.resume_frames:
                self._to(State.SPEAKING)
                return []
        else:
            self._track.resume_frames = 0
        return self._silence_elapsed(at)

    def _silence_elapsed(self, at: float) -> list[ActivityEvent]:
        silence_frames = round((at - self._track.silence_from) / self.frame_seconds)
        silence_ms = round(silence_frames * self.frame_seconds * 1000)
        speech_end = self._track.silence_from
        if silence_frames >= self._frames(self.silence_window_ms):
            self._audio_floor = at
            self._to(State.IDLE)
            return [SpeechEnded(at=at, speech_end=speech_end)]
        if silence_frames >= self._next_pause_frames():
            self._track.pauses_reported += 1
            return [PauseDetected(at=at, speech_end=speech_end, silence_ms=silence_ms)]
        return []

    # --- helpers ------------------------------------------------------------------------

    def _next_pause_frames(self) -> float:
        reported = self._track.pauses_reported
        first = self._frames(self.defaults.pause_ms)
        if reported == 0:
            return first
        if self.defaults.pause_repeat_ms <= 0:
            return math.inf  # report each pause once
        return first + reported * self._frames(self.defaults.pause_repeat_ms)

    def _frames(self, ms: int) -> int:
        """Whole frames needed to cover ``ms`` (at least one: a frame is the resolution)."""
        return max(1, math.ceil(ms / 1000 / self.frame_seconds - 1e-9))

    def _to(self, state: State) -> None:
        """Enter ``state`` with fresh bookkeeping (the onset survives IDLE→PENDING only)."""
        self.state = state
        if state in (State.IDLE, State.SPEAKING):
            self._track = _Tracking()
        elif state is State.SILENCE:
            self._track.resume_frames = 0
            self._track.pauses_reported = 0
