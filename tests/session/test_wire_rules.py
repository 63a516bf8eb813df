"""The fuzzer's rules catch what they claim to (a rule that cannot fail proves nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.session.wire_rules import RuleBroken, WireRules

RECORD_REPLAYS = False


def send(**content: Any) -> dict[str, Any]:
    return {"send": {"serverContent": content}}


def start(gid: int) -> dict[str, Any]:
    return {"action": "StartGeneration", "generation_id": gid}


def cancel(gid: int) -> dict[str, Any]:
    return {"action": "CancelGeneration", "generation_id": gid}


def tool_call(*ids: str) -> dict[str, Any]:
    return {"send": {"toolCall": {"functionCalls": [{"id": i, "name": "f"} for i in ids]}}}


def cancellation(*ids: str) -> dict[str, Any]:
    return {"send": {"toolCallCancellation": {"ids": list(ids)}}}


TEXT = send(modelTurn={"parts": [{"text": "hi"}]})
DONE = [send(generationComplete=True), send(turnComplete=True)]
INTERRUPTED = [send(interrupted=True), send(turnComplete=True)]


def test_a_turn_and_an_interrupted_turn_keep_the_rules() -> None:
    rules = WireRules()
    rules.check("text", [start(1)])
    rules.check("delta", [TEXT])
    rules.check("finished", DONE)
    rules.check("text", [start(2), TEXT])
    rules.check("text", [cancel(2), *INTERRUPTED, start(3)])
    assert rules.turns_completed == 2 and rules.live == 3
    rules.check("finished", DONE)
    rules.check_quiet()


def test_an_answer_ahead_that_is_dropped_was_never_a_turn() -> None:
    rules = WireRules()
    rules.check("TranscriptReady", [start(1)])
    rules.check("SpeechScored", [cancel(1)])
    rules.check_quiet()
    with pytest.raises(RuleBroken, match="no turn open"):
        rules.check("Tick", [TEXT])


@pytest.mark.parametrize(("steps", "broken"), [
    ([[start(1)], DONE[1:]], "without generationComplete"),
    ([[start(1)], [send(interrupted=True), TEXT]], "after interrupted"),
    ([[start(1)], [*DONE, send(turnComplete=True)]], "turnComplete with no turn open"),
    ([[start(1)], [*DONE[:1], *DONE]], "second generationComplete"),
    ([[{"action": "Close", "code": 1000, "reason": "bye"}], [TEXT]], "after Close"),
    ([[{"action": "Close", "code": 1000, "reason": "bye"}, TEXT]], "after Close"),
    ([[{"action": "Close", "code": 1011, "reason": "Internal error: x in state y."}]],
     "failed itself"),
    ([[start(1)], [tool_call("a")], [cancellation("a")], [cancellation("a")]],
     "cancelled twice"),
    ([[start(1)], [cancellation("b")]], "never issued"),
    ([[start(1)], [tool_call("a")], [tool_call("a")]], "issued twice"),
    ([[start(1)], [start(1)]], "started twice"),
])
def test_each_broken_rule_is_caught(steps: list[list[dict[str, Any]]], broken: str) -> None:
    rules = WireRules()
    with pytest.raises(RuleBroken, match=broken):
        for actions in steps:
            rules.check("event", actions)


def test_an_answered_call_is_never_cancelled() -> None:
    rules = WireRules()
    rules.check("calls", [start(1), tool_call("a")])
    rules.client_answered("a")
    with pytest.raises(RuleBroken, match="after the client answered"):
        rules.check("text", [cancellation("a")])


def test_a_turn_does_not_end_with_its_blocking_calls_open() -> None:
    rules = WireRules(non_blocking=frozenset({"later"}))
    rules.check("calls", [start(1), tool_call("a")])
    with pytest.raises(RuleBroken, match="leaves blocking calls open"):
        rules.check("text", [cancel(1), *INTERRUPTED])


def test_a_stale_generation_does_nothing_and_a_turn_ends() -> None:
    rules = WireRules()
    rules.check("text", [start(1)])
    with pytest.raises(RuleBroken, match="stale"):
        rules.check("GenerationDelta", [TEXT], stale_event=True)
    with pytest.raises(RuleBroken, match="never completed"):
        rules.check_quiet()
