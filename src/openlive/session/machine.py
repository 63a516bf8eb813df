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

Function calls (:mod:`~openlive.session.calling`): a generation that asks for calls
opens a round; once its reply is out, the turn waits (AWAITING_TOOLS) for the
``toolResponse`` of every blocking call, then the model goes on in the same turn.
Results of NON_BLOCKING calls come back later, and ``scheduling`` says whether they
interrupt, wait until the model and the user are quiet, or only join the history.

The machine routes events and owns what the whole session shares: the turn state, the
configuration, the history, the reply going out. Each other part is a sibling it
consults, which returns actions (and, where the machine must act, a decision):
:mod:`~openlive.session.listening` (user turns from audio), :mod:`~openlive.session.seeing`
(video frames), :mod:`~openlive.session.bargein` (speech over the reply),
:mod:`~openlive.session.calling` (function-call rounds), :mod:`~openlive.session.ahead`
(a reply prepared during the user's pause), :mod:`~openlive.session.lifetime` (limits).
"""

from __future__ import annotations

from dataclasses import replace
from typing import assert_never

from openlive.catalog import ModelCatalog
from openlive.chat import ChatMessage, GenerationRequest, ToolSpec
from openlive.errors import CloseCode, InvalidArgument, PolicyViolation, ProtocolError
from openlive.protocol.client import (
    ClientContent,
    ClientMessage,
    ContextUpdate,
    RealtimeInput,
    Setup,
    ToolResponse,
)
from openlive.protocol.server import (
    ServerContent,
    ServerMessage,
    SessionResumptionUpdate,
    Transcription,
)
from openlive.session.actions import (
    Action,
    Close,
    EndOfTurn,
    LoadSnapshot,
    PlaybackFlushed,
    SaveSnapshot,
    Send,
    SetupAccepted,
    StartGeneration,
    TurnComplete,
)
from openlive.session.ahead import AheadReply, changes_context
from openlive.session.bargein import ECHO_THRESHOLD, BargeInJudge
from openlive.session.calling import MAX_TOOL_ROUNDS, Answered, Calling
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
from openlive.session.lifetime import CONNECTION_ENDED, ConnectionLimits, Lifetime, MediaLimit
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
from openlive.session.state import AWAITING, BUSY, QUIET, State, Trigger, transition
from openlive.session.tools import Answer, Toolbox
from openlive.session.usage import TurnUsage, Usage

__all__ = ["MAX_TOOL_ROUNDS", "Session"]  # MAX_TOOL_ROUNDS lives in calling.py; kept here too


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
        limits = limits or ConnectionLimits()
        self._lifetime = Lifetime(limits)
        self._media_limit = MediaLimit(limits)
        self._sight: Sight | None = None  # the newest video frame (vision models only)
        self._resumable = False  # the client asked for sessionResumption updates
        self._pending_setup: SessionConfig | None = None  # waiting for its snapshot
        self.session_id = session_id
        self._constraints = constraints  # fields an ephemeral token locks
        self._catalog = catalog
        self._capabilities = capabilities or ServerCapabilities()
        self.state = State.AWAITING_SETUP
        self.config: SessionConfig | None = None
        self.history = History()
        self._usage = Usage()  # token counts: each turn's, and the context's size
        self._reply: Reply | None = None
        self._listening: Listening | None = None
        self._barge = BargeInJudge()
        self._next_generation_id = 1
        self._system_instruction: str | None = None
        self._toolbox = Toolbox()
        self._calling = Calling(self.history)  # function calls, their rounds and results
        # The client's input that arrives while the model is busy (NO_INTERRUPTION)
        # waits for the next turn, so that a turn's output and its function calls stay
        # together in the history (results of NON_BLOCKING calls wait in Calling, and
        # join sooner: when the model's round is over, within the turn).
        self._held_input: list[ChatMessage] = []
        self._turn_reason: str | None = None  # turnCompleteReason of the current turn
        self._said_in_turn = False  # an earlier generation of this turn said words
        self._ahead: AheadReply | None = None  # answered during the user's pause, held

    @property
    def usage(self) -> list[TurnUsage]:
        """What each completed model turn used, in order."""
        return self._usage.turns

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
        ahead = self._ahead
        if ahead is not None and ahead.owns(event):
            actions, failed = ahead.hold(event, now)
            # failed: the turn, if it ends at the pause, is answered the usual way
            return self._drop_ahead() if failed else actions
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
                answer = self._calling.ledger.answer_server(event.call_id, event.result)
                return self._on_answer(answer) if answer is not None else []
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
            case _:
                assert_never(event)

    def _close(self, code: CloseCode, reason: str) -> list[Action]:
        actions = self._drop_ahead() + self._stop_reply()
        self.state = transition(self.state, Trigger.CLOSED)
        actions.append(Close(code, reason))
        return actions

    # -- client messages ------------------------------------------------------------------

    def _on_client_message(self, message: ClientMessage, now: float) -> list[Action]:
        if self.state in (State.AWAITING_SETUP, State.RESUMING):
            if self.state is State.RESUMING or not isinstance(message, Setup):
                if isinstance(message, Setup):
                    raise InvalidArgument("setup may only be sent once, as the first message.")
                raise InvalidArgument("The first message must be setup.")
            return self._lifetime.start(now) + self._on_setup(message)
        # whatever changes what the model would be asked makes an answer ahead stale
        actions = self._drop_ahead() if changes_context(message) else []
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
            case _:
                assert_never(message)

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
            self.state = transition(self.state, Trigger.SETUP_RECEIVED)
            return [LoadSnapshot(resumption.handle)]  # setupComplete once it is back
        return self._accept_setup(config)

    def _on_snapshot_loaded(self, data: bytes) -> list[Action]:
        config = self._pending_setup
        if config is None or self.state is not State.RESUMING:
            return []
        snapshot = Snapshot.decode(data)
        for message in snapshot.history:
            self.history.append(message)
        rerun = self._calling.restore(snapshot.open_calls, snapshot.finished_calls)
        # before setup is accepted, so that the snapshot saved with it holds the round too
        self._calling.round = snapshot.round
        actions = self._accept_setup(config, restored_instruction=snapshot.system_instruction)
        if snapshot.round is not None:
            # it was waiting for function responses: the client answers on this connection
            self.state = transition(self.state, Trigger.TOOLS_CALLED)
        return actions + rerun

    def _snapshot(self) -> list[Action]:
        """At a point the session can be restored from: save it (when asked to)."""
        if not self._resumable or self.config is None:
            return []
        ledger = self._calling.ledger
        snapshot = Snapshot(self.config.model, self._system_instruction, self.history.turns(),
                            round=self._calling.round, open_calls=ledger.open_calls(),
                            finished_calls=ledger.finished_ids())
        return [SaveSnapshot(snapshot.encode())]

    def _accept_setup(self, config: SessionConfig,
                      restored_instruction: str | None = None) -> list[Action]:
        self.config = config
        self._toolbox = config.tools
        self._sight = Sight(config.image_detail)
        # a resumed session keeps its instruction unless the new setup gives one
        self._system_instruction = config.system_instruction or restored_instruction
        if self._capabilities.audio_input:
            self._listening = Listening(
                config.activity,
                end_of_turn_model=self._capabilities.end_of_turn_model,
                language=config.language,
                all_input=config.turn_includes_all_input,
            )
        resumed = self.state is State.RESUMING
        self.state = transition(self.state, Trigger.SETUP_ACCEPTED)
        if config.initial_history_in_client_content and not resumed:
            # a resumed session has its history back: there is nothing to seed
            self.state = transition(self.state, Trigger.HISTORY_EXPECTED)
        return [SetupAccepted(self.session_id), *self._snapshot()]

    def _on_client_content(self, message: ClientContent) -> list[Action]:
        # The proto: "a message here will interrupt any current model generation".
        actions = self._interrupt() if message.turns else []
        for content in message.turns:
            chat = content_message(content, self._image_detail())
            if chat is not None:
                self._add_input(chat)
        if not message.turn_complete:
            return actions
        if self.state is State.SEEDING_HISTORY:
            # historyConfig.initialHistoryInClientContent: this completes the seed history.
            self.state = transition(self.state, Trigger.HISTORY_SEEDED)
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
            answer = self._calling.ledger.answer(index, response)
            if answer is not None:
                actions += self._on_answer(answer)
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

    def _user_speaking(self) -> bool:
        return self._listening is not None and self._listening.speaking

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
                self._barge.start(signal.at, self._reply, now)  # pause now, judge next
        return actions

    def _judge_barge_in(self, at: float, now: float) -> list[Action]:
        assert self.config is not None
        return self._barge.on_score(at, now, self._reply, speaking=self._user_speaking(),
                                    language=self.config.language)

    def _on_transcript(self, event: TranscriptReady, now: float) -> list[Action]:
        if self._barge.is_check(event.turn_id):  # not a user turn: is it an interruption?
            actions, interrupted = self._barge.on_words(event.turn_id, event.text,
                                                        self._reply, now)
            return self._interrupt() if interrupted else actions
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
        resumed, kept = self._barge.on_user_turn(text, self._reply, now)
        if kept:  # "mm-hm" while the model speaks: it keeps the floor
            return actions + resumed
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

    def _may_answer_ahead(self) -> bool:
        """Idle, with nothing waiting that a new turn would add, and room in the context."""
        config = self.config
        if (not self._capabilities.answer_ahead or config is None
                or config.modality != "AUDIO" or self.state is not State.IDLE
                or self._held_input):
            return False
        return self._usage.fits(self.history, config.compression,
                                self._capabilities.context_window)

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
        return actions + [StartGeneration(reply.generation_id, config.backend, request, True)]

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
            self._usage.count(ahead.finished)
        return actions + self._maybe_complete(now)

    def _drop_ahead(self) -> list[Action]:
        """Cancel the answer ahead, if any; none of it was sent."""
        ahead, self._ahead = self._ahead, None
        return ahead.cancel() if ahead is not None else []

    # -- replies --------------------------------------------------------------------------

    def _interrupts(self) -> bool:
        return self.config is not None and self.config.interrupt_on_activity

    def _user_turn_complete(self) -> list[Action]:
        if self._busy():
            # NO_INTERRUPTION: answer after this one
            self.state = transition(self.state, Trigger.TURN_QUEUED)
            return []
        return self._start_reply()

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
        config = self.config
        assert config is not None
        # compress the history, or end the session when it no longer fits the model
        self._usage.fit(self.history, config.compression, self._capabilities.context_window)
        self._calling.new_turn()
        self._usage.new_turn()
        self._turn_reason = None
        self._said_in_turn = False
        self.state = transition(self.state, Trigger.GENERATION_STARTED)

    def _generate(self) -> list[Action]:
        """One generation of the current turn (the first, or one after function results)."""
        config = self.config
        assert config is not None  # set by setup; states after it guarantee it
        self._reply = self._new_reply(follows_words=self._said_in_turn)
        # past the round limit the model must answer with what it has
        tools = self._calling.tools(self._toolbox)
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
        reply, self._reply = self._reply, None
        return reply.cancel() if reply is not None else []

    def _interrupt(self, cancel_calls: bool = True) -> list[Action]:
        """Stop the turn in flight, keeping in history only what the client got.

        The calls of the turn's open round are cancelled (``toolCallCancellation``),
        unless ``cancel_calls`` is False (a function result, not the user, interrupts).
        """
        reply = self._reply
        self._barge.forget()
        if not self._busy():
            return []
        actions = self._stop_reply()
        self.state = transition(self.state, Trigger.INTERRUPTED)
        if self._calling.round is not None:
            said = reply.delivered_text() if reply is not None else None
            actions += self._calling.interrupt(said, cancel=cancel_calls)
        elif reply is not None:
            self._remember(reply)
        return actions + [PlaybackFlushed(), TurnComplete()]

    def _remember(self, reply: Reply) -> None:
        text = reply.delivered_text()
        if text:
            self.history.append(ChatMessage("assistant", text))
        self._calling.release()

    def _busy(self) -> bool:
        """The model is answering: replying, or waiting for its calls' responses."""
        return self.state in BUSY

    def _add_input(self, message: ChatMessage) -> None:
        if message.role == "user" and self._sight is not None:
            frame = self._sight.take()  # what the camera showed as the user spoke
            if frame:
                message = replace(message, images=message.images + frame)
        if self._busy():
            self._held_input.append(message)
        else:
            self.history.append(message)

    def _current(self, generation_id: int) -> Reply | None:
        reply = self._reply
        return reply if reply is not None and reply.generation_id == generation_id else None

    def _on_llm_finished(self, event: GenerationFinished, now: float) -> list[Action]:
        reply = self._current(event.generation_id)
        if reply is None:
            return []
        self._usage.count(event)
        return reply.on_llm_finished() + self._maybe_complete(now)

    def _on_tick(self, now: float) -> list[Action]:
        actions = self._check_lifetime(now)
        if self._reply is None or self.state is State.CLOSED:
            return actions
        return actions + self._reply.release(now) + self._maybe_complete(now)

    def _start_media_limit(self, now: float, video: bool) -> list[Action]:
        """Audio or video starts the session's clock, unless it has compression."""
        if self.config is None or self.config.compression is not None:
            return []
        return self._media_limit.start(now, video)

    def _check_lifetime(self, now: float) -> list[Action]:
        reason = self._media_limit.reached(now)
        if reason is not None:
            return self._close(CloseCode.NORMAL, reason)
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
        round_ = self._calling.round
        if round_ is not None:
            round_.said = reply.delivered_text()
            self._said_in_turn = self._said_in_turn or bool(round_.said)
            if not round_.waiting:
                return actions + self._continue_after_round()
            self.state = transition(self.state, Trigger.TOOLS_CALLED)
            return actions + self._snapshot()  # the client may answer on a new connection
        self.state = transition(self.state, Trigger.GENERATION_ENDED)
        self._remember(reply)
        actions += [
            Send(ServerMessage(server_content=ServerContent(generation_complete=True))),
            TurnComplete(self._turn_reason, self._usage.end_turn()),
        ]
        if self.state is State.TURN_PENDING:
            return actions + self._start_reply()
        return actions + self._snapshot() + self._tell_pending_result()

    # -- function calls (calling.py) ------------------------------------------------------

    def _on_tool_calls(self, event: GenerationToolCalls) -> list[Action]:
        if self._current(event.generation_id) is None or not event.calls:
            return []
        return self._calling.open_round(event.calls, self._toolbox)

    def _on_answer(self, answer: Answer) -> list[Action]:
        """A function's result, from the client or a server-side tool: do as it asks."""
        match self._calling.take(answer, replying=self._reply is not None):
            case Answered.ROUND_WAITS:
                return []
            case Answered.ROUND_DONE:  # unless the reply that made the calls is going out
                return self._continue_after_round() if self.state in AWAITING else []
            case Answered.SILENT:
                return self._snapshot() if self.state in QUIET else []
            case Answered.INTERRUPT:
                return self._interrupt(cancel_calls=False) + self._start_reply()
            case Answered.WHEN_IDLE:
                return self._tell_pending_result()

    def _tell_pending_result(self) -> list[Action]:
        """Speak of a function result that waited, once the model and the user are quiet."""
        if not self._calling.result_pending or self.state not in QUIET:
            return []
        if self._user_speaking():
            return []  # the user's turn will see the result in the history
        return self._start_reply()

    def _continue_after_round(self) -> list[Action]:
        """Every blocking call of the round is answered: the model goes on."""
        self._calling.close_round()
        self.state = transition(self.state, Trigger.TOOLS_ANSWERED)
        return self._generate()
