"""Actions a session asks its driver to carry out."""

from __future__ import annotations

from dataclasses import dataclass

from openlive.engines.llm.base import GenerationRequest
from openlive.errors import CloseCode
from openlive.protocol.server import ServerMessage


@dataclass(frozen=True, slots=True)
class Send:
    """Send one message to the client."""

    message: ServerMessage


@dataclass(frozen=True, slots=True)
class StartGeneration:
    """Run the language model ``backend`` on ``request``; report events with this id."""

    generation_id: int
    backend: str
    request: GenerationRequest


@dataclass(frozen=True, slots=True)
class CancelGeneration:
    """Stop generation ``generation_id`` now; no further events for it are wanted."""

    generation_id: int


@dataclass(frozen=True, slots=True)
class Close:
    """End the session with a WebSocket close code and a reason for people."""

    code: CloseCode
    reason: str


Action = Send | StartGeneration | CancelGeneration | Close
