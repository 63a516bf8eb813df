"""The sans-I/O state machine of one live session: its front.

Theory of operation: the driver feeds every event — a decoded client message, a piece
of generated text, a VAD score, a timer — to :meth:`Session.handle` together with the
current time, and carries out the actions it returns, in order. The session never
touches a socket, a clock or a model, so its tests are conversations of frames that
run in microseconds.

The front owns what belongs to the connection: the handshake (the first message must be
``setup``; it is validated into a :class:`~openlive.session.config.SessionConfig`, with
an ephemeral token's locked fields applied), resumption (a setup naming a handle waits
for its snapshot), the connection's lifetime and ``goAway``, the media session limit,
and closing. Once the setup is accepted, a
:class:`~openlive.session.conversation.Conversation` takes every other event: it owns
the model's turns (:mod:`~openlive.session.responder`), what the user says
(:mod:`~openlive.session.hearing`) and the function calls
(:mod:`~openlive.session.calling`). Which moves are possible is the table in
:mod:`~openlive.session.state`, shared by all of them through one
:class:`~openlive.session.state.StateMachine`.
"""

from __future__ import annotations

from openlive.catalog import ModelCatalog
from openlive.errors import CloseCode, InvalidArgument, PolicyViolation, ProtocolError
from openlive.protocol.client import Setup
from openlive.protocol.server import ServerMessage, SessionResumptionUpdate
from openlive.session.actions import Action, Close, LoadSnapshot, Send, SetupAccepted
from openlive.session.calling import MAX_TOOL_ROUNDS, Calling
from openlive.session.config import ServerCapabilities, SessionConfig
from openlive.session.constraints import SetupConstraints, apply_constraints
from openlive.session.conversation import Conversation
from openlive.session.events import (
    ClientMessageReceived,
    Event,
    ShutdownRequested,
    SnapshotLoaded,
    SnapshotSaved,
    Tick,
)
from openlive.session.history import History
from openlive.session.lifetime import CONNECTION_ENDED, ConnectionLimits, Lifetime, MediaLimit
from openlive.session.resumption import Snapshot
from openlive.session.speaking import Reply
from openlive.session.state import State, StateMachine, Trigger
from openlive.session.turn import Turn
from openlive.session.usage import TurnUsage

__all__ = ["MAX_TOOL_ROUNDS", "Session"]  # MAX_TOOL_ROUNDS lives in calling.py; kept here too

_BEFORE_SETUP = (State.AWAITING_SETUP, State.RESUMING)


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
        self.session_id = session_id
        self._machine = StateMachine()
        self._lifetime = Lifetime(limits)
        self._media_limit = MediaLimit(limits)
        self._constraints = constraints  # fields an ephemeral token locks
        self._catalog = catalog
        self._capabilities = capabilities or ServerCapabilities()
        self._resumable = False  # the client asked for sessionResumption updates
        self._pending_setup: SessionConfig | None = None  # RESUMING: waits for its snapshot
        self._conversation: Conversation | None = None  # once the setup is accepted
        # the index of the newest client message on this connection (setup is 0): a
        # resumption update says up to which one its handle includes
        self._received = -1

    # -- what tests and the driver may look at --------------------------------------------

    @property
    def state(self) -> State:
        return self._machine.state

    @property
    def config(self) -> SessionConfig | None:
        """The accepted setup (None before)."""
        return self._conversation.config if self._conversation is not None else None

    @property
    def history(self) -> History:
        """The conversation as the model sees it (empty before setup)."""
        return self._conversation.history if self._conversation is not None else History()

    @property
    def reply(self) -> Reply | None:
        """The reply going out now, if any."""
        conversation = self._conversation
        return conversation.responder.reply if conversation is not None else None

    @property
    def usage(self) -> list[TurnUsage]:
        """What each completed model turn used, in order."""
        conversation = self._conversation
        return conversation.responder.usage.turns if conversation is not None else []

    # -- entry point ----------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        """Advance the session by one event; return the actions to carry out in order.

        ``now`` is the driver's monotonic clock in seconds (for pacing and timers).
        """
        if self.state is State.CLOSED:
            return []
        if isinstance(event, ClientMessageReceived):
            self._received += 1
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
        match event:
            case ClientMessageReceived(message=message) if self.state in _BEFORE_SETUP:
                if self.state is State.RESUMING and isinstance(message, Setup):
                    raise InvalidArgument("setup may only be sent once, as the first message.")
                if not isinstance(message, Setup):
                    raise InvalidArgument("The first message must be setup.")
                return self._lifetime.start(now) + self._on_setup(message)
            case SnapshotLoaded(data=data):
                return self._on_snapshot_loaded(data)
            case SnapshotSaved(handle=handle, consumed=consumed):
                update = SessionResumptionUpdate(
                    new_handle=handle, resumable=True,
                    last_consumed_client_message_index=consumed)
                return [Send(ServerMessage(session_resumption_update=update))]
            case ShutdownRequested(grace=grace):
                self._lifetime.shorten(now + grace)
                return self._check_lifetime(now)
            case Tick():
                actions = self._check_lifetime(now)
                if self._conversation is None or self.state is State.CLOSED:
                    return actions
                return actions + self._conversation.on_tick(now)
            case _:
                if self._conversation is None:
                    return []  # no engine works for a session before its setup
                return self._conversation.handle(event, now)

    def _close(self, code: CloseCode, reason: str) -> list[Action]:
        if self._conversation is not None:
            return self._conversation.close(code, reason)
        self._machine.move(Trigger.CLOSED)
        return [Close(code, reason)]

    # -- setup and resumption -------------------------------------------------------------

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
            self._machine.move(Trigger.SETUP_RECEIVED)
            return [LoadSnapshot(resumption.handle)]  # setupComplete once it is back
        history = History()
        conversation = self._converse(config, history, Calling(history),
                                      config.system_instruction)
        return self._accept(conversation, seed=config.initial_history_in_client_content)

    def _on_snapshot_loaded(self, data: bytes) -> list[Action]:
        config = self._pending_setup
        if config is None or self.state is not State.RESUMING:
            return []
        snapshot = Snapshot.decode(data)
        history = History()
        for message in snapshot.history:
            history.append(message)
        calling = Calling(history)
        rerun = calling.restore(snapshot.open_calls, snapshot.finished_calls)
        # a resumed session keeps its instruction unless the new setup gives one
        instruction = config.system_instruction or snapshot.system_instruction
        conversation = self._converse(config, history, calling, instruction)
        if snapshot.round is not None:
            # before setup is accepted, so that the snapshot saved with it holds the round
            conversation.resume_waiting(Turn(round=snapshot.round))
        # a resumed session has its history back: there is nothing to seed
        actions = self._accept(conversation, seed=False)
        if snapshot.round is not None:
            # it was waiting for function responses: the client answers on this connection
            self._machine.move(Trigger.TOOLS_CALLED)
        return actions + rerun

    def _converse(self, config: SessionConfig, history: History, calling: Calling,
                  instruction: str | None) -> Conversation:
        return Conversation(self._machine, config, self._capabilities, history=history,
                            calling=calling, instruction=instruction,
                            resumable=self._resumable, media_clock=self._start_media_limit,
                            consumed=lambda: self._received)

    def _accept(self, conversation: Conversation, *, seed: bool) -> list[Action]:
        self._conversation = conversation
        self._machine.move(Trigger.SETUP_ACCEPTED)
        if seed:
            self._machine.move(Trigger.HISTORY_EXPECTED)
        # the instructions (and a resumed history) are evaluated while the client gets
        # ready to speak: the first answer then starts from the user's words
        warm = conversation.responder.prefill()
        return [SetupAccepted(self.session_id), *conversation.snapshot(), *warm]

    # -- limits ---------------------------------------------------------------------------

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
