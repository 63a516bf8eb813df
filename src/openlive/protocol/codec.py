"""The sans-I/O codec: frames in, typed messages out, and back.

``decode_client_message`` turns one WebSocket frame (text or binary JSON) into one typed
client message or raises :class:`~openlive.errors.InvalidArgument` with a reason a
person can act on; nothing else escapes it. ``encode_server_message`` turns a typed
server message into the bytes of one frame, never larger than the 1 MiB the Python SDK
accepts.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic import ValidationError

from openlive.errors import InternalError, InvalidArgument
from openlive.protocol.client import ClientEnvelope, ClientMessage
from openlive.protocol.server import ServerMessage

MAX_SERVER_MESSAGE_BYTES = 1 << 20  # the Python SDK's websockets max_size (spec §1.4)
# Deepest JSON nesting accepted, as protobuf's JSON parser allows. orjson reads 1024
# levels but writes only 254, so deeper user data (tool args and responses) would decode
# here and then crash whoever re-serialises it.
MAX_JSON_DEPTH = 100


def decode_client_message(frame: str | bytes) -> ClientMessage:
    """Decode one client frame; raise :class:`InvalidArgument` (close 1007) if it is bad."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Invalid JSON payload received: {exc.msg}.") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("Invalid JSON payload received: a message must be a JSON object.")
    if _deeper_than(obj, MAX_JSON_DEPTH):
        raise InvalidArgument(
            f"Invalid JSON payload received: nested deeper than {MAX_JSON_DEPTH} levels."
        )
    try:
        envelope = ClientEnvelope.model_validate(obj)
    except ValidationError as exc:
        raise InvalidArgument(describe_validation_error(exc)) from None
    except (ValueError, TypeError, RecursionError) as exc:  # pydantic internals on odd input
        raise InvalidArgument(f"Invalid message: {type(exc).__name__}.") from None
    payload = envelope.payload()
    if len(payload) != 1:
        raise InvalidArgument(_not_one_message(obj))
    return payload[0]


def _deeper_than(obj: dict[str, Any], limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (``{}`` is one level)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _not_one_message(obj: dict[str, Any]) -> str:
    # Two phrasings so the keys that were sent fit in the 123-byte close reason.
    keys = sorted(key for key, value in obj.items() if value is not None)
    if not keys:
        return (
            "A message must have one of setup, clientContent, realtimeInput, toolResponse, "
            "contextUpdate; got nothing."
        )
    return f"A message must have exactly one top-level field; got {', '.join(keys)}."


def describe_validation_error(exc: ValidationError) -> str:
    """Phrase the first validation error like the hosted API does, naming the field."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:
        return "Request contains an invalid argument."
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    if first["type"] == "extra_forbidden":
        parent = ".".join(loc[:-1]) or "message"
        return f"Invalid JSON payload received. Unknown name \"{loc[-1]}\" at '{parent}'."
    where = ".".join(loc) or "message"
    return f"Invalid value at '{where}': {first['msg']}."


def encode_server_message(message: ServerMessage) -> bytes:
    """Encode one server message as UTF-8 JSON (camelCase keys, standard base64)."""
    wire = to_wire(message)
    try:
        data = orjson.dumps(wire)
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits and lone surrogates, which a model's
        # tool-call args may hold; the standard library writes both.
        data = json.dumps(wire, separators=(",", ":")).encode("ascii")
    if len(data) > MAX_SERVER_MESSAGE_BYTES:
        # Producers chunk audio and text well below this; reaching it is our bug.
        raise InternalError("Internal error: a server message exceeded 1 MiB.")
    return data


def to_wire(message: ServerMessage) -> dict[str, Any]:
    """The JSON object of a server message, as it goes on the wire."""
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)
