"""A conversation: everything a session does once its setup is accepted.

Pure. The :class:`~openlive.session.machine.Session` front handles the handshake,
resumption and the connection's limits; once the setup is accepted it makes a
:class:`Conversation` with the validated :class:`~openlive.session.config.SessionConfig`
(never absent here) and hands it every other event. The conversation routes them: the
client's content, realtime input and function responses, the engines' progress. Its
parts own the rest: the :class:`~openlive.session.responder.Responder` the model's turns,
:class:`~openlive.session.hearing.Hearing` what the user says,
:class:`~openlive.session.seeing.Sight` what the camera shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from openlive.chat import ChatMessage
from openlive.errors import CloseCode, InvalidArgument, truncate_reason
from openlive.protocol.client import (
    ClientContent,
    ClientMessage,
    ContextUpdate,
    RealtimeInput,
    Setup,
    ToolResponse,
)
from openlive.session.actions import Action, Close, SaveSnapshot
from openlive.session.ahead import changes_context
from openlive.session.calling import Calling
from openlive.session.config import ServerCapabilities, SessionConfig, instruction_text
from openlive.session.events import (
    ClientMessageReceived,
    EndOfTurnScored,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
    GenerationMalformedCall,
    GenerationThought,
    GenerationToolCalls,
    RelevanceJudged,
    ServerToolFinished,
    SpeechScored,
    SpeechSynthesized,
    SynthesisDrained,
    SynthesisFailed,
    TranscriptionFailed,
    TranscriptReady,
)
from openlive.session.hearing import Hearing
from openlive.session.history import History, content_message
from openlive.session.listening import Listening
from openlive.session.responder import Responder
from openlive.session.resumption import Snapshot
from openlive.session.seeing import Sight, is_image, refuse_without_vision
from openlive.session.state import State, StateMachine, Trigger
from openlive.session.tools import Toolbox
from openlive.session.turn import Turn

#: The events a conversation handles (the session front keeps the rest).
ConversationEvent = (
    ClientMessageReceived | GenerationDelta | GenerationThought | GenerationFinished
    | GenerationFailed | GenerationToolCalls | GenerationMalformedCall | ServerToolFinished
    | RelevanceJudged | SpeechScored | EndOfTurnScored | TranscriptReady | TranscriptionFailed
    | SpeechSynthesized | SynthesisDrained | SynthesisFailed
)

#: Starts the session's media clock: (now, video) -> actions.
MediaClock = Callable[[float, bool], list[Action]]


class Conversation:
    """One accepted session's conversation. Call :meth:`handle` with each event."""

    def __init__(self, machine: StateMachine, config: SessionConfig,
                 capabilities: ServerCapabilities, *, history: History, calling: Calling,
                 instruction: str | None, resumable: bool, media_clock: MediaClock,
                 consumed: Callable[[], int] = lambda: 0) -> None:
        self.config = config
        self.history = history
        self._machine = machine
        self._capabilities = capabilities
        self._resumable = resumable  # the client asked for sessionResumption updates
        self._media_clock = media_clock
        self._consumed = consumed  # the index of the newest client message handled
        self._sight = Sight(config.image_detail)  # the newest video frame
        listening = None
        if capabilities.audio_input:
            listening = Listening(config.activity,
                                  end_of_turn_model=capabilities.end_of_turn_model,
                                  language=config.language,
                                  languages=config.transcription_languages,
                                  all_input=config.turn_includes_all_input,
                                  interim_every=capabilities.interim_every,
                                  context=history.last_reply,
                                  prosody=config.affective_dialog,
                                  word_timings=config.input_word_timestamp)
        self.responder = Responder(machine, config, history, calling,
                                   context_window=capabilities.context_window,
                                   speech_languages=capabilities.speech_languages,
                                   sight=self._sight, snapshot=self.snapshot,
                                   user_speaking=lambda: self.hearing.speaking,
                                   spoken_language=lambda: self.hearing.language,
                                   prefill=capabilities.prefill)
        self.responder.instruction = instruction
        self.hearing = Hearing(machine, config, listening, self.responder, self._sight,
                               answer_ahead=capabilities.answer_ahead,
                               context_window=capabilities.context_window)

    def resume_waiting(self, turn: Turn) -> None:
        """The resumed session was waiting for ``turn``'s function responses."""
        self.responder.turn = turn

    def handle(self, event: ConversationEvent, now: float) -> list[Action]:
        """Advance the conversation by one event; return the actions, in order."""
        responder = self.responder
        ahead = responder.ahead
        if ahead is not None and ahead.owns(event):
            actions, failed = ahead.hold(event, now)
            # failed: the turn, if it ends at the pause, is answered the usual way
            return responder.drop_ahead() if failed else actions
        match event:
            case ClientMessageReceived(message=message):
                # whatever changes what the model would be asked makes an answer stale
                actions = responder.drop_ahead() if changes_context(message) else []
                return actions + self._on_input(message, now)
            case GenerationDelta():
                reply = responder.current(event.generation_id)
                return reply.on_text(event.text) if reply and event.text else []
            case RelevanceJudged():
                return responder.on_relevance(event)
            case GenerationThought():
                return responder.on_thought(event.generation_id, event.text)
            case GenerationFinished():
                return responder.on_finished(event, now)
            case GenerationToolCalls():
                return responder.on_tool_calls(event)
            case GenerationMalformedCall():
                responder.on_malformed_call(event.generation_id)
                return []
            case ServerToolFinished():
                answer = responder.calling.ledger.answer_server(event.call_id, event.result)
                return responder.on_answer(answer) if answer is not None else []
            case SpeechSynthesized():
                reply = responder.current(event.generation_id)
                return reply.on_audio(event.piece_id, event.pcm, now) if reply else []
            case SynthesisDrained():
                reply = responder.current(event.generation_id)
                if reply is None:
                    return []
                reply.on_synthesis_drained()
                return responder.maybe_complete(now)
            case SpeechScored():
                return self.hearing.on_score(event, now)
            case EndOfTurnScored():
                return self.hearing.on_end_of_turn_score(event, now)
            case TranscriptReady():
                return self.hearing.on_transcript(event, now)
            case GenerationFailed(too_large=True):
                if responder.current(event.generation_id) is None:
                    return []
                return self.close(CloseCode.INVALID_ARGUMENT, event.reason)
            case GenerationFailed() | SynthesisFailed():
                if responder.current(event.generation_id) is None:
                    return []
                return self.close(CloseCode.INTERNAL_ERROR, f"Internal error: {event.reason}")
            case TranscriptionFailed():
                return self.close(CloseCode.INTERNAL_ERROR, f"Internal error: {event.reason}")
            case _:
                assert_never(event)

    def on_tick(self, now: float) -> list[Action]:
        """A timer is due: send the reply's audio that is due by ``now``."""
        reply = self.responder.reply
        if reply is None:
            return []
        return reply.release(now) + self.responder.maybe_complete(now)

    def close(self, code: CloseCode, reason: str) -> list[Action]:
        """End the session: stop the engines working for it, then ``Close``."""
        actions = self.responder.drop_ahead() + self.responder.stop_reply()
        self._machine.move(Trigger.CLOSED)
        # an engine's words (a remote server's error) may be longer than a close frame holds
        return [*actions, Close(code, truncate_reason(reason))]

    def snapshot(self) -> list[Action]:
        """At a point the session can be restored from: save it (when asked to)."""
        if not self._resumable:
            return []
        responder = self.responder
        ledger = responder.calling.ledger
        turn = responder.turn
        snapshot = Snapshot(self.config.model, responder.instruction, self.history.turns(),
                            round=turn.round if turn is not None else None,
                            open_calls=ledger.open_calls(),
                            finished_calls=ledger.finished_ids())
        return [SaveSnapshot(snapshot.encode(), self._consumed())]

    # -- the client's messages ------------------------------------------------------------

    def _on_input(self, message: ClientMessage, now: float) -> list[Action]:
        match message:
            case Setup():
                raise InvalidArgument("setup may only be sent once, as the first message.")
            case ClientContent():
                return self._on_client_content(message)
            case RealtimeInput():
                return self._on_realtime_input(message, now)
            case ToolResponse():
                return self._on_tool_response(message)
            case ContextUpdate():
                return self._on_context_update(message)
            case _:
                assert_never(message)

    def _on_client_content(self, message: ClientContent) -> list[Action]:
        responder = self.responder
        # The proto: "a message here will interrupt any current model generation".
        actions = responder.interrupt("client_content") if message.turns else []
        detail = self.config.image_detail if self._capabilities.vision else None
        typed: list[str] = []
        for content in message.turns:
            chat = content_message(content, detail)
            if chat is not None:
                responder.add_input(chat)
                if chat.role == "user":
                    typed.append(chat.content)
        if typed:
            responder.hear_tone(" ".join(typed), None)
        if not message.turn_complete:
            return actions
        if self._machine.state is State.SEEDING_HISTORY:
            # historyConfig.initialHistoryInClientContent: this completes the seed history.
            self._machine.move(Trigger.HISTORY_SEEDED)
            return actions
        return actions + responder.user_turn_complete()

    def _on_realtime_input(self, message: RealtimeInput, now: float) -> list[Action]:
        responder, hearing = self.responder, self.hearing
        if message.text is not None:
            actions = (responder.interrupt("realtime_text")
                       if self.config.interrupt_on_activity else [])
            if message.text:
                responder.add_input(ChatMessage("user", message.text))
                responder.hear_tone(message.text, None)
            return actions + responder.user_turn_complete()
        chunk = message.media_chunks[0] if message.media_chunks else None
        frame = message.video or (chunk if chunk is not None and is_image(chunk) else None)
        if frame is not None:
            refuse_without_vision(self._capabilities.vision)
            self._sight.on_frame(frame)
            return self._media_clock(now, True)
        audio = message.audio or chunk
        if audio is not None:
            actions = hearing.on_audio(audio)
            responder.usage.heard(hearing.audio_seconds)  # counted at the next turnComplete
            return actions + self._media_clock(now, False)
        if message.activity_start is not None:
            return hearing.on_activity_start(now)
        if message.activity_end is not None:
            return hearing.on_activity_end(now)
        if message.audio_stream_end:
            return hearing.on_stream_end(now)
        return []

    def _on_tool_response(self, message: ToolResponse) -> list[Action]:
        if not message.function_responses:
            raise InvalidArgument("toolResponse has no functionResponses.")
        actions: list[Action] = []
        for index, response in enumerate(message.function_responses):
            answer = self.responder.calling.ledger.answer(index, response)
            if answer is not None:
                actions += self.responder.on_answer(answer)
        return actions

    def _on_context_update(self, message: ContextUpdate) -> list[Action]:
        if message.system_instruction is not None:
            self.responder.instruction = instruction_text(message.system_instruction)
        if message.tools is not None:
            self.responder.toolbox = Toolbox.from_wire(message.tools.tools,
                                                       self._capabilities.server_tools,
                                                       self.config.profile)
        return []
