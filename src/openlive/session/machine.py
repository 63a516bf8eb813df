"""The sans-I/O state machine of one live session.

Theory of operation: the driver feeds every event — a decoded client message, a piece
of generated text, the end or failure of a generation — to :meth:`Session.handle`
together with the current time, and carries out the actions it returns, in order. The
session never touches a socket, a clock or a model, so its tests are conversations of
frames that run in microseconds.

A turn: the client completes a user turn (``clientContent`` with ``turnComplete``, or
``realtimeInput.text``) → ``StartGeneration`` → each ``GenerationDelta`` becomes a
``modelTurn`` message → ``GenerationFinished`` appends the model turn to history and
sends ``generationComplete`` then ``turnComplete`` with ``usageMetadata``. New user input
during generation interrupts it: ``CancelGeneration``, ``interrupted``, ``turnComplete``,
and history keeps only the text that was actually sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openlive.catalog import ModelCatalog
from openlive.engines.llm.base import ChatMessage, GenerationRequest
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
    ModalityTokenCount,
    ServerContent,
    ServerMessage,
    SetupComplete,
    UsageMetadata,
)
from openlive.protocol.types import Content, Part
from openlive.session.actions import Action, CancelGeneration, Close, Send, StartGeneration
from openlive.session.config import ServerCapabilities, SessionConfig, instruction_text
from openlive.session.events import (
    ClientMessageReceived,
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
)
from openlive.session.history import History, content_message
from openlive.session.state import State, Trigger, transition


@dataclass(slots=True)
class _Generation:
    id: int
    sent: list[str] = field(default_factory=list)  # text already sent to the client


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """Token counts of one model turn, as reported in ``usageMetadata``."""

    prompt_tokens: int
    response_tokens: int


class Session:
    """One live session. Call :meth:`handle` for every event; do what it returns."""

    def __init__(
        self,
        *,
        session_id: str,
        catalog: ModelCatalog,
        capabilities: ServerCapabilities | None = None,
    ) -> None:
        self.session_id = session_id
        self._catalog = catalog
        self._capabilities = capabilities or ServerCapabilities()
        self.state = State.AWAITING_SETUP
        self.config: SessionConfig | None = None
        self.history = History()
        self.usage: list[TurnUsage] = []
        self._generation: _Generation | None = None
        self._next_generation_id = 1
        self._turn_pending = False  # a user turn waits for the current generation to end
        self._collecting_initial_history = False
        self._system_instruction: str | None = None

    # -- entry point ----------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        """Advance the session by one event; return the actions to carry out in order.

        ``now`` is the driver's monotonic clock in seconds (for timers and limits).
        """
        if self.state is State.CLOSED:
            return []
        try:
            return self._dispatch(event)
        except ProtocolError as err:
            return self.abort(err)

    def abort(self, error: ProtocolError) -> list[Action]:
        """End the session because of ``error`` (e.g. a frame that failed to decode)."""
        if self.state is State.CLOSED:
            return []
        return self._close(error.close_code, error.reason)

    def _dispatch(self, event: Event) -> list[Action]:
        match event:
            case ClientMessageReceived(message=message):
                return self._on_client_message(message)
            case GenerationDelta():
                return self._on_delta(event)
            case GenerationFinished():
                return self._on_finished(event)
            case GenerationFailed():
                return self._on_failed(event)

    def _close(self, code: CloseCode, reason: str) -> list[Action]:
        actions: list[Action] = []
        if self._generation is not None:
            actions.append(CancelGeneration(self._generation.id))
            self._generation = None
        self.state = transition(self.state, Trigger.CLOSED)
        actions.append(Close(code, reason))
        return actions

    # -- client messages ------------------------------------------------------------------

    def _on_client_message(self, message: ClientMessage) -> list[Action]:
        if self.state is State.AWAITING_SETUP:
            if not isinstance(message, Setup):
                raise InvalidArgument("The first message must be setup.")
            return self._on_setup(message)
        match message:
            case Setup():
                raise InvalidArgument("setup may only be sent once, as the first message.")
            case ClientContent():
                return self._on_client_content(message)
            case RealtimeInput():
                return self._on_realtime_input(message)
            case ToolResponse():
                return self._on_tool_response(message)
            case ContextUpdate():
                return self._on_context_update(message)

    def _on_setup(self, setup: Setup) -> list[Action]:
        self.config = SessionConfig.from_setup(setup, self._catalog, self._capabilities)
        self._system_instruction = self.config.system_instruction
        self._collecting_initial_history = self.config.initial_history_in_client_content
        self.state = transition(self.state, Trigger.SETUP_ACCEPTED)
        return [Send(ServerMessage(setup_complete=SetupComplete(session_id=self.session_id)))]

    def _on_client_content(self, message: ClientContent) -> list[Action]:
        # The proto: "a message here will interrupt any current model generation".
        actions = self._interrupt() if message.turns else []
        for content in message.turns:
            chat = content_message(content)
            if chat is not None:
                self.history.append(chat)
        if not message.turn_complete:
            return actions
        if self._collecting_initial_history:
            # historyConfig.initialHistoryInClientContent: this completes the seed history.
            self._collecting_initial_history = False
            return actions
        return actions + self._user_turn_complete()

    def _on_realtime_input(self, message: RealtimeInput) -> list[Action]:
        if message.text is not None:
            actions = self._interrupt() if self._interrupts() else []
            if message.text:
                self.history.append(ChatMessage("user", message.text))
            return actions + self._user_turn_complete()
        if message.audio is not None or message.media_chunks or message.video is not None:
            raise PolicyViolation("Audio and video input are not supported by this server yet.")
        if message.activity_start is not None or message.activity_end is not None:
            raise InvalidArgument(
                "activityStart/activityEnd need automaticActivityDetection.disabled in setup."
            )
        return []  # audioStreamEnd with nothing buffered: nothing to flush

    def _on_tool_response(self, message: ToolResponse) -> list[Action]:
        ids = [r.id or "(no id)" for r in message.function_responses]
        raise InvalidArgument(f"toolResponse names unknown function call id {', '.join(ids)}.")

    def _on_context_update(self, message: ContextUpdate) -> list[Action]:
        if message.system_instruction is not None:
            self._system_instruction = instruction_text(message.system_instruction)
        return []

    # -- turns ------------------------------------------------------------------------------

    def _interrupts(self) -> bool:
        return self.config is not None and self.config.interrupt_on_activity

    def _user_turn_complete(self) -> list[Action]:
        if self._generation is not None:
            self._turn_pending = True  # NO_INTERRUPTION-style: answer after this one
            return []
        return self._start_generation()

    def _start_generation(self) -> list[Action]:
        assert self.config is not None  # set by setup; states after it guarantee it
        self._turn_pending = False
        generation = _Generation(id=self._next_generation_id)
        self._next_generation_id += 1
        self._generation = generation
        self.state = transition(self.state, Trigger.GENERATION_STARTED)
        request = GenerationRequest(
            messages=self.history.messages(self._system_instruction),
            sampling=self.config.sampling,
        )
        return [StartGeneration(generation.id, self.config.backend, request)]

    def _interrupt(self) -> list[Action]:
        """Stop the generation in flight, keeping in history only what was sent."""
        generation = self._generation
        if generation is None:
            return []
        self._generation = None
        self.state = transition(self.state, Trigger.INTERRUPTED)
        self._remember_model_turn(generation)
        return [
            CancelGeneration(generation.id),
            Send(ServerMessage(server_content=ServerContent(interrupted=True))),
            Send(ServerMessage(server_content=ServerContent(turn_complete=True))),
        ]

    def _remember_model_turn(self, generation: _Generation) -> None:
        text = "".join(generation.sent)
        if text:
            self.history.append(ChatMessage("assistant", text))

    # -- engine events ----------------------------------------------------------------------

    def _current(self, generation_id: int) -> _Generation | None:
        generation = self._generation
        return generation if generation is not None and generation.id == generation_id else None

    def _on_delta(self, event: GenerationDelta) -> list[Action]:
        generation = self._current(event.generation_id)
        if generation is None or not event.text:
            return []
        generation.sent.append(event.text)
        turn = Content(role="model", parts=[Part(text=event.text)])
        return [Send(ServerMessage(server_content=ServerContent(model_turn=turn)))]

    def _on_finished(self, event: GenerationFinished) -> list[Action]:
        generation = self._current(event.generation_id)
        if generation is None:
            return []
        self._generation = None
        self.state = transition(self.state, Trigger.GENERATION_ENDED)
        self._remember_model_turn(generation)
        usage = TurnUsage(event.prompt_tokens, event.completion_tokens)
        self.usage.append(usage)
        actions: list[Action] = [
            Send(ServerMessage(server_content=ServerContent(generation_complete=True))),
            Send(
                ServerMessage(
                    server_content=ServerContent(turn_complete=True),
                    usage_metadata=usage_metadata(usage),
                )
            ),
        ]
        if self._turn_pending:
            actions += self._start_generation()
        return actions

    def _on_failed(self, event: GenerationFailed) -> list[Action]:
        if self._current(event.generation_id) is None:
            return []
        self._generation = None
        return self._close(CloseCode.INTERNAL_ERROR, f"Internal error: {event.reason}")


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
