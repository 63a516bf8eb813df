"""A comparable view of what a session does, and events as JSON that replay exactly.

:func:`observe` is THE place to adapt when the session's action types change. The
recorded replays (``tests/session/replays/``), the replay test and the fuzzer compare
sessions only through it, so a refactoring that replaces ``Send(ServerMessage(...))``
with a typed action (say ``PlayAudio``) keeps every recording valid by adding one row
to :data:`VIEWS` that renders the new action as the frame the runtime will build from
it, ``{"send": <wire object>}``. Every action without a row is shown generically:
``{"action": <class name>, <field>: <value>, ...}``, with bytes as their length and a
hash prefix, floats rounded to 1e-9, and nested dataclasses or wire models converted
recursively.

:func:`encode_event` / :func:`decode_event` turn every event of
:mod:`openlive.session.events` into JSON and back *exactly* (bytes as base64, a client
message as its wire object), so that a recording can be fed to a fresh session.
:func:`encode_value` / :func:`decode_value` do the same for the session's constructor
arguments (dataclasses such as ``ServerCapabilities``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Union, get_args, get_origin, get_type_hints

import orjson
from pydantic import BaseModel

from openlive.protocol.client import (
    ClientContent,
    ClientEnvelope,
    ClientMessage,
    ContextUpdate,
    RealtimeInput,
    Setup,
    ToolResponse,
)
from openlive.protocol.codec import decode_client_message, to_wire
from openlive.runtime.frames import message_for
from openlive.session import events
from openlive.session.actions import OUTPUT_TYPES, Action
from openlive.session.events import ClientMessageReceived, Event

JSON = Any  # a value json.dumps takes: dict, list, str, int, float, bool or None

# -- observing actions ------------------------------------------------------------------------


def _hashed(data: bytes) -> JSON:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()[:16]}


def _rounded(value: JSON) -> JSON:
    """Times to the nanosecond: a refactoring may add the same terms in another order."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _generic(action: Any) -> JSON:
    return {"action": type(action).__name__, **_rounded(encode_value(action, bytes_as=_hashed))}


#: How each action type is shown; a type not listed is shown by :func:`_generic`.
#: Adapt HERE when the session's actions change (e.g. ``PlayAudio: lambda a: {"send":
#: to_wire(<the ServerMessage the runtime builds from a>)}``).
VIEWS: dict[type, Callable[[Any], JSON]] = {
    kind: lambda action: {"send": to_wire(message_for(action))}
    for kind in OUTPUT_TYPES
}


def observe(actions: list[Action]) -> list[JSON]:
    """The comparable, JSON-serializable view of a list of session actions."""
    return [VIEWS.get(type(action), _generic)(action) for action in actions]


# -- values: dataclasses, wire models, bytes ---------------------------------------------------


def _base64(data: bytes) -> JSON:
    return {"b64": base64.b64encode(data).decode("ascii")}


def encode_value(value: Any, *, bytes_as: Callable[[bytes], JSON] = _base64) -> JSON:
    """``value`` as JSON: dataclasses as objects of their fields, wire models as their
    wire form, enums as their value, tuples as lists, bytes through ``bytes_as``."""
    match value:
        case None | bool() | int() | float() | str():
            return value.value if isinstance(value, Enum) else value
        case bytes():
            return bytes_as(value)
        case Enum():
            return encode_value(value.value, bytes_as=bytes_as)
        case BaseModel():
            return value.model_dump(mode="json", by_alias=True, exclude_none=True)
        case Mapping():
            return {str(k): encode_value(v, bytes_as=bytes_as) for k, v in value.items()}
        case list() | tuple() | frozenset() | set():
            return [encode_value(v, bytes_as=bytes_as) for v in value]
        case _ if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: encode_value(getattr(value, f.name), bytes_as=bytes_as)
                    for f in dataclasses.fields(value)}
    raise TypeError(f"observe: no JSON view for {type(value).__name__}")


def decode_value(hint: Any, obj: JSON) -> Any:
    """The inverse of :func:`encode_value` (with base64 bytes) for a value of type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return obj
    if origin in (Union, types.UnionType):
        if obj is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return decode_value(inner, obj)
    if origin is typing.Literal:
        return obj
    if hint is bytes:
        return base64.b64decode(obj["b64"])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode_value(args[0], v) for v in obj)
        return tuple(decode_value(a, v) for a, v in zip(args, obj, strict=True))
    if origin in (dict, Mapping):
        return {k: decode_value(args[1], v) for k, v in obj.items()}
    if origin in (list, set, frozenset):
        return origin(decode_value(args[0], v) for v in obj)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(obj)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint)
        return hint(**{f.name: decode_value(hints[f.name], obj[f.name])
                       for f in dataclasses.fields(hint) if f.init and f.name in obj})
    if hint is float and isinstance(obj, int):
        return float(obj)
    return obj


# -- events -------------------------------------------------------------------------------------

#: The envelope key of each client message type (``ClientEnvelope``'s fields).
_ENVELOPE_KEYS: dict[type, str] = {
    Setup: "setup",
    ClientContent: "client_content",
    RealtimeInput: "realtime_input",
    ToolResponse: "tool_response",
    ContextUpdate: "context_update",
}

#: Every event type, by class name.
EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in get_args(Event)}
assert all(getattr(events, name) is cls for name, cls in EVENT_TYPES.items())


def client_wire(message: ClientMessage) -> JSON:
    """A client message as the frame a client would send (``{"setup": {...}}``)."""
    envelope = ClientEnvelope.model_validate({_ENVELOPE_KEYS[type(message)]: message})
    return envelope.model_dump(mode="json", by_alias=True, exclude_none=True)


def encode_event(event: Event) -> JSON:
    """``event`` as JSON that :func:`decode_event` turns back into an equal event."""
    if isinstance(event, ClientMessageReceived):
        return {"event": "ClientMessageReceived", "message": client_wire(event.message)}
    return {"event": type(event).__name__, **encode_value(event)}


def decode_event(obj: JSON) -> Event:
    """The event :func:`encode_event` wrote."""
    name = obj["event"]
    if name == "ClientMessageReceived":
        return ClientMessageReceived(decode_client_message(orjson.dumps(obj["message"])))
    fields = {k: v for k, v in obj.items() if k != "event"}
    event: Event = decode_value(EVENT_TYPES[name], fields)
    return event
