"""Actions a session asks its driver to carry out.

What the client is told goes out as output actions: the facts the runtime itself acts
on are typed (:class:`SetupAccepted`, :class:`PlayAudio`, :class:`PlaybackFlushed`,
:class:`TurnComplete`), so the echo guard, the latency trace and the quota meter observe
them instead of reading the wire messages back, and so is :class:`SpeechActivity`, whose
time the runtime spells as the protocol does; every other message is a :class:`Send`.
The runtime turns each into its frame (``runtime/frames.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from openlive.audio.delivery import Delivery
from openlive.chat import GenerationRequest
from openlive.errors import CloseCode
from openlive.protocol.server import InteractionStatus, ServerMessage, UsageMetadata


@dataclass(frozen=True, slots=True)
class Send:
    """Send one message to the client."""

    message: ServerMessage


@dataclass(frozen=True, slots=True)
class SetupAccepted:
    """The setup is accepted (``setupComplete``): the session's metering starts here."""

    session_id: str


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Send this piece of the reply's 24 kHz 16-bit mono audio for the client to play."""

    pcm: bytes = field(repr=False)


#: What interrupted a reply: the user's voice (judged by the VAD and the recognizer),
#: the client's ``activityStart``, a ``clientContent`` turn or ``realtimeInput.text``, or
#: a function result scheduled ``INTERRUPT``.
InterruptCause = Literal["speech", "activity_start", "client_content", "realtime_text",
                         "function_result"]


@dataclass(frozen=True, slots=True)
class PlaybackFlushed:
    """The reply was interrupted (``interrupted``): the client drops what it has not
    played, so none of it can come back as an echo."""

    cause: InterruptCause  # for the operator's metrics; the client is not told


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The model's turn is over (``turnComplete``); ``usage`` is what a turn that ran to
    its end used (an interrupted one reports none)."""

    reason: str | None = None  # turnCompleteReason, e.g. MALFORMED_FUNCTION_CALL
    usage: UsageMetadata | None = None
    # interactionStatus: IDLE unless the session goes on by itself at once (a queued
    # turn, a function result that waited): then IN_PROGRESS, and SDK 3.x's receive()
    # reads on into what follows
    status: InteractionStatus = "IDLE"
    # the model chose not to answer and waits for more input (proactive audio)
    waiting_for_input: bool = False


#: ``voiceActivity.type``: the user started or stopped speaking.
VoiceActivityType = Literal["ACTIVITY_START", "ACTIVITY_END"]


@dataclass(frozen=True, slots=True)
class SpeechActivity:
    """Automatic activity detection heard the user start or stop speaking at ``offset``
    (seconds of the user's audio received on this connection): ``voiceActivity``."""

    type: VoiceActivityType
    offset: float


#: What the client is told, in order.
Output = Send | SetupAccepted | PlayAudio | PlaybackFlushed | TurnComplete | SpeechActivity
#: The same, for isinstance.
OUTPUT_TYPES = (Send, SetupAccepted, PlayAudio, PlaybackFlushed, TurnComplete, SpeechActivity)


@dataclass(frozen=True, slots=True)
class StartGeneration:
    """Run the language model ``backend`` on ``request``; report events with this id."""

    generation_id: int
    backend: str
    request: GenerationRequest
    # an answer ahead of the turn's end, thrown away if the user goes on: the engine
    # serves it after work someone is waiting for
    speculative: bool = False


@dataclass(frozen=True, slots=True)
class JudgeRelevance:
    """Ask the language model ``backend`` how likely it is that the last user message
    of ``request`` is for the assistant (proactive audio); report ``RelevanceJudged``
    with this id. ``CancelGeneration`` with the id stops it."""

    judge_id: int
    backend: str
    request: GenerationRequest


@dataclass(frozen=True, slots=True)
class Prefill:
    """Have the language model ``backend`` evaluate ``request``'s prompt now (nothing is
    generated), so that the turn's answer, which begins the same way, starts sooner.
    A newer ``Prefill`` of the session replaces one still running."""

    backend: str
    request: GenerationRequest


@dataclass(frozen=True, slots=True)
class CancelGeneration:
    """Stop generation ``generation_id`` now; no further events for it are wanted."""

    generation_id: int


@dataclass(frozen=True, slots=True)
class RunServerTool:
    """Run a call with the server-side implementation of built-in ``tool``; report
    ``ServerToolFinished`` (an error becomes an ``{"error": ...}`` result)."""

    call_id: str
    tool: str  # the built-in's wire name, e.g. "googleSearch"
    name: str  # the function the model called
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class CancelServerTool:
    """Stop a server-side call; no result is wanted any more."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Close:
    """End the session with a WebSocket close code and a reason for people."""

    code: CloseCode
    reason: str



@dataclass(frozen=True, slots=True)
class IngestAudio:
    """Take this chunk of the user's 16-bit mono PCM at ``rate`` Hz: resample, keep it,
    score it with the VAD and feed back one ``SpeechScored`` per frame."""

    pcm: bytes
    rate: int


#: What a transcript is for. "final": the user's turn has ended (or a reply waits on the
#: words), someone waits for it. "partial": the words so far at a pause, revisable: the
#: turn may go on, and then the result is dropped. "interim": the words so far while the
#: user still speaks, for the interim transcript and the prefill: the least urgent,
#: skipped when the recognizer has work someone waits for.
TranscriptKind = Literal["final", "partial", "interim"]


@dataclass(frozen=True, slots=True)
class Transcribe:
    """Transcribe the kept audio between ``start`` and ``end`` (seconds of audio time)."""

    turn_id: int
    start: float
    end: float
    language: str | None  # the language asked for (languageCode): no detection
    kind: TranscriptKind = "final"
    # the language the user has been speaking, when none was asked for: detection keeps
    # it unless another language is clear
    expected: str | None = None
    # inputAudioTranscription.languageCodes: the languages the speech may be in (): any)
    languages: tuple[str, ...] = ()
    # what was said just before (the model's last reply): the recognizer's context
    prompt: str | None = None
    # measure how it was said too (loudness, pitch, pace: affective dialog)
    prosody: bool = False
    # time each word too (inputAudioTranscription.wordTimestamp); report the times in
    # audio time
    word_timings: bool = False


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The user started speaking over the reply at ``onset`` (audio time): its audio is
    paused while the speech is judged. Nothing to carry out: the runtime counts it."""

    onset: float


@dataclass(frozen=True, slots=True)
class EndOfTurn:
    """The user's turn ended at ``speech_end`` (audio time): for latency tracing."""

    speech_end: float


@dataclass(frozen=True, slots=True)
class ScoreEndOfTurn:
    """Ask the end-of-turn model whether the user is done, on audio ``start``..``end``."""

    turn_id: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Synthesize:
    """Speak ``text`` for a generation; pieces of one generation are spoken in order."""

    generation_id: int
    piece_id: int
    text: str
    voice: str
    language: str | None
    delivery: Delivery | None = None  # pace, pitch, liveliness (affective dialog)


@dataclass(frozen=True, slots=True)
class EndSynthesis:
    """No more pieces for this generation: report ``SynthesisDrained`` once all are done."""

    generation_id: int


@dataclass(frozen=True, slots=True)
class CancelSynthesis:
    """Drop every queued and running piece of this generation."""

    generation_id: int


@dataclass(frozen=True, slots=True)
class SaveSnapshot:
    """Store this resumption snapshot under a fresh handle; report ``SnapshotSaved``.

    Output the session asks for after this waits until the snapshot is stored and its
    ``sessionResumptionUpdate`` is out: a client that reads up to ``turnComplete`` and
    reconnects with the newest handle it saw resumes with that turn."""

    data: bytes
    consumed: int  # the index of the last client message the snapshot includes


@dataclass(frozen=True, slots=True)
class LoadSnapshot:
    """Load the snapshot a resuming client names; report ``SnapshotLoaded`` or close."""

    handle: str


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Feed a ``Tick`` at this time (the driver's clock). One timer per ``key``: a new
    ``WakeAt`` replaces the pending one of the same key."""

    at: float
    key: str = "playout"


Action = (
    Send | SetupAccepted | PlayAudio | PlaybackFlushed | TurnComplete | SpeechActivity
    | StartGeneration | Prefill
    | JudgeRelevance | CancelGeneration | Close | IngestAudio | Transcribe | BargeIn
    | EndOfTurn | ScoreEndOfTurn | Synthesize | EndSynthesis | CancelSynthesis | WakeAt
    | SaveSnapshot | LoadSnapshot | RunServerTool | CancelServerTool
)
