"""Property tests: whatever arrives, ``decode_client_message`` returns a message or raises
InvalidArgument (close 1007, a reason that fits a close frame), never anything else; and
what it returns is a fixed point of re-encoding.

Three generators: (a) arbitrary bytes and text, (b) the captured SDK frames with random
mutations (keys dropped, renamed, duplicated, values retyped, nested deep, huge numbers,
NaN-like and unicode strings, very long strings), (c) random JSON under the real top-level
keys. ``HYPOTHESIS_PROFILE=fuzz`` runs many more examples (see conftest.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from openlive.errors import MAX_REASON_BYTES, CloseCode, InvalidArgument
from openlive.protocol.client import (
    ClientContent,
    ClientMessage,
    ContextUpdate,
    RealtimeInput,
    Setup,
    ToolResponse,
)
from openlive.protocol.codec import decode_client_message
from tests.protocol.captures import client_frames

# Inherit max_examples from the loaded profile; never fail on timing (2 busy cores).
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ENVELOPE_KEY: dict[type, str] = {
    Setup: "setup",
    ClientContent: "clientContent",
    RealtimeInput: "realtimeInput",
    ToolResponse: "toolResponse",
    ContextUpdate: "contextUpdate",
}


def check(frame: str | bytes) -> ClientMessage | None:
    """Decode ``frame`` and check the invariants of whichever outcome it has."""
    try:
        message = decode_client_message(frame)
    except InvalidArgument as error:
        assert type(error) is InvalidArgument
        assert error.close_code == CloseCode.INVALID_ARGUMENT and error.client_fault
        assert isinstance(error.reason, str) and error.reason
        assert len(error.reason.encode("utf-8")) <= MAX_REASON_BYTES  # encodes: no surrogates
        event("refused")
        return None
    event(f"decoded {type(message).__name__}")
    check_decoded(message)
    return message


def check_decoded(message: ClientMessage) -> None:
    """(c) Invariants of a successfully decoded message, independent of any reason text."""
    key = ENVELOPE_KEY[type(message)]
    # Its canonical form (camelCase, standard base64, upper-case enums) decodes to itself.
    body = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    again = decode_client_message(json.dumps({key: body}))
    assert again == message
    # Snake keys decode alike: both spellings name the same fields.
    snake = message.model_dump(mode="json", by_alias=False, exclude_none=True)
    assert decode_client_message(json.dumps({_snake(key): snake})) == message


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


# --- seeds ---------------------------------------------------------------------------------

# Used when the shared captures are absent, so the fuzzers still have structure to work on.
FALLBACK_SEEDS: list[Any] = [
    {
        "setup": {
            "model": "models/m",
            "generationConfig": {"responseModalities": ["TEXT"], "topK": 40.0},
        }
    },
    {
        "client_content": {
            "turns": [{"parts": [{"text": "hi"}], "role": "user"}],
            "turnComplete": True,
        }
    },
    {"realtime_input": {"audio": {"data": "AAH-_w==", "mime_type": "audio/pcm;rate=16000"}}},
    {"toolResponse": {"functionResponses": [{"id": "a", "name": "f", "response": {"x": 1}}]}},
    {"contextUpdate": {"tools": {"tools": []}}},
]


def _seeds() -> list[Any]:
    seen: dict[str, Any] = {}
    for frame in client_frames():
        seen.setdefault(orjson.dumps(frame.json).decode(), frame.json)
    return list(seen.values()) or FALLBACK_SEEDS


SEEDS = _seeds()


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for item in value.values() for k in _all_keys(item)}
    if isinstance(value, list):
        return {k for item in value for k in _all_keys(item)}
    return set()


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


SEED_KEYS = sorted({k for seed in SEEDS for k in _all_keys(seed)})
KNOWN_KEYS = sorted(
    set(SEED_KEYS) | {_snake(k) for k in SEED_KEYS} | {_camel(k) for k in SEED_KEYS}
)

# --- JSON with duplicate keys and deep nesting ---------------------------------------------


@dataclass(frozen=True)
class Pairs:
    """A JSON object as written on the wire: keys may repeat (the last one wins)."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Nest:
    """``value`` wrapped in ``depth`` arrays or single-key objects (built without recursion)."""

    value: Any
    depth: int
    key: str | None  # None: arrays


def dumps(value: Any, ensure_ascii: bool) -> str:
    """Serialise a generated value; Python's json writes NaN/Infinity, which JSON has not."""
    if isinstance(value, Pairs):
        body = ",".join(
            f"{json.dumps(k, ensure_ascii=ensure_ascii)}:{dumps(v, ensure_ascii)}"
            for k, v in value.items
        )
        return "{" + body + "}"
    if isinstance(value, Nest):
        inner = dumps(value.value, ensure_ascii)
        if value.key is None:
            return "[" * value.depth + inner + "]" * value.depth
        opener = "{" + json.dumps(value.key, ensure_ascii=ensure_ascii) + ":"
        return opener * value.depth + inner + "}" * value.depth
    if isinstance(value, list):
        return "[" + ",".join(dumps(v, ensure_ascii) for v in value) + "]"
    if isinstance(value, dict):
        return dumps(Pairs(tuple(value.items())), ensure_ascii)
    return json.dumps(value, ensure_ascii=ensure_ascii)


# --- value strategies ----------------------------------------------------------------------

HUGE_NUMBERS = st.sampled_from(
    [
        0,
        -1,
        1,
        2**31 - 1,
        2**31,
        2**53 + 1,
        2**63 - 1,
        2**63,
        2**64 - 1,
        2**64,
        10**30,
        -(10**30),
        10**400,
        1e308,
        -1e308,
        5e-324,
        0.5,
        -0.0,
        40.0,
        40.5,
        1e20,
        float("inf"),
        float("nan"),
    ]
)
NAN_LIKE = st.sampled_from(
    [
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e999",
        "1e5",
        "0x10",
        "25_600",
        " 25600 ",
        "25600",
        "-0",
        "00",
        "",
        " ",
        "null",
        "true",
        "false",
        "\u0661\u0662\u0663",
        "\uff11\uff12",
        "AUDIO",
        "audio",
        "\u017filent",
        "h\u0131gh",
        "TEXT\u0000",
        "=",
        "====",
    ]
)
UNICODE = st.text(st.characters(codec="utf-8", exclude_categories=()), max_size=30) | st.text(
    max_size=10
).map(lambda s: s + "\ud800")  # a lone surrogate (escaped or raw)
LONG = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["A", "AAAA", "\u00e9", "\U0001f600", "a_b", "-_+/"]),
    st.integers(1_000, 300_000),
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | HUGE_NUMBERS
    | NAN_LIKE
    | UNICODE
    | LONG
)
KEYS = st.sampled_from(KNOWN_KEYS) | st.text(max_size=12) | NAN_LIKE
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


def _respell(draw: st.DrawFn, key: str) -> str:
    return draw(
        st.sampled_from(
            [_snake(key), _camel(key), key.upper(), key.capitalize(), key + "_", key[:-1] or "x"]
        )
        | KEYS
    )


def _retype(draw: st.DrawFn, value: Any) -> Any:
    """The same information in another JSON type."""
    options: list[Any] = [[value], {"value": value}, None]
    if isinstance(value, str):
        options += [len(value), value == "", value.upper(), value.lower()]
    elif isinstance(value, bool):
        options += [str(value).lower(), int(value)]
    elif isinstance(value, int | float):
        options += [str(value), float(value), value != 0, -value]
    elif isinstance(value, dict):
        options += [list(value.values()), list(value), json.dumps(value)]
    elif isinstance(value, list):
        options += [dict(enumerate(value)), value[:1], value * 2, value[0] if value else {}]
    return draw(st.sampled_from(options))


MUTATIONS = ["retype", "replace", "nest", "scalar"]
KEY_MUTATIONS = ["drop", "rename", "duplicate", "respell-duplicate", "insert"]


def mutate(draw: st.DrawFn, value: Any, rate: int) -> Any:
    """Walk a seed; at each node break it one of several ways with probability rate/1000."""
    if draw(st.integers(0, 999)) < rate:
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "retype":
            return _retype(draw, value)
        if kind == "replace":
            return draw(JSON)
        if kind == "nest":
            depth = draw(st.integers(1, 1_100))  # orjson stops at 1024
            return Nest(value, depth, draw(st.none() | st.sampled_from(KNOWN_KEYS)))
        return draw(SCALARS)
    if isinstance(value, dict):
        return _mutate_object(draw, value, rate)
    if isinstance(value, list):
        items = [mutate(draw, item, rate) for item in value]
        if items and draw(st.integers(0, 999)) < rate:
            items.append(items[draw(st.integers(0, len(items) - 1))])  # duplicate an item
        return items
    return value


def _mutate_object(draw: st.DrawFn, obj: dict[str, Any], rate: int) -> Pairs:
    items: list[tuple[str, Any]] = []
    for key, value in obj.items():
        if draw(st.integers(0, 999)) >= rate:
            items.append((key, mutate(draw, value, rate)))
            continue
        kind = draw(st.sampled_from(KEY_MUTATIONS))
        if kind == "rename":
            items.append((_respell(draw, key), mutate(draw, value, rate)))
        elif kind == "duplicate":  # the same key twice: the last one wins
            items += [(key, draw(JSON)), (key, mutate(draw, value, rate))]
        elif kind == "respell-duplicate":  # both spellings of one field
            items += [(key, value), (_respell(draw, key), mutate(draw, value, rate))]
        elif kind == "insert":
            items += [(key, value), (draw(KEYS), draw(JSON))]
        # "drop": nothing
    return Pairs(tuple(items))


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    seed = draw(st.sampled_from(SEEDS))
    rate = draw(st.sampled_from([10, 30, 100, 300]))  # per mille of nodes mutated
    text = dumps(mutate(draw, seed, rate), ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        try:
            return text.encode("utf-8")  # a binary frame
        except UnicodeEncodeError:  # a raw lone surrogate: a text frame can't carry it
            return text.encode("utf-8", "surrogatepass")
    return text


# --- (a) anything at all -------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2_000))
@example(b"")
@example(b"\xef\xbb\xbf{}")  # a UTF-8 byte order mark
@example(b'{"setup": {"model": "m"}}\x00')
@example(b'{"setup": {"model": "\xc3"}}')  # truncated UTF-8
def test_arbitrary_bytes(frame: bytes) -> None:
    check(frame)


@FUZZ
@given(st.text(max_size=2_000))
@example("\ud800")
@example('{"setup": {"model": "m"}, "setup": {"model": "n"}}')
def test_arbitrary_text(frame: str) -> None:
    check(frame)


@FUZZ
@given(JSON)
def test_arbitrary_json(value: Any) -> None:
    check(dumps(value, ensure_ascii=True))


TOP_KEYS = [
    "setup",
    "clientContent",
    "client_content",
    "realtimeInput",
    "realtime_input",
    "toolResponse",
    "tool_response",
    "contextUpdate",
    "context_update",
]


@FUZZ
@given(st.dictionaries(st.sampled_from(TOP_KEYS), JSON, min_size=1, max_size=2))
def test_random_bodies_under_real_top_level_keys(frame: dict[str, Any]) -> None:
    check(dumps(frame, ensure_ascii=False))


# --- (b) structure-aware -------------------------------------------------------------------


@FUZZ
@given(mutated_frames())
def test_mutated_capture_frames(frame: str | bytes) -> None:
    check(frame)


@FUZZ
@given(st.sampled_from(SEEDS), st.booleans())
def test_unmutated_seeds_decode(seed: Any, ensure_ascii: bool) -> None:
    """The mutator's starting points are all valid, so mutations explore near valid input."""
    assert check(dumps(seed, ensure_ascii)) is not None
