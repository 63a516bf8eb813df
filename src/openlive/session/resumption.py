"""Session resumption: what a snapshot holds, and how a session is rebuilt from one.

With ``sessionResumption`` in setup, the session asks the driver to save a snapshot at
every point where it can be restored (after setup and after each completed turn); the
driver stores it under a fresh unguessable handle, bound to whoever opened the session,
and the session then sends ``sessionResumptionUpdate`` with that handle. A new
connection whose setup names the handle gets the history and the system instruction
back before ``setupComplete``. Pure: bytes in, bytes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from openlive.engines.llm.base import ChatMessage
from openlive.errors import InvalidArgument

VERSION = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    model: str
    system_instruction: str | None
    history: tuple[ChatMessage, ...]

    def encode(self) -> bytes:
        return orjson.dumps({
            "v": VERSION, "model": self.model, "system": self.system_instruction,
            "history": [{"role": m.role, "content": m.content} for m in self.history],
        })

    @classmethod
    def decode(cls, data: bytes) -> Snapshot:
        """Read a stored snapshot; InvalidArgument if it is not one we can restore."""
        try:
            raw: Any = orjson.loads(data)
            if raw.get("v") != VERSION:
                raise ValueError("version")
            history = tuple(ChatMessage(m["role"], str(m["content"])) for m in raw["history"])
            return cls(str(raw["model"]), raw.get("system"), history)
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidArgument("The session handle refers to an unreadable snapshot.") from None
