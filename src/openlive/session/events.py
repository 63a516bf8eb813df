"""Events fed into a session: what the client said and what the engines did."""

from __future__ import annotations

from dataclasses import dataclass

from openlive.audio.prosody import Prosody
from openlive.audio.words import TimedWord
from openlive.chat import ToolCall
from openlive.protocol.client import ClientMessage


@dataclass(frozen=True, slots=True)
class ClientMessageReceived:
    message: ClientMessage


@dataclass(frozen=True, slots=True)
class GenerationDelta:
    generation_id: int
    text: str


@dataclass(frozen=True, slots=True)
class GenerationThought:
    """A piece of the model's reasoning before its answer: never spoken or transcribed."""

    generation_id: int
    text: str


@dataclass(frozen=True, slots=True)
class GenerationFinished:
    generation_id: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # of prompt_tokens, kept from an earlier request's evaluation
    thoughts_tokens: int = 0  # the model's reasoning, not part of completion_tokens


@dataclass(frozen=True, slots=True)
class GenerationToolCalls:
    """The model asked for these calls (validated against the declarations), in order."""

    generation_id: int
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class GenerationMalformedCall:
    """The model tried to call functions, but no attempt was a valid call."""

    generation_id: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RelevanceJudged:
    """How likely the model found it that the user's message is for it
    (``JudgeRelevance``); 1.0 when it could not tell (a failure answers as usual)."""

    judge_id: int
    probability: float
    prompt_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ServerToolFinished:
    """A server-side tool (``RunServerTool``) returned; ``result`` is JSON text."""

    call_id: str
    result: str


@dataclass(frozen=True, slots=True)
class GenerationFailed:
    generation_id: int
    reason: str
    # the input does not fit the model (INVALID_ARGUMENT); otherwise the model failed
    too_large: bool = False



@dataclass(frozen=True, slots=True)
class SpeechScored:
    """The VAD's speech probability for the 32 ms frame ending at ``at`` (audio time)."""

    at: float
    probability: float
    echo: float = 0.0  # how much the frame looks like the server's own voice coming back


@dataclass(frozen=True, slots=True)
class EndOfTurnScored:
    turn_id: int
    probability: float  # that the user has finished


@dataclass(frozen=True, slots=True)
class TranscriptReady:
    turn_id: int
    text: str
    language: str | None = None
    end: float = 0.0  # the audio time the transcription went up to (from ``Transcribe``)
    prosody: Prosody | None = None  # how it was said, when ``Transcribe`` asked
    # the share of the speech's energy that the server's own audio coming back explains
    # (runtime/echo.py ``EchoGuard.replayed``); 0 when nothing was sent lately
    echo: float = 0.0
    # the audio time the transcribed audio began at (``Transcribe.start``, or later when
    # the oldest of it was no longer kept)
    start: float = 0.0
    # each word with its audio times, when ``Transcribe`` asked for word timings and the
    # recognizer gives them
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True, slots=True)
class TranscriptionFailed:
    turn_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SpeechSynthesized:
    generation_id: int
    piece_id: int
    pcm: bytes  # 24 kHz 16-bit mono


@dataclass(frozen=True, slots=True)
class SynthesisDrained:
    generation_id: int


@dataclass(frozen=True, slots=True)
class SynthesisFailed:
    generation_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer the session asked for (``WakeAt``) is due."""


@dataclass(frozen=True, slots=True)
class SnapshotSaved:
    handle: str
    consumed: int | None = None  # the saved snapshot's SaveSnapshot.consumed


@dataclass(frozen=True, slots=True)
class SnapshotLoaded:
    data: bytes


@dataclass(frozen=True, slots=True)
class ShutdownRequested:
    """The server is stopping: tell the client to go away within ``grace`` seconds."""

    grace: float


Event = (
    ClientMessageReceived | GenerationDelta | GenerationThought | GenerationFinished
    | GenerationFailed | GenerationToolCalls | GenerationMalformedCall | ServerToolFinished
    | RelevanceJudged | SpeechScored | EndOfTurnScored | TranscriptReady | TranscriptionFailed
    | SpeechSynthesized | SynthesisDrained | SynthesisFailed | Tick | ShutdownRequested
    | SnapshotSaved | SnapshotLoaded
)
