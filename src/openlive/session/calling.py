"""Function calls through a turn: rounds, responses, and results that come later.

Pure. :mod:`~openlive.session.tools` holds the data (the declared tools, the ledger of
call ids, one round of calls); :class:`~openlive.session.turn.Turn` owns a turn's open
round and the results held back during it; :class:`Calling` runs the calls through the
turns, for the :class:`~openlive.session.responder.Responder`, which owns the turn state
and starts the generations.

Theory of operation: a generation that asks for calls sends ``toolCall`` (or runs a
built-in server-side) and opens a round (:meth:`Calling.open_round`). Once its reply is
out, the turn waits (AWAITING_TOOLS) for the ``toolResponse`` of every blocking call;
then the round joins the history (:meth:`Calling.close_round`) and the model goes on in
the same turn. After :data:`MAX_TOOL_ROUNDS` rounds the model is offered no tools and
must answer in words. NON_BLOCKING calls do not hold the turn up: the round shows them
as running, and their results come back later (:meth:`Calling.take`), wait until the
model is not busy, then join the history as rounds of their own; ``scheduling`` says
what then (:class:`Answered`: INTERRUPT: now; WHEN_IDLE: when the model and the user are
quiet; SILENT: into the history only). Interrupting a turn cancels the calls of its
open round with ``toolCallCancellation`` (:meth:`Calling.interrupt`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from openlive.chat import ChatMessage, ToolCall, ToolSpec
from openlive.protocol.server import ServerMessage, ToolCallCancellation
from openlive.protocol.server import ToolCall as WireToolCall
from openlive.protocol.types import FunctionCall
from openlive.session.actions import Action, CancelServerTool, RunServerTool, Send
from openlive.session.history import History
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
from openlive.session.turn import Turn

#: Rounds of calls one turn may make; after that the model must answer in words.
MAX_TOOL_ROUNDS = 5


class Answered(Enum):
    """What a function's result asks of the machine (see :meth:`Calling.take`)."""

    ROUND_WAITS = "round_waits"  # for the open round, which still waits for others
    ROUND_DONE = "round_done"  # the open round has all its blocking answers: go on
    SILENT = "silent"  # a later result, for the history only
    INTERRUPT = "interrupt"  # a later result: stop the reply and tell it now
    WHEN_IDLE = "when_idle"  # a later result: tell it once the model and user are quiet


class Calling:
    """The function calls of a session's turns, and the results still to be told."""

    def __init__(self, history: History) -> None:
        self.ledger = CallLedger()
        self.result_pending = False  # a WHEN_IDLE function result waits to be told
        self._history = history  # the session's, where rounds and results go

    def new_turn(self) -> None:
        """A model turn starts: it will tell any result waiting."""
        self.result_pending = False

    @staticmethod
    def tools(turn: Turn, toolbox: Toolbox) -> tuple[ToolSpec, ...]:
        """What the next generation of the turn may call: nothing past the round limit."""
        return toolbox.specs if turn.rounds < MAX_TOOL_ROUNDS else ()

    def open_round(self, turn: Turn, calls: Iterable[ToolCall],
                   toolbox: Toolbox) -> list[Action]:
        """The turn's current generation asks for ``calls``: hand them out."""
        issued = self.ledger.issue(calls, toolbox)
        turn.round = ToolRound.open(issued)
        turn.rounds += 1
        actions: list[Action] = []
        for_client = [c.call for c in issued if c.server_tool is None]
        if for_client:
            wire = [FunctionCall(id=c.id, name=c.name, args=c.arguments) for c in for_client]
            actions.append(Send(ServerMessage(tool_call=WireToolCall(function_calls=wire))))
        return actions + _run_server_side(issued)

    def restore(self, open_calls: Iterable[OpenCall], finished: Iterable[str]) -> list[Action]:
        """Take back a resumed session's calls; run again the server-side ones in flight
        (they died with the old connection)."""
        open_calls = tuple(open_calls)
        self.ledger.restore(open_calls, finished)
        return _run_server_side(open_calls)

    def take(self, answer: Answer, turn: Turn | None) -> Answered:
        """A function's result, from the client or a server-side tool, during ``turn``
        (None: the model is quiet). The responder does what the result asks."""
        call = answer.call.call
        round_ = turn.round if turn is not None else None
        if round_ is not None and call in round_.calls:
            round_.take(call.id, answer.result)
            return Answered.ROUND_WAITS if round_.waiting else Answered.ROUND_DONE
        # A NON_BLOCKING call whose round the model has moved past: its result joins the
        # history (once the model is not busy), and ``scheduling`` says whether and when
        # the model speaks of it.
        messages = round_messages("", (call,), {call.id: answer.result})
        if turn is None:
            self._join(messages)
        else:
            turn.held_results += messages
        if answer.scheduling == "SILENT":
            return Answered.SILENT
        replying = turn is not None and turn.reply is not None
        if answer.scheduling == "INTERRUPT" and replying and round_ is None:
            return Answered.INTERRUPT
        self.result_pending = True
        return Answered.WHEN_IDLE

    def close_round(self, turn: Turn) -> None:
        """Every blocking call of the round is answered: the round joins the history."""
        round_, turn.round = turn.round, None
        assert round_ is not None
        self._join(round_.messages())
        self.release(turn)

    def interrupt(self, turn: Turn, said: str | None, *, cancel: bool) -> list[Action]:
        """The turn was interrupted with its round open: the round joins the history
        with ``said`` (what the client got of the reply, if one was going out).

        Its open calls are cancelled, unless ``cancel`` is False (a function result, not
        the user, interrupts).
        """
        round_, turn.round = turn.round, None
        assert round_ is not None
        if said is not None:
            round_.said = said
        cancelled = self.ledger.cancel(round_.calls) if cancel else []
        self._join(round_.messages(CANCELLED if cancel else RUNNING))
        self.release(turn)
        return _cancellations(cancelled)

    def release(self, turn: Turn) -> None:
        """The turn is not busy any more: results that waited join the history."""
        self._join(turn.held_results)
        turn.held_results.clear()

    def _join(self, messages: Iterable[ChatMessage]) -> None:
        for message in messages:
            self._history.append(message)


def _run_server_side(calls: Iterable[OpenCall]) -> list[Action]:
    """Run the calls that a built-in server-side tool answers."""
    return [RunServerTool(c.call.id, c.server_tool, c.call.name, c.call.arguments)
            for c in calls if c.server_tool is not None]


def _cancellations(cancelled: list[OpenCall]) -> list[Action]:
    """Tell the client which of its calls are off, and stop the server's own."""
    actions: list[Action] = [CancelServerTool(c.call.id) for c in cancelled if c.server_tool]
    ids = [c.call.id for c in cancelled if c.server_tool is None]
    if ids:
        cancellation = ToolCallCancellation(ids=ids)
        actions.insert(0, Send(ServerMessage(tool_call_cancellation=cancellation)))
    return actions
