"""Test helper: drive a Session with wire frames and read back wire objects."""

from __future__ import annotations

from typing import Any

import orjson

from openlive.catalog import ModelCatalog
from openlive.protocol.codec import decode_client_message, to_wire
from openlive.runtime.frames import message_for
from openlive.session.actions import (
    OUTPUT_TYPES,
    Action,
    Close,
    StartGeneration,
)
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    ClientMessageReceived,
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
)
from openlive.session.machine import Session


class Conversation:
    """A session plus a fake clock; ``client()`` sends a frame, returns what came back."""

    def __init__(self, capabilities: ServerCapabilities | None = None) -> None:
        self.session = Session(session_id="s1", catalog=ModelCatalog(), capabilities=capabilities)
        self.now = 0.0

    def feed(self, event: Event) -> list[Action]:
        self.now += 0.01
        return self.session.handle(event, self.now)

    def client(self, frame: dict[str, Any] | str) -> list[Action]:
        raw = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
        return self.feed(ClientMessageReceived(decode_client_message(raw)))

    def setup(self, **fields: Any) -> list[Action]:
        body = {
            "model": "models/gemini-live-2.5-flash-preview",
            "generationConfig": {"responseModalities": ["TEXT"]},
            **fields,
        }
        return self.client({"setup": body})

    def delta(self, gid: int, text: str) -> list[Action]:
        return self.feed(GenerationDelta(gid, text))

    def finish(self, gid: int, prompt: int = 3, completion: int = 2) -> list[Action]:
        return self.feed(GenerationFinished(gid, prompt, completion))

    def fail(self, gid: int, reason: str = "boom") -> list[Action]:
        return self.feed(GenerationFailed(gid, reason))


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    """The wire objects of what the client is told, as the runtime frames them."""
    return [to_wire(message_for(a)) for a in actions if isinstance(a, OUTPUT_TYPES)]


def starts(actions: list[Action]) -> list[StartGeneration]:
    return [a for a in actions if isinstance(a, StartGeneration)]


def closes(actions: list[Action]) -> list[Close]:
    return [a for a in actions if isinstance(a, Close)]
