"""Function calling in the session machine, as conversations of frames.

The model's side is played by feeding ``GenerationToolCalls``; the client's side by
``toolResponse`` frames, exactly as the SDKs send them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from openlive.chat import ToolCall, ToolSpec
from openlive.errors import CloseCode
from openlive.session.actions import (
    CancelGeneration,
    CancelServerTool,
    RunServerTool,
    SaveSnapshot,
    StartGeneration,
)
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    GenerationMalformedCall,
    GenerationToolCalls,
    ServerToolFinished,
    SnapshotLoaded,
)
from openlive.session.machine import MAX_TOOL_ROUNDS
from openlive.session.state import State
from openlive.session.tools import CANCELLED, RUNNING
from tests.session.conversation import Conversation, closes, sent, starts

WEATHER = {"name": "get_weather", "description": "Weather for a city.",
           "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                          "required": ["city"]}}
LIGHTS = {"name": "turn_on_the_lights", "behavior": "NON_BLOCKING"}
TOOLS = [{"functionDeclarations": [WEATHER, LIGHTS]}]
PARIS = ToolCall("function-call-1", "get_weather", {"city": "Paris"})
LIGHTS_ON = ToolCall("function-call-2", "turn_on_the_lights", {})


def session(**setup: Any) -> Conversation:
    c = Conversation(setup.pop("capabilities", None))
    c.setup(tools=setup.pop("tools", TOOLS), **setup)
    return c


def ask(c: Conversation, text: str = "Weather in Paris?") -> StartGeneration:
    [start] = starts(c.client({"realtimeInput": {"text": text}}))
    return start


def call(c: Conversation, gid: int, *calls: ToolCall) -> list:
    return c.feed(GenerationToolCalls(gid, calls))


def respond(c: Conversation, *responses: dict[str, Any]) -> list:
    return c.client({"toolResponse": {"functionResponses": list(responses)}})


def roles(start: StartGeneration) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in start.request.messages]


# -- declarations ---------------------------------------------------------------------------


def test_declarations_reach_the_model_as_json_schema() -> None:
    c = session(tools=[{"functionDeclarations": [WEATHER, {
        "name": "json_fn", "parametersJsonSchema": {"type": "object",
                                                    "properties": {"x": {"type": "string"}}}}]}])
    start = ask(c)
    weather, json_fn = start.request.tools
    assert weather == ToolSpec("get_weather", "Weather for a city.", {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    assert json_fn.parameters == {"type": "object", "properties": {"x": {"type": "string"}}}


def test_bad_declarations_close_1007_with_the_reason() -> None:
    bad_name = Conversation()
    [close] = closes(bad_name.setup(tools=[{"functionDeclarations": [{"name": "9 lives"}]}]))
    assert close.code == CloseCode.INVALID_ARGUMENT and "9 lives" in close.reason
    twice = Conversation()
    [close] = closes(twice.setup(tools=[{"functionDeclarations": [WEATHER]},
                                        {"functionDeclarations": [WEATHER]}]))
    assert close.code == CloseCode.INVALID_ARGUMENT and "more than once" in close.reason
    schema = Conversation()
    [close] = closes(schema.setup(tools=[{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": 3}}}]}]))
    assert close.code == CloseCode.INVALID_ARGUMENT and "properties.a" in close.reason


@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "object", "properties": {"a": {"type": "text"}}}, "parametersJsonSchema.properties.a"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}}, "$ref '#/$defs/nope'"),
])
def test_invalid_json_schemas_close_1007_naming_the_declaration(
    schema: dict[str, Any], words: str
) -> None:
    c = Conversation()
    [close] = closes(c.setup(tools=[{"functionDeclarations": [
        WEATHER, {"name": "f", "parametersJsonSchema": schema}]}]))
    assert close.code == CloseCode.INVALID_ARGUMENT
    assert "tools[0].functionDeclarations[1]" in close.reason and words in close.reason


@pytest.mark.parametrize("builtin", ["googleSearch", "codeExecution", "urlContext", "googleMaps"])
def test_builtin_tools_without_a_server_side_implementation_are_refused_by_name(
    builtin: str,
) -> None:
    c = Conversation()
    [close] = closes(c.setup(tools=[{builtin: {}}, {"functionDeclarations": [WEATHER]}]))
    assert close.code == CloseCode.POLICY_VIOLATION
    assert builtin in close.reason and "not available" in close.reason


# -- blocking calls -------------------------------------------------------------------------


def test_blocking_call_round_trip_in_one_turn() -> None:
    c = session()
    first = ask(c)
    assert sent(c.delta(first.generation_id, "Let me check. ")) != []
    assert sent(call(c, first.generation_id, PARIS)) == [{"toolCall": {"functionCalls": [
        {"id": "function-call-1", "name": "get_weather", "args": {"city": "Paris"}}]}}]
    # the reply is out, but the turn waits for the client: no generationComplete, no turnComplete
    assert sent(c.finish(first.generation_id, prompt=10, completion=4)) == []
    assert c.session.state is State.AWAITING_TOOLS
    [then] = starts(respond(c, {"id": "function-call-1", "name": "get_weather",
                                "response": {"output": "light rain"}}))
    assert roles(then)[-2:] == [("assistant", "Let me check. "),
                                ("tool", '{"output":"light rain"}')]
    assert then.request.messages[-2].tool_calls == (PARIS,)
    assert then.request.messages[-1].tool_call_id == "function-call-1"
    c.delta(then.generation_id, "It rains.")
    out = sent(c.finish(then.generation_id, prompt=20, completion=3))
    assert out[0] == {"serverContent": {"generationComplete": True}}
    assert out[1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IDLE"}
    usage = out[1]["usageMetadata"]
    assert (usage["promptTokenCount"], usage["responseTokenCount"]) == (30, 7)
    assert c.session.state is State.IDLE
    # the model turn is in the history for the next turn, after the round
    assert roles(ask(c, "Thanks"))[-3:] == [("tool", '{"output":"light rain"}'),
                                            ("assistant", "It rains."), ("user", "Thanks")]


def test_two_calls_in_one_message_wait_for_both_responses() -> None:
    c = session()
    first = ask(c)
    rome = ToolCall("function-call-3", "get_weather", {"city": "Rome"})
    [frame] = sent(call(c, first.generation_id, PARIS, rome))
    assert [f["id"] for f in frame["toolCall"]["functionCalls"]] == [PARIS.id, rome.id]
    c.finish(first.generation_id)
    assert starts(respond(c, {"id": rome.id, "response": {"output": "sun"}})) == []
    [then] = starts(respond(c, {"id": PARIS.id, "response": {"output": "rain"}}))
    tools = [(m.tool_call_id, m.content) for m in then.request.messages if m.role == "tool"]
    assert tools == [(PARIS.id, '{"output":"rain"}'), (rome.id, '{"output":"sun"}')]


def test_response_before_the_reply_is_out_continues_when_it_is() -> None:
    c = session()
    first = ask(c)
    call(c, first.generation_id, PARIS)
    assert starts(respond(c, {"id": PARIS.id, "response": {"output": "rain"}})) == []
    [then] = starts(c.finish(first.generation_id))
    assert roles(then)[-1] == ("tool", '{"output":"rain"}')


@pytest.mark.parametrize(("response", "words"), [
    ({"id": "function-call-9", "response": {}}, "unknown function call id"),
    ({"name": "get_weather", "response": {}}, "has no id"),
    ({"id": "function-call-1", "name": "get_time", "response": {}}, "'get_weather'"),
])
def test_bad_responses_close_1007_and_say_why(response: dict, words: str) -> None:
    c = session()
    first = ask(c)
    call(c, first.generation_id, PARIS)
    c.finish(first.generation_id)
    [close] = closes(respond(c, response))
    assert close.code == CloseCode.INVALID_ARGUMENT and words in close.reason


def test_empty_tool_response_is_invalid() -> None:
    c = session()
    [close] = closes(c.client({"toolResponse": {"functionResponses": []}}))
    assert close.code == CloseCode.INVALID_ARGUMENT


def test_interruption_cancels_the_pending_calls() -> None:
    c = session()
    first = ask(c)
    call(c, first.generation_id, PARIS)
    c.finish(first.generation_id)
    out = c.client({"realtimeInput": {"text": "Never mind, what time is it?"}})
    assert sent(out)[:3] == [
        {"toolCallCancellation": {"ids": ["function-call-1"]}},
        {"serverContent": {"interrupted": True}},
        {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}},
    ]
    [then] = starts(out)
    # the model knows the call was abandoned, then hears the new question
    assert roles(then)[-2:] == [("tool", CANCELLED), ("user", "Never mind, what time is it?")]
    # a late response for the cancelled call is dropped quietly, as the Live API does
    assert respond(c, {"id": PARIS.id, "response": {"output": "rain"}}) == []
    assert c.session.state is State.GENERATING


def test_interruption_during_the_reply_that_calls_cancels_generation_and_calls() -> None:
    c = session()
    first = ask(c)
    call(c, first.generation_id, PARIS)
    out = c.client({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "stop"}]}],
                                      "turnComplete": True}})
    assert CancelGeneration(first.generation_id) in out
    assert sent(out)[0] == {"toolCallCancellation": {"ids": [PARIS.id]}}


def test_no_interruption_lets_the_turn_finish_first() -> None:
    c = session(realtimeInputConfig={"activityHandling": "NO_INTERRUPTION"})
    first = ask(c)
    call(c, first.generation_id, PARIS)
    c.finish(first.generation_id)
    assert starts(c.client({"realtimeInput": {"text": "And Rome?"}})) == []
    [then] = starts(respond(c, {"id": PARIS.id, "response": {"output": "rain"}}))
    [after] = starts(c.finish(then.generation_id))
    assert roles(after)[-1] == ("user", "And Rome?")


def test_rounds_per_turn_are_capped() -> None:
    c = session()
    start = ask(c)
    for n in range(MAX_TOOL_ROUNDS):
        assert start.request.tools, n
        again = ToolCall(f"function-call-{100 + n}", "get_weather", {"city": "Paris"})
        call(c, start.generation_id, again)
        c.finish(start.generation_id)
        [start] = starts(respond(c, {"id": again.id, "response": {"output": "rain"}}))
    assert start.request.tools == ()  # the model must answer with what it has


def test_malformed_call_ends_the_turn_with_its_reason() -> None:
    c = session()
    first = ask(c)
    c.feed(GenerationMalformedCall(first.generation_id, ("get_time is not declared",)))
    out = sent(c.finish(first.generation_id))
    assert out[1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IDLE",
                                       "turnCompleteReason": "MALFORMED_FUNCTION_CALL"}


# -- non-blocking calls ---------------------------------------------------------------------


def nonblocking_turn(c: Conversation) -> None:
    """The model calls turn_on_the_lights (NON_BLOCKING) and says it has started."""
    first = ask(c, "Lights on, please")
    call(c, first.generation_id, LIGHTS_ON)
    [then] = starts(c.finish(first.generation_id))  # it does not wait for the result
    assert roles(then)[-1] == ("tool", RUNNING)
    c.delta(then.generation_id, "Turning them on.")
    out = sent(c.finish(then.generation_id))
    assert out[-1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IDLE"}
    assert c.session.state is State.IDLE


def test_non_blocking_result_when_idle_is_told_at_once() -> None:
    c = session()
    nonblocking_turn(c)
    [start] = starts(respond(c, {"id": LIGHTS_ON.id, "response": {"output": "on"},
                                 "scheduling": "WHEN_IDLE"}))
    assert roles(start)[-2:] == [("assistant", ""), ("tool", '{"output":"on"}')]


def test_non_blocking_silent_result_only_joins_the_history() -> None:
    c = session()
    nonblocking_turn(c)
    assert starts(respond(c, {"id": LIGHTS_ON.id, "response": {"output": "on"},
                              "scheduling": "SILENT"})) == []
    assert roles(ask(c, "Are they on?"))[-2:] == [("tool", '{"output":"on"}'),
                                                  ("user", "Are they on?")]


def test_non_blocking_interrupt_result_interrupts_the_reply() -> None:
    c = session()
    nonblocking_turn(c)
    talking = ask(c, "Tell me a story")
    c.delta(talking.generation_id, "Once upon")
    out = respond(c, {"id": LIGHTS_ON.id, "response": {"output": "on"},
                      "scheduling": "INTERRUPT"})
    assert CancelGeneration(talking.generation_id) in out
    assert sent(out) == [{"serverContent": {"interrupted": True}},
                         {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}}]  # no cancellation
    [start] = starts(out)
    assert roles(start)[-3:] == [("assistant", "Once upon"), ("assistant", ""),
                                 ("tool", '{"output":"on"}')]


def test_non_blocking_when_idle_result_waits_for_the_reply() -> None:
    c = session()
    nonblocking_turn(c)
    talking = ask(c, "Tell me a story")
    assert starts(respond(c, {"id": LIGHTS_ON.id, "response": {"output": "on"}})) == []
    c.delta(talking.generation_id, "The end.")
    out = c.finish(talking.generation_id)
    # the model goes on by itself: SDK 3.x's receive() reads on into what it says next
    assert sent(out)[1]["serverContent"] == {"turnComplete": True,
                                             "interactionStatus": "IN_PROGRESS"}
    [start] = starts(out)  # then the model tells the result
    assert roles(start)[-1] == ("tool", '{"output":"on"}')


def test_will_continue_keeps_the_call_open_until_the_last_response() -> None:
    c = session()
    nonblocking_turn(c)
    progress = {"id": LIGHTS_ON.id, "scheduling": "SILENT", "willContinue": True}
    assert closes(respond(c, {**progress, "response": {"output": "50%"}})) == []
    assert closes(respond(c, {**progress, "response": {"output": "90%"}})) == []
    assert closes(respond(c, {"id": LIGHTS_ON.id, "response": {}, "scheduling": "SILENT",
                              "willContinue": False})) == []
    assert respond(c, {"id": LIGHTS_ON.id, "response": {"output": "late"}}) == []  # finished
    tool_results = [m.content for m in ask(c, "?").request.messages if m.role == "tool"]
    assert tool_results == [RUNNING, '{"output":"50%"}', '{"output":"90%"}', "{}"]


# -- server-side tools ----------------------------------------------------------------------

SEARCH = ToolSpec("google_search", "Search the web.",
                  {"type": "object", "properties": {"query": {"type": "string"}}})
SERVER = ServerCapabilities(server_tools={"googleSearch": (SEARCH,)})


def test_server_side_builtin_runs_on_the_server_and_the_model_goes_on() -> None:
    c = session(capabilities=SERVER, tools=[{"googleSearch": {}}])
    first = ask(c, "Who won?")
    assert first.request.tools == (SEARCH,)
    search = ToolCall("function-call-7", "google_search", {"query": "who won"})
    out = call(c, first.generation_id, search)
    assert sent(out) == []  # the client never sees a toolCall for a built-in
    assert out == [RunServerTool(search.id, "googleSearch", "google_search", {"query": "who won"})]
    c.finish(first.generation_id)
    [then] = starts(c.feed(ServerToolFinished(search.id, '{"output": "the home team"}')))
    assert roles(then)[-1] == ("tool", '{"output": "the home team"}')
    # and the client cannot answer it in the server's place
    first_call = ToolCall("function-call-8", "google_search", {"query": "x"})
    c.finish(then.generation_id)
    nxt = ask(c, "again")
    call(c, nxt.generation_id, first_call)
    [close] = closes(respond(c, {"id": first_call.id, "response": {}}))
    assert close.code == CloseCode.INVALID_ARGUMENT and "googleSearch" in close.reason


def test_interruption_cancels_a_running_server_tool() -> None:
    c = session(capabilities=SERVER, tools=[{"googleSearch": {}}])
    first = ask(c)
    search = ToolCall("function-call-7", "google_search", {"query": "q"})
    call(c, first.generation_id, search)
    c.finish(first.generation_id)
    out = c.client({"realtimeInput": {"text": "stop"}})
    assert CancelServerTool(search.id) in out
    assert "toolCallCancellation" not in json.dumps(sent(out))
    assert starts(c.feed(ServerToolFinished(search.id, "{}"))) == []  # too late: dropped


# -- context updates and resumption ---------------------------------------------------------


def test_context_update_replaces_the_tools() -> None:
    c = session()
    c.client({"contextUpdate": {"tools": {"tools": [{"functionDeclarations": [
        {"name": "f2"}]}]}}})
    assert [t.name for t in ask(c).request.tools] == ["f2"]
    c2 = session()
    c2.client({"contextUpdate": {"tools": {"tools": []}}})
    assert ask(c2).request.tools == ()


def test_resumed_session_waits_for_the_pending_calls_and_goes_on() -> None:
    caps = ServerCapabilities(resumption=True)
    c = session(capabilities=caps, sessionResumption={})
    first = ask(c)
    call(c, first.generation_id, PARIS)
    saves = [a for a in c.finish(first.generation_id) if isinstance(a, SaveSnapshot)]
    assert saves, "waiting for a function response is a point to resume from"

    resumed = Conversation(caps)
    resumed.setup(tools=TOOLS, sessionResumption={"handle": "h1"})
    out = resumed.feed(SnapshotLoaded(saves[-1].data))
    assert sent(out)[0] == {"setupComplete": {"sessionId": "s1"}}
    assert resumed.session.state is State.AWAITING_TOOLS
    [then] = starts(respond(resumed, {"id": PARIS.id, "response": {"output": "rain"}}))
    assert roles(then)[-3:] == [("user", "Weather in Paris?"), ("assistant", ""),
                                ("tool", '{"output":"rain"}')]


def test_a_session_resumed_while_waiting_can_be_resumed_again() -> None:
    caps = ServerCapabilities(resumption=True)
    c = session(capabilities=caps, sessionResumption={})
    first = ask(c)
    call(c, first.generation_id, PARIS)
    saves = [a for a in c.finish(first.generation_id) if isinstance(a, SaveSnapshot)]
    resumed = Conversation(caps)
    resumed.setup(tools=TOOLS, sessionResumption={"handle": "h1"})
    out = resumed.feed(SnapshotLoaded(saves[-1].data))
    # the handle given on the new connection must still hold the waiting round
    [again] = [a for a in out if isinstance(a, SaveSnapshot)]
    twice = Conversation(caps)
    twice.setup(tools=TOOLS, sessionResumption={"handle": "h2"})
    twice.feed(SnapshotLoaded(again.data))
    assert twice.session.state is State.AWAITING_TOOLS
    [then] = starts(respond(twice, {"id": PARIS.id, "response": {"output": "rain"}}))
    assert roles(then)[-1] == ("tool", '{"output":"rain"}')


def test_resumed_session_accepts_late_non_blocking_results() -> None:
    caps = ServerCapabilities(resumption=True)
    c = session(capabilities=caps, sessionResumption={})
    first = ask(c, "Lights on, please")
    call(c, first.generation_id, LIGHTS_ON)
    [then] = starts(c.finish(first.generation_id))
    saves = [a for a in c.finish(then.generation_id) if isinstance(a, SaveSnapshot)]
    resumed = Conversation(caps)
    resumed.setup(tools=TOOLS, sessionResumption={"handle": "h1"})
    resumed.feed(SnapshotLoaded(saves[-1].data))
    [start] = starts(respond(resumed, {"id": LIGHTS_ON.id, "response": {"output": "on"}}))
    assert roles(start)[-1] == ("tool", '{"output":"on"}')
