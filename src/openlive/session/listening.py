"""The listening half of a session: from the user's audio to a finished user turn.

Pure, like the machine that owns it. Audio bytes never stop here: the session hands
them to the driver (``IngestAudio``), which resamples, keeps them, scores each 32 ms
frame with the VAD and feeds the scores back (``SpeechScored``). From the scores, or
from the client's ``activityStart`` / ``activityEnd``, this class decides where a user
turn starts and ends, asks the end-of-turn model when the user pauses (when the client
left ``silenceDurationMs`` unset), and asks for a transcript of the turn's audio.

Times are seconds of audio received (16 kHz stream time), not wall time.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.audio.pcm import check_pcm_bytes, parse_audio_mime
from openlive.errors import InvalidArgument
from openlive.protocol.types import Blob
from openlive.session.actions import Action, IngestAudio, ScoreEndOfTurn, Transcribe
from openlive.session.activity import (
    ActivityConfig,
    ActivityDetector,
    PauseDetected,
    SpeechEnded,
    SpeechStarted,
)

END_OF_TURN_THRESHOLD = 0.5  # Smart Turn's "done" probability


@dataclass(frozen=True, slots=True)
class UserTurnStarted:
    """The user began speaking (barge-in point)."""

    at: float


@dataclass(frozen=True, slots=True)
class UserTurnEnded:
    """The user's turn audio is complete; a ``Transcribe`` was issued for it."""

    turn_id: int
    speech_end: float


Signal = UserTurnStarted | UserTurnEnded


class Listening:
    """Turn-taking for one session's audio stream."""

    def __init__(self, activity: ActivityConfig, *, end_of_turn_model: bool,
                 language: str | None) -> None:
        self.detector = ActivityDetector(activity)
        self.manual = activity.disabled
        self._semantic = end_of_turn_model and self.detector.semantic_end_of_turn
        self._language = language
        self.audio_time = 0.0  # seconds of audio received so far
        self._turn_from: float | None = None  # start of the current turn's audio
        self._next_turn_id = 1
        self._scoring: int | None = None  # turn id with an end-of-turn check in flight

    # -- input from the client ------------------------------------------------------------

    def on_audio(self, blob: Blob) -> list[Action]:
        """Validate one audio chunk and pass it to the driver."""
        fmt = parse_audio_mime(blob.mime_type)
        check_pcm_bytes(blob.data)
        self.audio_time += len(blob.data) / 2 / fmt.rate
        return [IngestAudio(blob.data, fmt.rate)]

    def on_activity_start(self) -> tuple[list[Action], list[Signal]]:
        if not self.manual:
            raise InvalidArgument(
                "activityStart needs automaticActivityDetection.disabled=true in setup."
            )
        self._turn_from = self.audio_time
        return [], [UserTurnStarted(self.audio_time)]

    def on_activity_end(self) -> tuple[list[Action], list[Signal]]:
        if not self.manual:
            raise InvalidArgument(
                "activityEnd needs automaticActivityDetection.disabled=true in setup."
            )
        return self._end_turn(self.audio_time)

    def on_stream_end(self) -> tuple[list[Action], list[Signal]]:
        """``audioStreamEnd``: the microphone closed; flush a pending utterance."""
        if self.manual or not self.detector.in_turn:
            return [], []
        ended = self.detector.end_turn_now(self.audio_time)
        return self._end_turn(ended.speech_end if ended else self.audio_time)

    # -- input from the driver ------------------------------------------------------------

    def on_score(self, at: float, probability: float) -> tuple[list[Action], list[Signal]]:
        """One VAD frame's score; may start or end a turn or ask the end-of-turn model."""
        actions: list[Action] = []
        signals: list[Signal] = []
        for event in self.detector.feed(at, probability):
            match event:
                case SpeechStarted(audio_from=audio_from):
                    self._turn_from = audio_from
                    self._scoring = None
                    signals.append(UserTurnStarted(event.at))
                case PauseDetected():
                    if self._semantic and self._scoring is None and self._turn_from is not None:
                        self._scoring = self._next_turn_id
                        actions.append(ScoreEndOfTurn(self._next_turn_id, self._turn_from,
                                                      event.speech_end))
                case SpeechEnded(speech_end=speech_end):
                    more_actions, more_signals = self._end_turn(speech_end)
                    actions += more_actions
                    signals += more_signals
        return actions, signals

    def on_end_of_turn_score(self, turn_id: int, probability: float
                             ) -> tuple[list[Action], list[Signal]]:
        """The end-of-turn model's answer for the pause it was asked about."""
        if turn_id != self._scoring:
            return [], []
        self._scoring = None
        if probability < END_OF_TURN_THRESHOLD or not self.detector.in_turn:
            return [], []  # mid-sentence: keep listening; the silence window still runs
        ended = self.detector.end_turn_now(self.audio_time)
        return self._end_turn(ended.speech_end if ended else self.audio_time)

    # -- turn end -----------------------------------------------------------------------------

    def _end_turn(self, speech_end: float) -> tuple[list[Action], list[Signal]]:
        start = self._turn_from
        self._turn_from = None
        self._scoring = None
        if start is None or speech_end <= start:
            return [], []
        turn_id = self._next_turn_id
        self._next_turn_id += 1
        return ([Transcribe(turn_id, start, speech_end, self._language)],
                [UserTurnEnded(turn_id, speech_end)])
