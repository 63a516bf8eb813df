"""The turn states of a live session and the moves between them, as data.

Rules:
- The first client message must be ``setup``; it moves AWAITING_SETUP → IDLE.
- A complete user turn moves IDLE → GENERATING; the model finishing (or failing into a
  retry-less error) moves GENERATING → IDLE.
- New user input while GENERATING interrupts (→ IDLE, then → GENERATING again for the new
  turn) unless the client asked for NO_INTERRUPTION, in which case the turn waits.
- A reply that called blocking functions ends in AWAITING_TOOLS (GENERATING →
  AWAITING_TOOLS) until every call is answered; then the model goes on (→ GENERATING,
  the same turn). A session resumed while waiting starts there (IDLE → AWAITING_TOOLS).
  User input interrupts the wait like a reply (→ IDLE).
- Any state can move to CLOSED; nothing leaves CLOSED.
"""

from __future__ import annotations

from enum import Enum

from openlive.errors import InternalError


class State(Enum):
    AWAITING_SETUP = "awaiting_setup"
    IDLE = "idle"
    GENERATING = "generating"
    AWAITING_TOOLS = "awaiting_tools"
    CLOSED = "closed"


class Trigger(Enum):
    SETUP_ACCEPTED = "setup_accepted"
    GENERATION_STARTED = "generation_started"
    GENERATION_ENDED = "generation_ended"
    INTERRUPTED = "interrupted"
    TOOLS_CALLED = "tools_called"  # the reply is out; its blocking calls are not answered
    TOOLS_ANSWERED = "tools_answered"  # every blocking call is answered: the model goes on
    CLOSED = "closed"


TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.AWAITING_SETUP, Trigger.SETUP_ACCEPTED): State.IDLE,
    (State.IDLE, Trigger.GENERATION_STARTED): State.GENERATING,
    (State.GENERATING, Trigger.GENERATION_ENDED): State.IDLE,
    (State.GENERATING, Trigger.INTERRUPTED): State.IDLE,
    (State.GENERATING, Trigger.TOOLS_CALLED): State.AWAITING_TOOLS,
    (State.GENERATING, Trigger.TOOLS_ANSWERED): State.GENERATING,
    (State.IDLE, Trigger.TOOLS_CALLED): State.AWAITING_TOOLS,
    (State.AWAITING_TOOLS, Trigger.TOOLS_ANSWERED): State.GENERATING,
    (State.AWAITING_TOOLS, Trigger.INTERRUPTED): State.IDLE,
    **{(state, Trigger.CLOSED): State.CLOSED for state in State if state is not State.CLOSED},
}


def transition(state: State, trigger: Trigger) -> State:
    """The state after ``trigger`` in ``state``; an unlisted move is a bug in the session."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InternalError(f"Internal error: {trigger.value} in state {state.value}.") from None
