"""Function calling without a model: schema conversion, validation, the tolerant parser,
the streaming scanner, llama.cpp's prompt rendering and the OpenAI wire shapes.

The real-model conversation is in test_tool_calls_realmodel.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest

from openlive.chat.schema import (
    conform_arguments,
    schema_from_declaration,
    validate_arguments,
)
from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    LlmEvent,
    MalformedToolCall,
    SamplingParams,
    TextDelta,
    ToolCall,
    ToolCallsRequested,
    ToolSpec,
)
from openlive.engines.llm.llamacpp import LlamaCppModel, _Generation, _Sink
from openlive.engines.llm.openai_compat import OpenAICompatModel, openai_messages
from openlive.engines.llm.prompting import (
    ANSWER_PROMPT,
    answer_round,
    as_dicts,
    guarded_messages,
)
from openlive.engines.llm.stops import StopScanner
from openlive.engines.llm.tools import ToolCallScanner, parse_tool_calls
from openlive.errors import InvalidArgument

WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
LIGHTS = ToolSpec(
    "set_lights",
    "Turn the lights of a room on or off.",
    {
        "type": "object",
        "properties": {
            "room": {"type": "string", "enum": ["kitchen", "bedroom", "living_room"]},
            "on": {"type": "boolean"},
        },
        "required": ["room", "on"],
    },
)
TIMER = ToolSpec(
    "set_timer",
    "Start a timer.",
    {"type": "object", "properties": {"minutes": {"type": "number"}}, "required": ["minutes"]},
)
DECLARED = {tool.name: tool for tool in (WEATHER, LIGHTS, TIMER)}
PARIS = ("get_weather", {"city": "Paris"})
ID = re.compile(r"function-call-\d{18}")


def calls_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in parse_tool_calls(text, DECLARED).calls]


# ---------------------------------------------------------------- schema conversion


def test_gemini_schema_becomes_json_schema() -> None:
    parameters = {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "description": "City name"},
            "days": {"type": "INTEGER", "minimum": 1, "maximum": 7},
            "unit": {"type": "STRING", "enum": ["C", "F"], "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "3"},
            "where": {
                "type": "OBJECT",
                "properties": {"lat": {"type": "NUMBER"}, "lon": {"type": "NUMBER"}},
                "required": ["lat", "lon"],
                "propertyOrdering": ["lat", "lon"],
            },
        },
        "required": ["city"],
    }
    assert schema_from_declaration(parameters) == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"type": ["string", "null"], "enum": ["C", "F", None]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "where": {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                "required": ["lat", "lon"],
            },
        },
        "required": ["city"],
    }


def test_the_captured_setup_declaration() -> None:
    parameters = {"type": "OBJECT", "properties": {"celsius": {"type": "NUMBER"}}}
    assert schema_from_declaration(parameters) == {
        "type": "object",
        "properties": {"celsius": {"type": "number"}},
    }


def test_any_of_snake_case_keys_lower_case_types_and_examples() -> None:
    parameters = {
        "type": "object",
        "properties": {
            "when": {
                "any_of": [{"type": "STRING", "format": "date-time"}, {"type": "integer"}],
                "nullable": True,
                "example": "2025-01-01T00:00:00Z",
            },
            "note": {"type": "TYPE_UNSPECIFIED", "min_length": "2"},
        },
    }
    assert schema_from_declaration(parameters)["properties"] == {
        "when": {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer"},
                {"type": "null"},
            ],
            "examples": ["2025-01-01T00:00:00Z"],
        },
        "note": {"minLength": 2},
    }


def test_parameters_json_schema_passes_through_as_a_copy() -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": "string"}},
        "additionalProperties": False,
    }
    converted = schema_from_declaration(parameters_json_schema=schema)
    assert converted == schema
    converted["properties"]["x"]["type"] = "number"
    assert schema["properties"]["x"]["type"] == "string"


def test_no_parameters_is_a_function_without_arguments() -> None:
    assert schema_from_declaration() == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("parameters", "json_schema", "message"),
    [
        ({"type": "OBJECT"}, {"type": "object"}, "both parameters and parametersJsonSchema"),
        ({"type": "DICT"}, None, "parameters.type 'DICT' is not a Schema type"),
        ({"type": "OBJECT", "properties": {"a": "STRING"}}, None, "parameters.properties.a"),
        ({"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "x"}, None, "maxItems"),
        ({"type": "STRING", "enum": "a,b"}, None, "parameters.enum must be a list"),
    ],
)
def test_unreadable_declarations_are_invalid_arguments(
    parameters: Any, json_schema: Any, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)) as caught:
        schema_from_declaration(parameters, json_schema)
    assert caught.value.close_code == 1007


# ---------------------------------------------------------------- validation


LIGHTS_SCHEMA = LIGHTS.parameters


@pytest.mark.parametrize(
    ("args", "problems"),
    [
        ({"room": "kitchen", "on": True}, []),
        ({"room": "kitchen"}, ["arguments: missing required 'on'"]),
        ({"room": "garage", "on": True}, ["arguments.room: 'garage' is not one of"]),
        ({"room": "kitchen", "on": "yes"}, ["arguments.on: expected boolean, got string"]),
        ("kitchen", ["arguments: expected object, got string"]),
    ],
)
def test_validation_names_each_problem(args: object, problems: list[str]) -> None:
    found = validate_arguments(LIGHTS_SCHEMA, args)
    assert len(found) == len(problems)
    for line, expected in zip(found, problems, strict=True):
        assert line.startswith(expected)


def test_numbers_integers_and_booleans_are_told_apart() -> None:
    number = {"type": "number"}
    integer = {"type": "integer"}
    assert validate_arguments(number, 2.5) == []
    assert validate_arguments(number, True) == ["arguments: expected number, got boolean"]
    assert validate_arguments(integer, 3.0) == []  # JSON Schema: 3.0 is an integer
    assert validate_arguments(integer, 3.5) == ["arguments: expected integer, got number"]


def test_nested_items_any_of_bounds_and_extra_properties() -> None:
    schema = {
        "type": "object",
        "properties": {
            "stops": {
                "type": "array",
                "items": {"type": "object", "properties": {"city": {"type": "string"}}},
                "minItems": 1,
            },
            "when": {"anyOf": [{"type": "string", "pattern": "^\\d{2}:\\d{2}$"}, {"type": "null"}]},
            "count": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        "additionalProperties": False,
    }
    assert validate_arguments(schema, {"stops": [{"city": "Rome"}], "when": None, "count": 2}) == []
    assert validate_arguments(
        schema, {"stops": [{"city": 3}], "when": "noon", "count": 9, "x": 1}
    ) == [
        "arguments.stops[0].city: expected string, got integer",
        "arguments.when: matches none of the allowed shapes",
        "arguments.count: 9 is more than 5",
        "arguments: unexpected property 'x'",
    ]
    assert validate_arguments(schema, {"stops": []}) == ["arguments.stops length: 0 is less than 1"]


def test_nullable_types_accept_null() -> None:
    schema = schema_from_declaration({"type": "STRING", "nullable": True, "enum": ["a", "b"]})
    assert validate_arguments(schema, None) == []
    assert validate_arguments(schema, "a") == []
    assert validate_arguments(schema, "c") != []


def test_one_of_needs_exactly_one_match() -> None:
    schema = {
        "type": "object",
        "properties": {
            "amount": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 10}]},
        },
    }
    assert validate_arguments(schema, {"amount": 3}) == []  # only the integer branch
    assert validate_arguments(schema, {"amount": 12.5}) == []  # only the number branch
    assert validate_arguments(schema, {"amount": 12}) == [
        "arguments.amount: matches more than one of the allowed shapes; exactly one must match"
    ]
    assert validate_arguments(schema, {"amount": "x"}) == [
        "arguments.amount: matches none of the allowed shapes"
    ]


ROUTE_SCHEMA = {
    "type": "object",
    "properties": {
        "origin": {"$ref": "#/$defs/place"},
        "stops": {"type": "array", "items": {"$ref": "#/$defs/place"}},
    },
    "required": ["origin"],
    "$defs": {
        "place": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "floor": {"type": "integer"}},
            "required": ["city"],
            "additionalProperties": False,
        }
    },
}


def test_refs_to_defs_are_followed() -> None:
    assert validate_arguments(ROUTE_SCHEMA, {"origin": {"city": "Rome"}}) == []
    assert validate_arguments(
        ROUTE_SCHEMA, {"origin": {"town": "Rome"}, "stops": [{"city": 4}]}
    ) == [
        "arguments.origin: missing required 'city'",
        "arguments.origin: unexpected property 'town'",
        "arguments.stops[0].city: expected string, got integer",
    ]


def test_conforming_follows_refs() -> None:
    args = {"origin": {"city": "Rome", "floor": "2", "note": "x"}, "stops": [{"city": "Pisa"}]}
    assert conform_arguments(ROUTE_SCHEMA, args) == {
        "origin": {"city": "Rome", "floor": 2},
        "stops": [{"city": "Pisa"}],
    }


def test_a_wrong_type_is_one_problem_not_several() -> None:
    schema = {"type": "string", "enum": ["a", "b"], "minLength": 1}
    assert validate_arguments(schema, 5) == ["arguments: expected string, got integer"]


def test_a_declared_dialect_is_honoured() -> None:
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "array",
        "items": [{"type": "string"}, {"type": "integer"}],  # draft-07 tuple form
    }
    assert schema_from_declaration(parameters_json_schema=draft7) == draft7
    assert validate_arguments(draft7, ["a", 1]) == []
    assert validate_arguments(draft7, ["a", "b"]) == ["arguments[1]: expected integer, got string"]


@pytest.mark.parametrize(
    ("json_schema", "message"),
    [
        ({"type": "object", "properties": {"a": {"type": "text"}}},
         "parametersJsonSchema.properties.a.type: 'text' is not"),
        ({"type": "string", "pattern": "(unclosed"}, "parametersJsonSchema.pattern: "),
        ({"type": "object", "required": "city"}, "parametersJsonSchema.required: 'city' is not"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}},
         "$ref '#/$defs/missing' does not point inside the schema"),
        ({"$ref": "https://example.com/schema.json"},
         "$ref 'https://example.com/schema.json' does not point inside the schema"),
    ],
)
def test_invalid_json_schemas_are_refused_at_setup(json_schema: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)) as caught:
        schema_from_declaration(parameters_json_schema=json_schema)
    assert caught.value.close_code == 1007


def test_converted_parameters_are_checked_too() -> None:
    with pytest.raises(InvalidArgument, match=re.escape("parameters.minimum: 'low' is not")):
        schema_from_declaration({"type": "NUMBER", "minimum": "low"})


def test_conforming_fixes_only_unambiguous_slips() -> None:
    schema = {
        "type": "object",
        "properties": {
            "minutes": {"type": "number"},
            "count": {"type": "integer"},
            "on": {"type": "boolean"},
            "room": {"type": "string", "enum": ["kitchen", "living_room"]},
            "label": {"type": "string"},
        },
    }
    args = {"minutes": "2.5", "count": 4.0, "on": "False", "room": "Living Room", "label": "7"}
    assert conform_arguments(schema, {**args, "extra": 1}) == {
        "minutes": 2.5,
        "count": 4,
        "on": False,
        "room": "living_room",
        "label": "7",
    }
    assert conform_arguments(schema, {"minutes": "ten"}) == {"minutes": "ten"}  # left to fail
    open_schema = {**schema, "additionalProperties": True}
    assert conform_arguments(open_schema, {"extra": 1}) == {"extra": 1}


# ---------------------------------------------------------------- the parser

LOOSE_FORMATS = {
    "qwen tags": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    "bare json": '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    "json fence": '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
    "plain fence": '```\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
    "doubled braces": '{{"name": "get_weather", "arguments": {{"city": "Paris"}}}}',
    "doubled outer only": '{{"name": "get_weather", "arguments": {"city": "Paris"}}}',
    "arguments as a string": '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
    "parameters key": '{"name": "get_weather", "parameters": {"city": "Paris"}}',
    "trailing commas": '{"name": "get_weather", "arguments": {"city": "Paris",},}',
    "array": '[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
    "openai shape": '{"type": "function", "function": {"name": "get_weather", '
    '"arguments": "{\\"city\\": \\"Paris\\"}"}}',
    "tool_calls wrapper": '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}',
    "python dict": "{'name': 'get_weather', 'arguments': {'city': 'Paris'}}",
    "functions. prefix": '{"name": "functions.get_weather", "arguments": {"city": "Paris"}}',
    "flat arguments": '{"name": "get_weather", "city": "Paris"}',
    "name as the key": '{"get_weather": {"city": "Paris"}}',
    "python call": 'get_weather(city="Paris")',
    "python call in tags": "<tool_call>get_weather(city='Paris')</tool_call>",
    "unclosed tag": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}',
    "text around": 'Let me check.\n<tool_call>\n{"name": "get_weather", '
    '"arguments": {"city": "Paris"}}\n</tool_call>',
    "fence with a preamble": 'Sure!\n```json\n{{"name": "get_weather", '
    '"parameters": {{"city": "Paris"}}}}\n```',
}


@pytest.mark.parametrize("text", LOOSE_FORMATS.values(), ids=LOOSE_FORMATS.keys())
def test_loose_formats_all_give_the_same_call(text: str) -> None:
    parsed = parse_tool_calls(text, DECLARED)
    assert [(c.name, c.arguments) for c in parsed.calls] == [PARIS]
    assert parsed.rejected == []
    assert "get_weather" not in parsed.text_outside
    assert "{" not in parsed.text_outside and "tool_call" not in parsed.text_outside


def test_text_outside_keeps_what_was_said_with_the_call() -> None:
    parsed = parse_tool_calls(LOOSE_FORMATS["text around"], DECLARED)
    assert parsed.text_outside == "Let me check."


def test_several_calls_in_order_with_fresh_production_style_ids() -> None:
    text = (
        '<tool_call>\n{"name": "set_lights", "arguments": {"room": "kitchen", "on": false}}\n'
        '</tool_call>\n<tool_call>\n{"name": "set_timer", "arguments": {"minutes": 5}}\n</tool_call>'
    )
    calls = parse_tool_calls(text, DECLARED).calls
    assert [(c.name, c.arguments) for c in calls] == [
        ("set_lights", {"room": "kitchen", "on": False}),
        ("set_timer", {"minutes": 5}),
    ]
    assert all(ID.fullmatch(call.id) for call in calls)
    assert calls[0].id != calls[1].id
    # llama.cpp drops the special <tool_call> tokens: bare objects one per line
    bare = '{"name": "get_weather", "arguments": {"city": "Oslo"}}\n' + LOOSE_FORMATS["bare json"]
    assert calls_of(bare) == [("get_weather", {"city": "Oslo"}), PARIS]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            '{"name": "get_wether", "arguments": {"city": "Paris"}}',
            "undeclared function 'get_wether'",
        ),
        (
            '{"name": "get_weather", "arguments": {}}',
            "get_weather: arguments: missing required 'city'",
        ),
        ('{"name": "set_timer", "arguments": {"minutes": "ten"}}', "expected number, got string"),
        (
            '{"name": "set_lights", "arguments": {"room": "garage", "on": true}}',
            "'garage' is not one",
        ),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par', "could not"),
        ("<tool_call>\nweather please\n</tool_call>", "could not read a call in 'weather please'"),
        ('{"name": "get_weather", "arguments": "{city: Paris"}', "could not parse the arguments"),
        ('{"name": "get_weather", "arguments": ["Paris"]}', "arguments are not a JSON object"),
    ],
)
def test_bad_attempts_are_rejected_with_a_reason(text: str, reason: str) -> None:
    parsed = parse_tool_calls(text, DECLARED)
    assert parsed.calls == []
    assert len(parsed.rejected) == 1 and reason in parsed.rejected[0]
    assert parsed.attempted
    assert parsed.text_outside == ""


def test_one_bad_call_does_not_sink_the_good_one() -> None:
    text = (
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}, '
        '{"name": "launch_rockets", "arguments": {}}]'
    )
    parsed = parse_tool_calls(text, DECLARED)
    assert [(c.name, c.arguments) for c in parsed.calls] == [PARIS]
    assert parsed.rejected == [
        "undeclared function 'launch_rockets' (declared: get_weather, set_lights, set_timer)"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "The capital of Italy is Rome.",
        "Use a set like {1, 2} or a dict like {a: 1}.",
        '```python\nprint({"a": 1})\n```',
        '```json\n{"temperature": 21, "sky": "clear"}\n```',
        'The answer is {"result": 42}.',
        "Call get_weather(city='Paris') when you need it.",
        "print(x)",
    ],
)
def test_ordinary_answers_are_not_calls(text: str) -> None:
    parsed = parse_tool_calls(text, DECLARED)
    assert not parsed.attempted
    assert parsed.text_outside == text


def test_a_hallucinated_tool_response_is_not_shown() -> None:
    text = LOOSE_FORMATS["qwen tags"] + '\n<tool_response>\n{"sky": "sunny"}\n</tool_response>'
    parsed = parse_tool_calls(text, DECLARED)
    assert [(c.name, c.arguments) for c in parsed.calls] == [PARIS]
    assert parsed.text_outside == ""


def test_nothing_declared_rejects_every_call() -> None:
    parsed = parse_tool_calls(LOOSE_FORMATS["bare json"], {})
    assert parsed.rejected == ["undeclared function 'get_weather' (declared: none)"]


# ---------------------------------------------------------------- the streaming scanner


def scan(pieces: list[str]) -> tuple[list[str], str, Any]:
    scanner = ToolCallScanner(DECLARED)
    shown = [scanner.feed(piece) for piece in pieces]
    tail, parsed = scanner.finish()
    return shown, tail, parsed


@pytest.mark.parametrize("text", LOOSE_FORMATS.values(), ids=LOOSE_FORMATS.keys())
def test_a_call_streamed_character_by_character_is_never_shown(text: str) -> None:
    shown, tail, parsed = scan(list(text))
    assert "get_weather" not in "".join(shown) + tail
    assert [(c.name, c.arguments) for c in parsed.calls] == [PARIS]


def test_text_before_a_call_streams_as_it_comes() -> None:
    shown, tail, parsed = scan(["Sure", ", checking", ". ", "{", '"name": "get_weather", ',
                                '"arguments": {"city": "Paris"}}'])  # fmt: skip
    assert shown == ["Sure", ", checking", ". ", "", "", ""]
    assert tail == ""
    assert parsed.calls[0].name == "get_weather"


def test_ordinary_text_is_delayed_by_no_more_than_an_undecided_marker() -> None:
    shown, tail, parsed = scan(["Use ", "{x", "} here <", "b> ok ", "`", "code` end"])
    assert shown == ["Use ", "{x", "} here ", "<b> ok ", "", "`code` end"]
    assert (tail, parsed) == ("", None)


def test_a_fence_that_holds_no_call_is_released_unchanged_at_the_end() -> None:
    code = "Here:\n```python\nprint('hi')\n```\nDone."
    shown, tail, parsed = scan([code[i : i + 3] for i in range(0, len(code), 3)])
    assert "".join(shown) == "Here:\n"
    assert "".join(shown) + tail == code
    assert parsed is None


def test_a_rejected_call_is_held_back_too() -> None:
    shown, tail, parsed = scan(['{"name": "nope", ', '"arguments": {}}'])
    assert (shown, tail) == (["", ""], "")
    assert parsed.calls == [] and parsed.rejected


# ---------------------------------------------------------------- llama.cpp rendering

CALL = ToolCall("function-call-111111111111111111", "get_weather", {"city": "Paris"})
ROUND = (
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "Weather in Paris?"),
    ChatMessage("assistant", "", tool_calls=(CALL,)),
    ChatMessage("tool", '{"output": {"sky": "rain"}}', tool_call_id=CALL.id, name="get_weather"),
)


def test_template_messages_carry_calls_as_objects_and_plain_ones_unchanged() -> None:
    rendered = as_dicts(ROUND)
    assert rendered[:2] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert rendered[2]["tool_calls"] == [
        {"id": CALL.id, "type": "function",
         "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
    ]  # fmt: skip
    assert rendered[3] == {
        "role": "tool",
        "content": '{"output": {"sky": "rain"}}',
        "tool_call_id": CALL.id,
        "name": "get_weather",
    }


def test_guarded_messages_write_tools_calls_and_results_as_text() -> None:
    second = ChatMessage("tool", '"done"', tool_call_id="x", name="set_timer")
    rendered = guarded_messages((*ROUND, second), (WEATHER,))
    assert [m["role"] for m in rendered] == ["system", "user", "assistant", "user"]
    system = rendered[0]["content"]
    assert system.startswith("Be brief.\n\n# Tools")
    assert json.dumps({"name": "get_weather", "description": WEATHER.description,
                       "parameters": WEATHER.parameters}) in system  # fmt: skip
    assert rendered[2]["content"] == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    assert rendered[3]["content"] == (
        '<tool_response>\n{"name": "get_weather", "response": {"output": {"sky": "rain"}}}\n'
        '</tool_response>\n<tool_response>\n{"name": "set_timer", "response": "done"}\n'
        "</tool_response>"
    )


def test_the_answer_after_results_gets_the_last_round_as_facts() -> None:
    head, facts = answer_round(ROUND)
    assert head == ROUND[:2]  # the prompt up to the question is the call's, cached
    assert facts == (
        'You called get_weather with {"city": "Paris"}; it returned {"sky": "rain"}. '
        + ANSWER_PROMPT
    )
    failed = (*ROUND[:3], ChatMessage("tool", '{"error": "no such city"}', tool_call_id=CALL.id))
    assert 'it failed: "no such city"' in answer_round(failed)[1]
    earlier = (*ROUND, ChatMessage("assistant", "Rain."), ChatMessage("user", "And Oslo?"))
    two = (*earlier, ChatMessage("assistant", "", tool_calls=(CALL,)), ROUND[3], ROUND[3])
    head, facts = answer_round(two)
    assert head == earlier  # earlier rounds stay as they were
    assert facts.count("You called get_weather") == 2


async def consume_offline(chunks: list[str], tools: tuple[ToolSpec, ...], stop=()) -> list[Any]:
    """Run LlamaCppModel._consume on scripted text chunks, as the worker thread would."""
    generation = _Generation(asyncio.get_running_loop(), eos_token=0)
    stream = iter(
        [{"choices": [{"delta": {"content": text}, "finish_reason": None}]} for text in chunks]
        + [{"choices": [{"delta": {}, "finish_reason": "stop"}]}]
    )
    final = LlamaCppModel._consume(generation, stream, StopScanner(stop), _Sink(generation, tools))
    await asyncio.sleep(0)  # let the call_soon_threadsafe callbacks run
    events = []
    while not generation.queue.empty():
        events.append(generation.queue.get_nowait())
    return [*events, final]


async def test_llamacpp_worker_turns_held_text_into_one_event_before_finished() -> None:
    pieces = ["Sure. ", '{"name": "get_weather",', ' "arguments": {"city": "Paris"}}']
    events = await consume_offline(pieces, (WEATHER,))
    assert events[0] == TextDelta("Sure. ")
    assert isinstance(events[1], ToolCallsRequested)
    assert [(c.name, c.arguments) for c in events[1].calls] == [PARIS]
    assert isinstance(events[2], Finished) and len(events) == 3


async def test_llamacpp_worker_without_tools_streams_json_as_text() -> None:
    events = await consume_offline(['{"name": "get_weather"}'], ())
    assert events[0] == TextDelta('{"name": "get_weather"}')


async def test_llamacpp_worker_reports_a_malformed_call_and_honours_stop() -> None:
    events = await consume_offline(['{"name": "nope", "arguments": {}}', " STOP more"], (WEATHER,),
                                   stop=("STOP",))  # fmt: skip
    assert isinstance(events[0], MalformedToolCall)
    assert "undeclared function 'nope'" in events[0].reasons[0]
    assert isinstance(events[1], Finished) and events[1].finish_reason == "stop"


# ---------------------------------------------------------------- OpenAI-compatible wire

BASE = "http://llm.test/v1"


def sse(*events: object) -> bytes:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"


def delta(finish: str | None = None, **fields: object) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


def piece(index: int, name: str | None = None, arguments: str = "", id_: str | None = None):
    function: dict[str, str] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    item: dict[str, object] = {"index": index, "function": function}
    if id_ is not None:
        item.update(id=id_, type="function")
    return [item]


USAGE = {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 12}}


async def run_openai(
    body: bytes, request: GenerationRequest
) -> tuple[list[LlmEvent], dict[str, Any]]:
    seen: list[httpx.Request] = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        seen.append(http_request)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    model = OpenAICompatModel(BASE, "m", transport=httpx.MockTransport(handler))
    events = [event async for event in model.stream(request)]
    await model.aclose()
    return events, json.loads(seen[0].content)


def ask(*tools: ToolSpec, history: tuple[ChatMessage, ...] = ()) -> GenerationRequest:
    messages = history or (ChatMessage("user", "Weather in Paris and a 5 minute timer?"),)
    return GenerationRequest(messages, SamplingParams(max_tokens=64), tools=tools)


async def test_openai_streamed_tool_call_pieces_join_into_one_event() -> None:
    body = sse(
        delta(role="assistant", content=None, tool_calls=piece(0, "get_weather", "", "call_a")),
        delta(tool_calls=piece(0, arguments='{"ci')),
        delta(tool_calls=piece(0, arguments='ty": "Paris"}')),
        delta(tool_calls=piece(1, "set_timer", '{"minutes": ', "call_b")),
        delta(tool_calls=piece(1, arguments="5}")),
        delta(finish="tool_calls"),
        USAGE,
    )
    events, sent = await run_openai(body, ask(WEATHER, TIMER))

    assert isinstance(events[0], ToolCallsRequested)
    assert [(c.name, c.arguments) for c in events[0].calls] == [
        PARIS,
        ("set_timer", {"minutes": 5}),
    ]
    assert all(ID.fullmatch(call.id) for call in events[0].calls)
    assert events[1] == Finished(40, 12, "stop")
    assert sent["tools"] == [
        {"type": "function", "function": {"name": t.name, "description": t.description,
                                          "parameters": t.parameters}}
        for t in (WEATHER, TIMER)
    ]  # fmt: skip


async def test_openai_native_calls_are_checked_against_the_declarations() -> None:
    body = sse(
        delta(tool_calls=piece(0, "get_weather", '{"town": "Paris"}', "c1")),
        delta(tool_calls=piece(1, "rm_rf", "{}", "c2")),
        USAGE,
    )
    events, _ = await run_openai(body, ask(WEATHER))
    assert isinstance(events[0], MalformedToolCall)
    assert events[0].reasons == (
        "get_weather: arguments: missing required 'city'",
        "undeclared function 'rm_rf' (declared: get_weather)",
    )


async def test_openai_calls_written_as_text_are_parsed_not_shown() -> None:
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    body = sse(*(delta(content=text[i : i + 5]) for i in range(0, len(text), 5)), USAGE)
    events, _ = await run_openai(body, ask(WEATHER))
    assert [type(event) for event in events] == [ToolCallsRequested, Finished]


async def test_openai_plain_answers_with_tools_still_stream() -> None:
    body = sse(delta(content="It is"), delta(content=" sunny."), USAGE)
    events, _ = await run_openai(body, ask(WEATHER))
    assert events == [TextDelta("It is"), TextDelta(" sunny."), Finished(40, 12, "stop")]


async def test_openai_history_with_calls_and_results() -> None:
    events, sent = await run_openai(sse(delta(content="Rain."), USAGE), ask(WEATHER, history=ROUND))
    assert events[0] == TextDelta("Rain.")
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": CALL.id, "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": '{"output": {"sky": "rain"}}', "tool_call_id": CALL.id},
    ]  # fmt: skip


async def test_openai_requests_without_tools_are_unchanged() -> None:
    events, sent = await run_openai(sse(delta(content='{"a": 1}'), USAGE), ask())
    assert "tools" not in sent
    assert events[0] == TextDelta('{"a": 1}')  # no tools: JSON is just text
    assert openai_messages([ChatMessage("user", "hi")]) == [{"role": "user", "content": "hi"}]


async def test_the_openai_backend_says_it_can_call_tools() -> None:
    model = OpenAICompatModel(
        BASE, "m", transport=httpx.MockTransport(lambda _: httpx.Response(500))
    )
    assert model.capabilities.tools
    await model.aclose()
