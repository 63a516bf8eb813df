"""Calling: function-call rounds through a turn, on their own (no responder)."""

from __future__ import annotations

from openlive.chat import ToolCall, ToolSpec
from openlive.protocol.codec import to_wire
from openlive.session.actions import CancelServerTool, RunServerTool, Send
from openlive.session.calling import MAX_TOOL_ROUNDS, Answered, Calling
from openlive.session.history import History
from openlive.session.speaking import Reply
from openlive.session.tools import CANCELLED, RUNNING, Answer, Scheduling, Toolbox
from openlive.session.turn import Turn

TOOLBOX = Toolbox(
    specs=(ToolSpec("get_weather"), ToolSpec("lights"), ToolSpec("search")),
    non_blocking=frozenset({"lights"}),
    server_side={"search": "googleSearch"},
)
WEATHER = ToolCall("c1", "get_weather", {"city": "Paris"})
LIGHTS = ToolCall("c2", "lights")
SEARCH = ToolCall("c3", "search", {"q": "news"})


def calling() -> tuple[Calling, History]:
    history = History()
    return Calling(history), history


def answer(c: Calling, call: ToolCall, result: str = '{"ok": true}',
           scheduling: Scheduling = "WHEN_IDLE") -> Answer:
    [open_call] = [o for o in c.ledger.open_calls() if o.call == call]
    c.ledger.finish(call.id)
    return Answer(open_call, result, scheduling, final=True)


def replying() -> Turn:
    """A turn whose reply is going out."""
    return Turn(reply=Reply(1, None))


def test_a_round_sends_the_clients_calls_and_runs_the_servers() -> None:
    c, _ = calling()
    turn = Turn()
    actions = c.open_round(turn, [WEATHER, SEARCH], TOOLBOX)
    [send, run] = actions
    assert isinstance(send, Send)
    assert to_wire(send.message)["toolCall"]["functionCalls"][0]["id"] == "c1"
    assert run == RunServerTool("c3", "googleSearch", "search", {"q": "news"})
    assert turn.round is not None and turn.round.waiting_for == {"c1", "c3"}


def test_the_round_waits_for_every_blocking_call_then_joins_the_history() -> None:
    c, history = calling()
    turn = Turn()
    c.open_round(turn, [WEATHER, LIGHTS, SEARCH], TOOLBOX)
    assert c.take(answer(c, WEATHER), turn) is Answered.ROUND_WAITS
    assert c.take(answer(c, SEARCH, '{"hits": 1}'), turn) is Answered.ROUND_DONE
    c.close_round(turn)
    assert turn.round is None
    head, *results = history.turns()
    assert head.tool_calls == (WEATHER, LIGHTS, SEARCH)
    assert [m.content for m in results] == ['{"ok": true}', RUNNING, '{"hits": 1}']


def test_past_the_round_limit_no_tools_are_offered_until_the_next_turn() -> None:
    c, _ = calling()
    turn = Turn()
    for n in range(MAX_TOOL_ROUNDS):
        assert c.tools(turn, TOOLBOX) == TOOLBOX.specs
        c.open_round(turn, [ToolCall(f"r{n}", "get_weather")], TOOLBOX)
    assert c.tools(turn, TOOLBOX) == ()
    assert c.tools(Turn(), TOOLBOX) == TOOLBOX.specs


def test_a_later_result_waits_while_the_model_replies() -> None:
    c, history = calling()
    turn = replying()
    c.open_round(turn, [LIGHTS], TOOLBOX)
    c.close_round(turn)  # nothing blocking: the model went on
    before = len(history)
    assert c.take(answer(c, LIGHTS), turn) is Answered.WHEN_IDLE
    assert len(history) == before and c.result_pending
    c.release(turn)  # the reply is over
    assert history.turns()[-1].content == '{"ok": true}'
    c.new_turn()
    assert not c.result_pending


def test_a_later_result_says_how_it_is_told() -> None:
    c, history = calling()
    turn = Turn()
    c.open_round(turn, [LIGHTS, ToolCall("c4", "lights"), ToolCall("c5", "lights")], TOOLBOX)
    c.close_round(turn)
    silent = c.take(answer(c, LIGHTS, scheduling="SILENT"), None)
    assert silent is Answered.SILENT and not c.result_pending
    assert history.turns()[-1].tool_call_id == "c2"  # not busy: into the history at once
    now = c.take(answer(c, ToolCall("c4", "lights"), scheduling="INTERRUPT"), replying())
    assert now is Answered.INTERRUPT
    idle = c.take(answer(c, ToolCall("c5", "lights"), scheduling="INTERRUPT"), None)
    assert idle is Answered.WHEN_IDLE  # nothing to interrupt: told when quiet
    assert c.result_pending


def test_interrupting_cancels_the_open_calls_and_keeps_what_was_said() -> None:
    c, history = calling()
    turn = Turn()
    c.open_round(turn, [WEATHER, SEARCH], TOOLBOX)
    [cancellation, stop] = c.interrupt(turn, "Let me check.", cancel=True)
    assert isinstance(cancellation, Send)
    assert to_wire(cancellation.message)["toolCallCancellation"] == {"ids": ["c1"]}
    assert stop == CancelServerTool("c3")
    head, *results = history.turns()
    assert head.content == "Let me check."
    assert [m.content for m in results] == [CANCELLED, CANCELLED]
    assert c.ledger.open_calls() == ()


def test_interrupting_without_cancelling_leaves_the_calls_running() -> None:
    c, history = calling()
    turn = Turn()
    c.open_round(turn, [LIGHTS], TOOLBOX)
    assert c.interrupt(turn, None, cancel=False) == []
    assert history.turns()[-1].content == RUNNING
    assert [o.call for o in c.ledger.open_calls()] == [LIGHTS]


def test_restoring_runs_the_server_side_calls_again() -> None:
    c, _ = calling()
    c.open_round(Turn(), [WEATHER, SEARCH], TOOLBOX)
    open_calls, finished = c.ledger.open_calls(), c.ledger.finished_ids()
    resumed, _ = calling()
    assert resumed.restore(open_calls, finished) == [
        RunServerTool("c3", "googleSearch", "search", {"q": "news"})]
    assert resumed.ledger.open_calls() == open_calls
