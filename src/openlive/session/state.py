"""The states of a live session and the moves between them, as data.

Everything that decides what the session does next with new input is a state here;
the session's objects hold data (the reply going out, the calls of a round), never a
flag that would decide it on the side.

Rules:
- The first client message must be ``setup``. Accepting it moves AWAITING_SETUP → IDLE,
  or → SEEDING_HISTORY when the client said it sends the initial history as
  ``clientContent`` (``historyConfig.initialHistoryInClientContent``); the
  ``clientContent`` that completes it moves SEEDING_HISTORY → IDLE without a reply.
  A setup that resumes a session waits for its snapshot (→ RESUMING) first.
- A complete user turn moves IDLE → GENERATING; the model finishing moves
  GENERATING → IDLE.
- New user input while the model answers interrupts it (→ IDLE, then → GENERATING
  again for the new turn), unless the client asked for NO_INTERRUPTION: then the turn
  waits its turn (GENERATING → GENERATING_QUEUED, AWAITING_TOOLS →
  AWAITING_TOOLS_QUEUED), and when the model is done (or is interrupted anyway) it
  becomes TURN_PENDING, which starts it at once.
- A reply that called blocking functions ends in AWAITING_TOOLS until every call is
  answered; then the model goes on in the same turn (→ GENERATING). A session resumed
  while waiting starts there (IDLE → AWAITING_TOOLS). User input interrupts the wait
  like a reply (→ IDLE).
- Any state can move to CLOSED; nothing leaves CLOSED.
"""

from __future__ import annotations

from enum import Enum

from openlive.errors import InternalError


class State(Enum):
    AWAITING_SETUP = "awaiting_setup"
    RESUMING = "resuming"  # the setup named a handle: waiting for its snapshot
    SEEDING_HISTORY = "seeding_history"  # clientContent turns are the initial history
    IDLE = "idle"
    GENERATING = "generating"
    AWAITING_TOOLS = "awaiting_tools"
    GENERATING_QUEUED = "generating_queued"  # a user turn waits for this reply
    AWAITING_TOOLS_QUEUED = "awaiting_tools_queued"  # ... and for these calls' answers
    TURN_PENDING = "turn_pending"  # the model is quiet; the waiting user turn starts now
    CLOSED = "closed"


class Trigger(Enum):
    SETUP_RECEIVED = "setup_received"  # with a resumption handle: load the snapshot
    SETUP_ACCEPTED = "setup_accepted"
    HISTORY_EXPECTED = "history_expected"  # the setup asked to seed history first
    HISTORY_SEEDED = "history_seeded"
    GENERATION_STARTED = "generation_started"
    GENERATION_ENDED = "generation_ended"
    INTERRUPTED = "interrupted"
    TURN_QUEUED = "turn_queued"  # a user turn completed while the model is busy
    TOOLS_CALLED = "tools_called"  # the reply is out; its blocking calls are not answered
    TOOLS_ANSWERED = "tools_answered"  # every blocking call is answered: the model goes on
    CLOSED = "closed"


#: The model is answering: replying, or waiting for its calls' responses.
BUSY = frozenset({State.GENERATING, State.AWAITING_TOOLS, State.GENERATING_QUEUED,
                  State.AWAITING_TOOLS_QUEUED})
#: Waiting for the client's function responses.
AWAITING = frozenset({State.AWAITING_TOOLS, State.AWAITING_TOOLS_QUEUED})
#: The model is quiet (a user turn may be about to start, in TURN_PENDING).
QUIET = frozenset({State.IDLE, State.TURN_PENDING})

TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.AWAITING_SETUP, Trigger.SETUP_RECEIVED): State.RESUMING,
    (State.AWAITING_SETUP, Trigger.SETUP_ACCEPTED): State.IDLE,
    (State.RESUMING, Trigger.SETUP_ACCEPTED): State.IDLE,
    (State.IDLE, Trigger.HISTORY_EXPECTED): State.SEEDING_HISTORY,
    (State.SEEDING_HISTORY, Trigger.HISTORY_SEEDED): State.IDLE,
    # realtime input before the seed is complete: a turn, and the seeding is over
    (State.SEEDING_HISTORY, Trigger.GENERATION_STARTED): State.GENERATING,
    (State.IDLE, Trigger.GENERATION_STARTED): State.GENERATING,
    (State.TURN_PENDING, Trigger.GENERATION_STARTED): State.GENERATING,
    (State.GENERATING, Trigger.GENERATION_ENDED): State.IDLE,
    (State.GENERATING_QUEUED, Trigger.GENERATION_ENDED): State.TURN_PENDING,
    (State.GENERATING, Trigger.INTERRUPTED): State.IDLE,
    (State.AWAITING_TOOLS, Trigger.INTERRUPTED): State.IDLE,
    (State.GENERATING_QUEUED, Trigger.INTERRUPTED): State.TURN_PENDING,
    (State.AWAITING_TOOLS_QUEUED, Trigger.INTERRUPTED): State.TURN_PENDING,
    (State.GENERATING, Trigger.TURN_QUEUED): State.GENERATING_QUEUED,
    (State.AWAITING_TOOLS, Trigger.TURN_QUEUED): State.AWAITING_TOOLS_QUEUED,
    (State.GENERATING_QUEUED, Trigger.TURN_QUEUED): State.GENERATING_QUEUED,
    (State.AWAITING_TOOLS_QUEUED, Trigger.TURN_QUEUED): State.AWAITING_TOOLS_QUEUED,
    (State.GENERATING, Trigger.TOOLS_CALLED): State.AWAITING_TOOLS,
    (State.GENERATING_QUEUED, Trigger.TOOLS_CALLED): State.AWAITING_TOOLS_QUEUED,
    (State.IDLE, Trigger.TOOLS_CALLED): State.AWAITING_TOOLS,  # resumed while waiting
    (State.GENERATING, Trigger.TOOLS_ANSWERED): State.GENERATING,
    (State.GENERATING_QUEUED, Trigger.TOOLS_ANSWERED): State.GENERATING_QUEUED,
    (State.AWAITING_TOOLS, Trigger.TOOLS_ANSWERED): State.GENERATING,
    (State.AWAITING_TOOLS_QUEUED, Trigger.TOOLS_ANSWERED): State.GENERATING_QUEUED,
    **{(state, Trigger.CLOSED): State.CLOSED for state in State if state is not State.CLOSED},
}


def transition(state: State, trigger: Trigger) -> State:
    """The state after ``trigger`` in ``state``; an unlisted move is a bug in the session."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InternalError(f"Internal error: {trigger.value} in state {state.value}.") from None


class StateMachine:
    """The session's current state, shared by the objects that run it; it moves only
    through :data:`TRANSITIONS`."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = State.AWAITING_SETUP

    def move(self, trigger: Trigger) -> State:
        """Take the move ``trigger`` from the current state; return the new state."""
        self.state = transition(self.state, trigger)
        return self.state

    @property
    def busy(self) -> bool:
        """The model is answering: replying, or waiting for its calls' responses."""
        return self.state in BUSY
