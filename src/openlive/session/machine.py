"""The sans-I/O state machine of one live session.

Theory of operation: the driver feeds every event — a decoded client message, a piece
of generated text, the end or failure of a generation — to :meth:`Session.handle`
together with the current time, and carries out the actions it returns, in order. The
session never touches a socket, a clock or a model, so its tests are conversations of
frames that run in microseconds.

A turn: the client completes a user turn (``clientContent`` with ``turnComplete``,
``realtimeInput.text``, or speech that :mod:`~openlive.session.listening` turned into a
transcript) → ``StartGeneration`` → each ``GenerationDelta`` goes to the
:class:`~openlive.session.speaking.Reply`, which sends text at once or has it spoken and
paces the audio → when everything is out, ``generationComplete``, then ``turnComplete``
with ``usageMetadata``, and the model turn joins the history. New user input during a
reply interrupts it: ``CancelGeneration``, ``CancelSynthesis``, ``interrupted``,
``turnComplete``, and history keeps only what the client actually got.

Function calls (:mod:`~openlive.session.tools`): a generation that asks for calls sends
``toolCall`` (or runs a built-in server-side) and opens a round. Once its reply is out,
the turn waits (AWAITING_TOOLS) for the ``toolResponse`` of every blocking call, then the
model goes on in the same turn; NON_BLOCKING calls do not hold it up, and their results
come back later as ``scheduling`` says (INTERRUPT: now; WHEN_IDLE: when the model and
the user are quiet; SILENT: into the history only). Interrupting a turn cancels the
calls of its open round with ``toolCallCancellation``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from openlive.catalog import ModelCatalog
from openlive.engines.llm.base import ChatMessage, GenerationRequest, ToolSpec
from openlive.errors import (
    CloseCode,
    InternalError,
    InvalidArgument,
    PolicyViolation,
    ProtocolError,
)
from openlive.protocol.client import (
    ClientContent,
    ClientMessage,
    ContextUpdate,
    RealtimeInput,
    Setup,
    ToolResponse,
)
from openlive.protocol.server import (
    ModalityTokenCount,
    ServerContent,
    ServerMessage,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCallCancellation,
    Transcription,
    UsageMetadata,
)
from openlive.protocol.server import ToolCall as WireToolCall
from openlive.protocol.types import FunctionCall
from openlive.session.actions import (
    Action,
    CancelGeneration,
    CancelServerTool,
    CancelSynthesis,
    Close,
    EndOfTurn,
    LoadSnapshot,
    RunServerTool,
    SaveSnapshot,
    Send,
    StartGeneration,
    Transcribe,
    WakeAt,
)
from openlive.session.activity import State as ActivityState
from openlive.session.ahead import AheadReply
from openlive.session.bargein import (
    ECHO_THRESHOLD,
    PendingBargeIn,
    is_backchannel,
    is_echo_of,
)
from openlive.session.compression import turns_to_drop
from openlive.session.config import ServerCapabilities, SessionConfig, instruction_text
from openlive.session.constraints import SetupConstraints, apply_constraints
from openlive.session.events import (
    ClientMessageReceived,
    EndOfTurnScored,
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
    GenerationMalformedCall,
    GenerationToolCalls,
    ServerToolFinished,
    ShutdownRequested,
    SnapshotLoaded,
    SnapshotSaved,
    SpeechScored,
    SpeechSynthesized,
    SynthesisDrained,
    SynthesisFailed,
    Tick,
    TranscriptionFailed,
    TranscriptReady,
)
from openlive.session.history import History, content_message
from openlive.session.lifetime import (
    CONNECTION_ENDED,
    SESSION_LIMIT,
    ConnectionLimits,
    Lifetime,
)
from openlive.session.listening import (
    Listening,
    Signal,
    TurnHeardSoFar,
    TurnTranscribed,
    UserTurnEnded,
)
from openlive.session.resumption import Snapshot
from openlive.session.seeing import Sight, is_image, refuse_without_vision
from openlive.session.speaking import Reply, Voicing
from openlive.session.state import State, Trigger, transition
from openlive.session.tools import (
    CANCELLED,
    RUNNING,
    Answer,
    CallLedger,
    OpenCall,
    Toolbox,
    ToolRound,
    round_messages,
)

#: Rounds of calls one turn may make; after that the model must answer in words.
MAX_TOOL_ROUNDS = 5
#: Audio before a barge-in's onset given to the recognizer (the VAD commits late).
BARGE_PREROLL = 0.3


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """Token counts of one model turn, as reported in ``usageMetadata``."""

    prompt_tokens: int
    response_tokens: int

    def __add__(self, other: TurnUsage) -> TurnUsage:
        return TurnUsage(self.prompt_tokens + other.prompt_tokens,
                         self.response_tokens + other.response_tokens)


class Session:
    """One live session. Call :meth:`handle` for every event; do what it returns."""

    def __init__(
        self,
        *,
        session_id: str,
        catalog: ModelCatalog,
        capabilities: ServerCapabilities | None = None,
        constraints: SetupConstraints | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._limits = limits or ConnectionLimits()
        self._lifetime = Lifetime(self._limits)
        self._media_limit: tuple[float, float, str] | None = None  # (at, seconds, kind)
        self._sight: Sight | None = None  # the newest video frame (vision models only)
        self._resumable = False  # the client asked for sessionResumption updates
        self._context_tokens = 0  # context size after the last turn, by the model's count
        self._pending_setup: SessionConfig | None = None  # waiting for its snapshot
        self.session_id = session_id
        self._constraints = constraints  # fields an ephemeral token locks
        self._catalog = catalog
        self._capabilities = capabilities or ServerCapabilities()
        self.state = State.AWAITING_SETUP
        self.config: SessionConfig | None = None
        self.history = History()
        self.usage: list[TurnUsage] = []
        self._reply: Reply | None = None
        self._turn_usage: TurnUsage | None = None
        self._listening: Listening | None = None
        self._barge: PendingBargeIn | None = None
        self._next_generation_id = 1
        self._turn_pending = False  # a user turn waits for the current reply to end
        self._collecting_initial_history = False
        self._system_instruction: str | None = None
        self._toolbox = Toolbox()
        self._calls = CallLedger()
        self._round: ToolRound | None = None  # the current turn's calls, until answered
        self._rounds = 0  # rounds of calls in the current turn
        self._turn_reason: str | None = None  # turnCompleteReason of the current turn
        self._result_pending = False  # a WHEN_IDLE function result waits to be told
        self._said_in_turn = False  # an earlier generation of this turn said words
        self._next_check = -1  # barge-in checks are transcriptions with negative ids
        self._ahead: AheadReply | None = None  # answered during the user's pause, held
        # Messages that arrive while the model is busy wait, so that a turn's output and
        # its function calls stay together in the history: the client's input
        # (NO_INTERRUPTION) and results of NON_BLOCKING calls.
        self._held_input: list[ChatMessage] = []
        self._held_results: list[ChatMessage] = []

    # -- entry point ----------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        """Advance the session by one event; return the actions to carry out in order.

        ``now`` is the driver's monotonic clock in seconds (for pacing and timers).
        """
        if self.state is State.CLOSED:
            return []
        try:
            return self._dispatch(event, now)
        except ProtocolError as err:
            return self.abort(err)

    def abort(self, error: ProtocolError) -> list[Action]:
        """End the session because of ``error`` (e.g. a frame that failed to decode)."""
        if self.state is State.CLOSED:
            return []
        return self._close(error.close_code, error.reason)

    def _dispatch(self, event: Event, now: float) -> list[Action]:
        if self._ahead is not None and _generation_of(event) == self._ahead.generation_id:
            return self._on_ahead_event(event, now)
        match event:
            case ClientMessageReceived(message=message):
                return self._on_client_message(message, now)
            case GenerationDelta():
                reply = self._current(event.generation_id)
                return reply.on_text(event.text) if reply and event.text else []
            case GenerationFinished():
                return self._on_llm_finished(event, now)
            case GenerationToolCalls():
                return self._on_tool_calls(event)
            case GenerationMalformedCall():
                if self._current(event.generation_id) is not None:
                    self._turn_reason = "MALFORMED_FUNCTION_CALL"
                return []
            case ServerToolFinished():
                answer = self._calls.answer_server(event.call_id, event.result)
                return self._on_answer(answer, now) if answer is not None else []
            case SpeechSynthesized():
                reply = self._current(event.generation_id)
                return reply.on_audio(event.piece_id, event.pcm, now) if reply else []
            case SynthesisDrained():
                reply = self._current(event.generation_id)
                if reply is None:
                    return []
                reply.on_synthesis_drained()
                return self._maybe_complete(now)
            case Tick():
                return self._on_tick(now)
            case SnapshotLoaded(data=data):
                return self._on_snapshot_loaded(data)
            case SnapshotSaved(handle=handle):
                update = SessionResumptionUpdate(new_handle=handle, resumable=True)
                return [Send(ServerMessage(session_resumption_update=update))]
            case ShutdownRequested(grace=grace):
                self._lifetime.shorten(now + grace)
                return self._check_lifetime(now)
            case SpeechScored():
                # The model's own voice coming back is not the user speaking.
                probability = 0.0 if event.echo >= ECHO_THRESHOLD else event.probability
                actions = self._listen(*self._ears().on_score(event.at, probability), now)
                if self._ahead is not None and self._user_speaking():
                    actions += self._drop_ahead()  # only a pause: the user goes on
                return actions + self._judge_barge_in(event.at, now)
            case EndOfTurnScored():
                return self._listen(
                    *self._ears().on_end_of_turn_score(event.turn_id, event.probability), now)
            case TranscriptReady():
                return self._on_transcript(event, now)
            case GenerationFailed() | SynthesisFailed():
                if self._current(event.generation_id) is None:
                    return []
                return self._close(CloseCode.INTERNAL_ERROR, f"Internal error: {event.reason}")
            case TranscriptionFailed():
                return self._close(CloseCode.INTERNAL_ERROR, f"Internal error: {event.reason}")

    def _close(self, code: CloseCode, reason: str) -> list[Action]:
        actions = self._drop_ahead() + self._stop_reply()
        self.state = transition(self.state, Trigger.CLOSED)
        actions.append(Close(code, reason))
        return actions

    # -- client messages ------------------------------------------------------------------

    def _on_client_message(self, message: ClientMessage, now: float) -> list[Action]:
        if self.state is State.AWAITING_SETUP:
            if not isinstance(message, Setup):
                raise InvalidArgument("The first message must be setup.")
            return self._lifetime.start(now) + self._on_setup(message)
        # whatever changes what the model would be asked makes an answer ahead stale
        actions = self._drop_ahead() if _changes_context(message) else []
        return actions + self._on_input(message, now)

    def _on_input(self, message: ClientMessage, now: float) -> list[Action]:
        match message:
            case Setup():
                raise InvalidArgument("setup may only be sent once, as the first message.")
            case ClientContent():
                return self._on_client_content(message)
            case RealtimeInput():
                return self._on_realtime_input(message, now)
            case ToolResponse():
                return self._on_tool_response(message, now)
            case ContextUpdate():
                return self._on_context_update(message)

    def _on_setup(self, setup: Setup) -> list[Action]:
        if self._constraints is not None:
            setup = apply_constraints(setup, self._constraints)
        config = SessionConfig.from_setup(setup, self._catalog, self._capabilities)
        resumption = setup.session_resumption
        self._resumable = resumption is not None and self._capabilities.resumption
        if resumption is not None and resumption.handle:
            if not self._capabilities.resumption:
                raise PolicyViolation("Session resumption needs a store; none is configured.")
            self._pending_setup = config
            return [LoadSnapshot(resumption.handle)]  # setupComplete once it is back
        return self._accept_setup(config)

    def _on_snapshot_loaded(self, data: bytes) -> list[Action]:
        config = self._pending_setup
        if config is None or self.state is not State.AWAITING_SETUP:
            return []
        snapshot = Snapshot.decode(data)
        for message in snapshot.history:
            self.history.append(message)
        self._calls.restore(snapshot.open_calls, snapshot.finished_calls)
        actions = self._accept_setup(config, restored_instruction=snapshot.system_instruction)
        if snapshot.round is not None:
            # it was waiting for function responses: the client answers on this connection
            self._round = snapshot.round
            self.state = transition(self.state, Trigger.TOOLS_CALLED)
        # a server-side call in flight died with the old connection: run it again
        actions += [RunServerTool(c.call.id, c.server_tool, c.call.name, c.call.arguments)
                    for c in snapshot.open_calls if c.server_tool is not None]
        return actions

    def _snapshot(self) -> list[Action]:
        """At a point the session can be restored from: save it (when asked to)."""
        if not self._resumable or self.config is None:
            return []
        snapshot = Snapshot(self.config.model, self._system_instruction, self.history.turns(),
                            round=self._round, open_calls=self._calls.open_calls(),
                            finished_calls=self._calls.finished_ids())
        return [SaveSnapshot(snapshot.encode())]

    def _accept_setup(self, config: SessionConfig,
                      restored_instruction: str | None = None) -> list[Action]:
        self.config = config
        self._toolbox = config.tools
        self._sight = Sight(config.image_detail)
        # a resumed session keeps its instruction unless the new setup gives one
        self._system_instruction = config.system_instruction or restored_instruction
        self._collecting_initial_history = config.initial_history_in_client_content
        if self._capabilities.audio_input:
            self._listening = Listening(
                config.activity,
                end_of_turn_model=self._capabilities.end_of_turn_model,
                language=config.language,
                all_input=config.turn_includes_all_input,
            )
        self.state = transition(self.state, Trigger.SETUP_ACCEPTED)
        complete = Send(ServerMessage(setup_complete=SetupComplete(session_id=self.session_id)))
        return [complete, *self._snapshot()]

    def _on_client_content(self, message: ClientContent) -> list[Action]:
        # The proto: "a message here will interrupt any current model generation".
        actions = self._interrupt() if message.turns else []
        for content in message.turns:
            chat = content_message(content, self._image_detail())
            if chat is not None:
                self._add_input(chat)
        if not message.turn_complete:
            return actions
        if self._collecting_initial_history:
            # historyConfig.initialHistoryInClientContent: this completes the seed history.
            self._collecting_initial_history = False
            return actions
        return actions + self._user_turn_complete()

    def _on_realtime_input(self, message: RealtimeInput, now: float) -> list[Action]:
        if message.text is not None:
            actions = self._interrupt() if self._interrupts() else []
            if message.text:
                self._add_input(ChatMessage("user", message.text))
            return actions + self._user_turn_complete()
        chunk = message.media_chunks[0] if message.media_chunks else None
        frame = message.video or (chunk if chunk is not None and is_image(chunk) else None)
        if frame is not None:
            self._eyes().on_frame(frame)
            return self._start_media_limit(now, video=True)
        audio = message.audio or chunk
        if audio is not None:
            return self._ears().on_audio(audio) + self._start_media_limit(now, video=False)
        if message.activity_start is not None:
            return self._listen(*self._ears().on_activity_start(), now)
        if message.activity_end is not None:
            return self._listen(*self._ears().on_activity_end(), now)
        if message.audio_stream_end:
            return self._listen(*self._ears().on_stream_end(), now) if self._listening else []
        return []

    def _on_tool_response(self, message: ToolResponse, now: float) -> list[Action]:
        if not message.function_responses:
            raise InvalidArgument("toolResponse has no functionResponses.")
        actions: list[Action] = []
        for index, response in enumerate(message.function_responses):
            answer = self._calls.answer(index, response)
            if answer is not None:
                actions += self._on_answer(answer, now)
        return actions

    def _on_context_update(self, message: ContextUpdate) -> list[Action]:
        if message.system_instruction is not None:
            self._system_instruction = instruction_text(message.system_instruction)
        if message.tools is not None:
            self._toolbox = Toolbox.from_wire(message.tools.tools,
                                              self._capabilities.server_tools)
        return []

    # -- listening ------------------------------------------------------------------------

    def _eyes(self) -> Sight:
        refuse_without_vision(self._capabilities.vision)
        assert self._sight is not None  # made at setup
        return self._sight

    def _image_detail(self) -> str | None:
        """The detail level for images, or None when the model cannot see."""
        if not self._capabilities.vision or self.config is None:
            return None
        return self.config.image_detail

    def _ears(self) -> Listening:
        if self._listening is None:
            raise PolicyViolation(
                "Audio input needs speech recognition; this server has none configured."
            )
        return self._listening

    def _listen(self, actions: list[Action], signals: list[Signal], now: float) -> list[Action]:
        for signal in signals:
            if isinstance(signal, UserTurnEnded):
                actions.append(EndOfTurn(signal.speech_end))
                continue
            if isinstance(signal, TurnTranscribed):
                actions += self._on_user_words(signal.text, now)
                continue
            if isinstance(signal, TurnHeardSoFar):
                if self.config is not None and self.config.input_transcription:
                    # revisable, unlike inputTranscription, whose pieces clients append
                    interim = Transcription(text=signal.text)
                    actions.append(Send(ServerMessage(server_content=ServerContent(
                        interim_input_transcription=interim))))
                actions += self._answer_ahead(signal.text, now)
                continue
            if not self._interrupts():
                continue
            if self._ears().manual:
                actions = self._interrupt() + actions  # the client said so: no judging
            elif self._reply is not None:
                self._reply.pause(now)  # stop the audio now; judge the speech next
                self._barge = PendingBargeIn(onset=signal.at)
        return actions

    def _judge_barge_in(self, at: float, now: float) -> list[Action]:
        barge, reply = self._barge, self._reply
        if barge is None or reply is None:
            self._barge = None
            return []
        speaking = self._ears().detector.state is ActivityState.SPEAKING
        if barge.dismissed:
            # the rest of speech already judged harmless is not judged again
            barge.dismissed = speaking
            return []
        if barge.checking is not None:
            return []  # waiting for the recognizer's verdict
        if barge.resumed and speaking:
            # the user went on after a dip (or a frame taken for echo): judge afresh
            barge.resumed, barge.onset = False, at
            reply.pause(now)
            return []
        if barge.confirmed(at, speaking):
            # long enough to matter: let the recognizer say what it is (is it words?)
            assert self.config is not None
            barge.checking = self._next_check
            self._next_check -= 1
            start = max(0.0, barge.onset - BARGE_PREROLL)
            return [Transcribe(barge.checking, start, at, self.config.language)]
        if not speaking and not barge.resumed:
            barge.resumed = True  # short: a cough or a backchannel, unless words say not
            return reply.resume(now)
        return []

    def _on_barge_words(self, event: TranscriptReady, now: float) -> list[Action]:
        """The recognizer's verdict on speech over the reply: words interrupt; noise,
        a backchannel or the model's own voice coming back let the reply go on."""
        barge, reply = self._barge, self._reply
        if barge is None or reply is None or barge.checking != event.turn_id:
            return []  # the reply ended meanwhile, or an older check
        barge.checking = None
        text = event.text.strip()
        if not text or is_backchannel(text) or is_echo_of(text, reply.spoken_text()):
            barge.dismissed = barge.resumed = True
            return reply.resume(now)
        return self._interrupt()

    def _on_transcript(self, event: TranscriptReady, now: float) -> list[Action]:
        if event.turn_id < 0:  # a barge-in check, not a user turn
            return self._on_barge_words(event, now)
        actions, signals = self._ears().on_transcript(event.turn_id, event.end, event.text)
        return self._listen(actions, signals, now)

    def _on_user_words(self, text: str, now: float) -> list[Action]:
        """The final transcript of a user turn: answer it, unless it is not for us."""
        assert self.config is not None
        text = text.strip()
        actions: list[Action] = []
        if self.config.input_transcription and text:
            actions.append(Send(ServerMessage(server_content=ServerContent(
                input_transcription=Transcription(text=text, finished=True)))))
        reply = self._reply
        # While the model speaks, "mm-hm" or its own voice coming back keeps the floor,
        # whether or not the speech was loud or long enough to pause the reply.
        if reply is not None and text and (
            is_backchannel(text) or is_echo_of(text, reply.spoken_text())
        ):
            self._barge = None
            return actions + reply.resume(now)
        self._barge = None
        if not text:
            # noise or silence: no turn to answer, but a function result may be waiting
            return actions + self._drop_ahead() + self._tell_pending_result()
        if self._interrupts():
            actions = self._interrupt() + actions
        ahead = self._ahead
        if ahead is not None and ahead.answers(text) and self._may_answer_ahead():
            return actions + self._adopt_ahead(ahead, now)
        actions += self._drop_ahead()
        self._add_input(ChatMessage("user", text))
        return actions + self._user_turn_complete()

    # -- answering ahead (ahead.py) -------------------------------------------------------

    def _user_speaking(self) -> bool:
        return self._ears().detector.state is ActivityState.SPEAKING

    def _may_answer_ahead(self) -> bool:
        """Idle, with nothing waiting that a new turn would add, and room in the context."""
        config = self.config
        if (not self._capabilities.answer_ahead or config is None
                or config.modality != "AUDIO" or self.state is not State.IDLE
                or self._busy() or self._held_input or self._turn_pending):
            return False
        if config.compression is not None:
            return not turns_to_drop(self.history.turns(), self._context_tokens,
                                     config.compression)
        return self._context_tokens < self._capabilities.context_window

    def _answer_ahead(self, text: str, now: float) -> list[Action]:
        """The user paused after ``text``: answer it now, held until the turn ends here."""
        if not self._may_answer_ahead():
            return self._drop_ahead()
        if self._ahead is not None and self._ahead.answers(text):
            return []  # the same words at a later pause: that answer stands
        config = self.config
        assert config is not None
        actions = self._drop_ahead()
        images = self._sight.peek() if self._sight is not None else ()
        message = ChatMessage("user", text, images=images)
        reply = self._new_reply(follows_words=False)
        reply.pause(now)  # nothing goes out until the turn ends at this pause
        self._ahead = AheadReply(message, reply)
        request = self._request(
            self.history.messages_with(self._system_instruction, message), self._toolbox.specs)
        return actions + [StartGeneration(reply.generation_id, config.backend, request)]

    def _on_ahead_event(self, event: Event, now: float) -> list[Action]:
        """The held generation made progress: synthesize, but keep everything back."""
        ahead = self._ahead
        assert ahead is not None
        match event:
            case GenerationDelta(text=text):
                return ahead.reply.on_text(text) if text else []
            case GenerationFinished():
                ahead.finished = event
                return ahead.reply.on_llm_finished()
            case GenerationToolCalls():
                ahead.calls = event
                return []
            case GenerationMalformedCall():
                ahead.malformed = True
                return []
            case SpeechSynthesized():
                return ahead.reply.on_audio(event.piece_id, event.pcm, now)  # held: paused
            case SynthesisDrained():
                ahead.reply.on_synthesis_drained()
                return []
        # it failed: the turn, if it ends here, is answered the usual way
        return self._drop_ahead()

    def _adopt_ahead(self, ahead: AheadReply, now: float) -> list[Action]:
        """The turn ended at the pause it was answered at: send what is ready."""
        self._ahead = None
        if self._sight is not None:
            self._sight.take()  # the answer saw it (peeked)
        self.history.append(ahead.message)
        self._begin_turn()
        self._reply = ahead.reply
        actions = ahead.reply.resume(now)
        if ahead.calls is not None:
            actions += self._on_tool_calls(ahead.calls)
        if ahead.malformed:
            self._turn_reason = "MALFORMED_FUNCTION_CALL"
        if ahead.finished is not None:
            self._count_usage(ahead.finished)
        return actions + self._maybe_complete(now)

    def _drop_ahead(self) -> list[Action]:
        """Cancel the answer ahead, if any; none of it was sent."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return []
        return [CancelGeneration(ahead.generation_id), CancelSynthesis(ahead.generation_id)]

    # -- replies --------------------------------------------------------------------------

    def _interrupts(self) -> bool:
        return self.config is not None and self.config.interrupt_on_activity

    def _user_turn_complete(self) -> list[Action]:
        if self._reply is not None or self._round is not None:
            self._turn_pending = True  # NO_INTERRUPTION: answer after this one
            return []
        return self._start_reply()

    def _fit_context(self) -> None:
        """Compress the history, or end the session when it no longer fits the model."""
        config = self.config
        assert config is not None
        if config.compression is not None:
            drop = turns_to_drop(self.history.turns(), self._context_tokens, config.compression)
            if drop:
                self.history.drop_oldest(drop)
                self._context_tokens = 0  # unknown until the next turn reports it
            return
        if self._context_tokens >= self._capabilities.context_window:
            raise InternalError(
                f"The session outgrew the model's context window "
                f"({self._capabilities.context_window} tokens); enable "
                "contextWindowCompression to keep talking."
            )

    def _start_reply(self) -> list[Action]:
        """A new model turn: for the user's turn, or to tell a function's result."""
        actions = self._drop_ahead()
        self._begin_turn()
        return actions + self._generate()

    def _begin_turn(self) -> None:
        """The history and counters of a new model turn; the session starts generating."""
        for message in self._held_input:
            self.history.append(message)
        self._held_input.clear()
        self._fit_context()
        self._turn_pending = self._result_pending = False
        self._turn_usage, self._turn_reason, self._rounds = None, None, 0
        self._said_in_turn = False
        self.state = transition(self.state, Trigger.GENERATION_STARTED)

    def _generate(self) -> list[Action]:
        """One generation of the current turn (the first, or one after function results)."""
        config = self.config
        assert config is not None  # set by setup; states after it guarantee it
        self._reply = self._new_reply(follows_words=self._said_in_turn)
        # past the round limit the model must answer with what it has
        tools = self._toolbox.specs if self._rounds < MAX_TOOL_ROUNDS else ()
        request = self._request(self.history.messages(self._system_instruction), tools)
        return [StartGeneration(self._reply.generation_id, config.backend, request)]

    def _new_reply(self, *, follows_words: bool) -> Reply:
        config = self.config
        assert config is not None
        voicing = None
        if config.modality == "AUDIO":
            voicing = Voicing(config.voice, config.language, config.output_transcription)
        reply = Reply(self._next_generation_id, voicing, follows_words=follows_words)
        self._next_generation_id += 1
        return reply

    def _request(self, messages: tuple[ChatMessage, ...],
                 tools: tuple[ToolSpec, ...]) -> GenerationRequest:
        assert self.config is not None
        return GenerationRequest(messages=messages, sampling=self.config.sampling, tools=tools)

    def _stop_reply(self) -> list[Action]:
        """Cancel the engines working on the current reply, if any."""
        reply = self._reply
        if reply is None:
            return []
        self._reply = None
        actions: list[Action] = [CancelGeneration(reply.generation_id)]
        if reply.voicing is not None:
            actions.append(CancelSynthesis(reply.generation_id))
        return actions

    def _interrupt(self, cancel_calls: bool = True) -> list[Action]:
        """Stop the turn in flight, keeping in history only what the client got.

        The calls of the turn's open round are cancelled (``toolCallCancellation``),
        unless ``cancel_calls`` is False (a function result, not the user, interrupts).
        """
        reply, round_ = self._reply, self._round
        self._barge = None
        if reply is None and round_ is None:
            return []
        actions = self._stop_reply()
        self.state = transition(self.state, Trigger.INTERRUPTED)
        if round_ is not None:
            self._round = None
            if reply is not None:
                round_.said = reply.delivered_text()
            cancelled = self._calls.cancel(round_.calls) if cancel_calls else []
            for message in round_.messages(CANCELLED if cancel_calls else RUNNING):
                self.history.append(message)
            self._release_results()
            actions += _cancellations(cancelled)
        elif reply is not None:
            self._remember(reply)
        return actions + [
            Send(ServerMessage(server_content=ServerContent(interrupted=True))),
            Send(ServerMessage(server_content=ServerContent(turn_complete=True))),
        ]

    def _remember(self, reply: Reply) -> None:
        text = reply.delivered_text()
        if text:
            self.history.append(ChatMessage("assistant", text))
        self._release_results()

    def _busy(self) -> bool:
        """The model is answering: replying, or waiting for its calls' responses."""
        return self._reply is not None or self._round is not None

    def _add_input(self, message: ChatMessage) -> None:
        if message.role == "user" and self._sight is not None:
            frame = self._sight.take()  # what the camera showed as the user spoke
            if frame:
                message = replace(message, images=message.images + frame)
        if self._busy():
            self._held_input.append(message)
        else:
            self.history.append(message)

    def _release_results(self) -> None:
        for message in self._held_results:
            self.history.append(message)
        self._held_results.clear()

    def _current(self, generation_id: int) -> Reply | None:
        reply = self._reply
        return reply if reply is not None and reply.generation_id == generation_id else None

    def _on_llm_finished(self, event: GenerationFinished, now: float) -> list[Action]:
        reply = self._current(event.generation_id)
        if reply is None:
            return []
        self._count_usage(event)
        return reply.on_llm_finished() + self._maybe_complete(now)

    def _count_usage(self, event: GenerationFinished) -> None:
        usage = TurnUsage(event.prompt_tokens, event.completion_tokens)
        self._turn_usage = usage if self._turn_usage is None else self._turn_usage + usage
        self._context_tokens = event.prompt_tokens + event.completion_tokens

    def _on_tick(self, now: float) -> list[Action]:
        actions = self._check_lifetime(now)
        if self._reply is None or self.state is State.CLOSED:
            return actions
        return actions + self._reply.release(now) + self._maybe_complete(now)

    def _start_media_limit(self, now: float, video: bool) -> list[Action]:
        """The first audio starts the audio-session clock, the first video frame the
        (shorter) audio-and-video one; the earlier deadline holds. Off with compression."""
        limit = self._limits.video_session if video else self._limits.audio_session
        kind = "audio and video" if video else "audio"
        if limit is None or self.config is None or self.config.compression is not None:
            return []
        current = self._media_limit
        if current is not None and (current[2] == kind or current[0] <= now + limit):
            return []
        self._media_limit = (now + limit, limit, kind)
        return [WakeAt(now + limit, key="session-limit")]

    def _check_lifetime(self, now: float) -> list[Action]:
        if self._media_limit is not None and now >= self._media_limit[0]:
            _, seconds, kind = self._media_limit
            return self._close(CloseCode.NORMAL,
                               SESSION_LIMIT.format(minutes=seconds / 60, kind=kind))
        actions, over = self._lifetime.check(now)
        if over:
            return actions + self._close(CloseCode.NORMAL, CONNECTION_ENDED)
        return actions

    def _maybe_complete(self, now: float) -> list[Action]:
        reply = self._reply
        if reply is None or not reply.complete:
            return []
        self._reply = None
        actions: list[Action] = reply.flush_words() if reply.voicing else []
        round_ = self._round
        if round_ is not None:
            round_.said = reply.delivered_text()
            self._said_in_turn = self._said_in_turn or bool(round_.said)
            if not round_.waiting:
                return actions + self._continue_after_round()
            self.state = transition(self.state, Trigger.TOOLS_CALLED)
            return actions + self._snapshot()  # the client may answer on a new connection
        self.state = transition(self.state, Trigger.GENERATION_ENDED)
        self._remember(reply)
        usage = self._turn_usage or TurnUsage(0, 0)
        self.usage.append(usage)
        actions += [
            Send(ServerMessage(server_content=ServerContent(generation_complete=True))),
            Send(
                ServerMessage(
                    server_content=ServerContent(turn_complete=True,
                                                 turn_complete_reason=self._turn_reason),
                    usage_metadata=usage_metadata(usage),
                )
            ),
        ]
        if self._turn_pending:
            return actions + self._start_reply()
        return actions + self._snapshot() + self._tell_pending_result()

    # -- function calls -------------------------------------------------------------------

    def _on_tool_calls(self, event: GenerationToolCalls) -> list[Action]:
        if self._current(event.generation_id) is None or not event.calls:
            return []
        issued = self._calls.issue(event.calls, self._toolbox)
        self._round = ToolRound.open(issued)
        self._rounds += 1
        actions: list[Action] = []
        for_client = [c.call for c in issued if c.server_tool is None]
        if for_client:
            calls = [FunctionCall(id=c.id, name=c.name, args=c.arguments) for c in for_client]
            actions.append(Send(ServerMessage(tool_call=WireToolCall(function_calls=calls))))
        actions += [RunServerTool(c.call.id, c.server_tool, c.call.name, c.call.arguments)
                    for c in issued if c.server_tool is not None]
        return actions

    def _on_answer(self, answer: Answer, now: float) -> list[Action]:
        """A function's result, from the client or a server-side tool."""
        call = answer.call.call
        round_ = self._round
        if round_ is not None and call in round_.calls:
            round_.take(call.id, answer.result)
            if self.state is State.AWAITING_TOOLS and not round_.waiting:
                return self._continue_after_round()
            return []  # the reply that made the call is still going out
        # A NON_BLOCKING call whose round the model has moved past: its result joins the
        # history (once the model is not busy), and ``scheduling`` says whether and when
        # the model speaks of it.
        self._held_results += round_messages("", (call,), {call.id: answer.result})
        if not self._busy():
            self._release_results()
        if answer.scheduling == "SILENT":
            return self._snapshot() if self.state is State.IDLE else []
        if answer.scheduling == "INTERRUPT" and self._reply is not None and round_ is None:
            return self._interrupt(cancel_calls=False) + self._start_reply()
        self._result_pending = True
        return self._tell_pending_result()

    def _tell_pending_result(self) -> list[Action]:
        """Speak of a function result that waited, once the model and the user are quiet."""
        if not self._result_pending or self.state is not State.IDLE:
            return []
        if self._listening is not None and (
            self._listening.detector.state is ActivityState.SPEAKING
        ):
            return []  # the user's turn will see the result in the history
        return self._start_reply()

    def _continue_after_round(self) -> list[Action]:
        """Every blocking call of the round is answered: the model goes on."""
        round_ = self._round
        assert round_ is not None
        self._round = None
        for message in round_.messages():
            self.history.append(message)
        self._release_results()
        self.state = transition(self.state, Trigger.TOOLS_ANSWERED)
        return self._generate()


_GENERATION_EVENTS = (GenerationDelta, GenerationFinished, GenerationToolCalls,
                      GenerationMalformedCall, GenerationFailed, SpeechSynthesized,
                      SynthesisDrained, SynthesisFailed)


def _generation_of(event: Event) -> int | None:
    """The generation an engine event belongs to, if it is one."""
    return event.generation_id if isinstance(event, _GENERATION_EVENTS) else None


def _changes_context(message: ClientMessage) -> bool:
    """Whether a message changes what the model would be asked (audio and video do not:
    they are the turn being listened to)."""
    if not isinstance(message, RealtimeInput):
        return True
    return (message.text is not None or message.activity_start is not None
            or message.activity_end is not None)


def usage_metadata(usage: TurnUsage) -> UsageMetadata:
    """The ``usageMetadata`` of one text turn."""
    return UsageMetadata(
        prompt_token_count=usage.prompt_tokens,
        response_token_count=usage.response_tokens,
        total_token_count=usage.prompt_tokens + usage.response_tokens,
        prompt_tokens_details=[
            ModalityTokenCount(modality="TEXT", token_count=usage.prompt_tokens)
        ],
        response_tokens_details=[
            ModalityTokenCount(modality="TEXT", token_count=usage.response_tokens)
        ],
    )


def _cancellations(cancelled: list[OpenCall]) -> list[Action]:
    """Tell the client which of its calls are off, and stop the server's own."""
    actions: list[Action] = [CancelServerTool(c.call.id) for c in cancelled if c.server_tool]
    ids = [c.call.id for c in cancelled if c.server_tool is None]
    if ids:
        cancellation = ToolCallCancellation(ids=ids)
        actions.insert(0, Send(ServerMessage(tool_call_cancellation=cancellation)))
    return actions
