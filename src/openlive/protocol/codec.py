"""The sans-I/O codec: frames in, typed messages out, and back.

``decode_client_message`` turns one WebSocket frame (text or binary JSON) into one typed
client message or raises :class:`~openlive.errors.InvalidArgument` with a reason a
person can act on; nothing else escapes it. ``encode_server_message`` turns a typed
server message into the bytes of one frame, never larger than the 1 MiB the Python SDK
accepts.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from openlive.errors import InternalError, InvalidArgument
from openlive.protocol.client import ClientEnvelope, ClientMessage
from openlive.protocol.server import ServerMessage

MAX_SERVER_MESSAGE_BYTES = 1 << 20  # the Python SDK's websockets max_size (spec §1.4)


def decode_client_message(frame: str | bytes) -> ClientMessage:
    """Decode one client frame; raise :class:`InvalidArgument` (close 1007) if it is bad."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Invalid JSON payload received: {exc.msg}.") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("Invalid JSON payload received: a message must be a JSON object.")
    try:
        envelope = ClientEnvelope.model_validate(obj)
    except ValidationError as exc:
        raise InvalidArgument(describe_validation_error(exc)) from None
    except (ValueError, TypeError, RecursionError) as exc:  # pydantic internals on odd input
        raise InvalidArgument(f"Invalid message: {type(exc).__name__}.") from None
    payload = envelope.payload()
    if len(payload) != 1:
        keys = ", ".join(sorted(obj)) or "nothing"
        raise InvalidArgument(
            f"A message must have exactly one of setup, clientContent, realtimeInput, "
            f"toolResponse, contextUpdate; got {keys}."
        )
    return payload[0]


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
    data = orjson.dumps(to_wire(message))
    if len(data) > MAX_SERVER_MESSAGE_BYTES:
        # Producers chunk audio and text well below this; reaching it is our bug.
        raise InternalError("Internal error: a server message exceeded 1 MiB.")
    return data


def to_wire(message: ServerMessage) -> dict[str, Any]:
    """The JSON object of a server message, as it goes on the wire."""
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)
