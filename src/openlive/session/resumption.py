"""Session resumption: what a snapshot holds, and how a session is rebuilt from one.

With ``sessionResumption`` in setup, the session asks the driver to save a snapshot at
every point where it can be restored (after setup, after each completed turn, and while
a turn waits for function responses); the driver stores it under a fresh unguessable
handle, bound to whoever opened the session, and the session then sends
``sessionResumptionUpdate`` with that handle. A new connection whose setup names the
handle gets the history (with the newest picture shown, if any), the system instruction
and the function calls still open back
before ``setupComplete``; a turn that was waiting for responses waits on the new
connection. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from openlive.chat import ChatMessage, Image, ToolCall
from openlive.errors import InvalidArgument
from openlive.session.tools import OpenCall, ToolRound

VERSION = 2
READABLE = (1, 2)  # version 1: history without function calls


@dataclass(frozen=True, slots=True)
class Snapshot:
    model: str
    system_instruction: str | None
    history: tuple[ChatMessage, ...]
    round: ToolRound | None = None  # the turn was waiting for these calls' responses
    open_calls: tuple[OpenCall, ...] = ()  # every call not answered yet
    finished_calls: tuple[str, ...] = ()  # ids whose late responses are to be dropped

    def encode(self) -> bytes:
        return orjson.dumps({
            "v": VERSION, "model": self.model, "system": self.system_instruction,
            "history": [_message(m) for m in self.history],
            "round": None if self.round is None else {
                "said": self.round.said,
                "calls": [_call(c) for c in self.round.calls],
                "waiting_for": sorted(self.round.waiting_for),
                "results": self.round.results,
            },
            "open_calls": [
                {"call": _call(c.call), "blocking": c.blocking, "server_tool": c.server_tool}
                for c in self.open_calls
            ],
            "finished_calls": list(self.finished_calls),
        })

    @classmethod
    def decode(cls, data: bytes) -> Snapshot:
        """Read a stored snapshot; InvalidArgument if it is not one we can restore."""
        try:
            raw: Any = orjson.loads(data)
            if raw.get("v") not in READABLE:
                raise ValueError("version")
            history = tuple(_read_message(m) for m in raw["history"])
            round_ = None
            if raw.get("round") is not None:
                r = raw["round"]
                round_ = ToolRound(str(r["said"]), tuple(_read_call(c) for c in r["calls"]),
                                   {str(i) for i in r["waiting_for"]},
                                   {str(k): str(v) for k, v in r["results"].items()})
            open_calls = tuple(
                OpenCall(_read_call(c["call"]), bool(c["blocking"]), c.get("server_tool"))
                for c in raw.get("open_calls", ())
            )
            finished = tuple(str(i) for i in raw.get("finished_calls", ()))
            return cls(str(raw["model"]), raw.get("system"), history, round_, open_calls,
                       finished)
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError,
                binascii.Error):
            raise InvalidArgument("The session handle refers to an unreadable snapshot.") from None


def _call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "name": call.name, "args": call.arguments}


def _read_call(raw: Any) -> ToolCall:
    arguments = raw["args"]
    if not isinstance(arguments, dict):
        raise TypeError("call arguments")
    return ToolCall(str(raw["id"]), str(raw["name"]), arguments)


def _message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [_call(c) for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    if message.images:  # at most the newest picture: History forgets older ones
        out["images"] = [{"mime": i.mime_type, "data": base64.b64encode(i.data).decode(),
                          "detail": i.detail} for i in message.images]
    return out


def _read_message(raw: Any) -> ChatMessage:
    role = raw["role"]
    if role not in ("system", "user", "assistant", "tool"):
        raise ValueError("role")
    images = tuple(Image(str(i["mime"]), base64.b64decode(i["data"]), str(i["detail"]))
                   for i in raw.get("images", ()))
    return ChatMessage(role, str(raw["content"]),
                       tool_calls=tuple(_read_call(c) for c in raw.get("tool_calls", ())),
                       tool_call_id=raw.get("tool_call_id"), name=raw.get("name"),
                       images=images)
