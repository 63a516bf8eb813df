"""Events fed into a session: what the client said and what the engines did."""

from __future__ import annotations

from dataclasses import dataclass

from openlive.protocol.client import ClientMessage


@dataclass(frozen=True, slots=True)
class ClientMessageReceived:
    message: ClientMessage


@dataclass(frozen=True, slots=True)
class GenerationDelta:
    generation_id: int
    text: str


@dataclass(frozen=True, slots=True)
class GenerationFinished:
    generation_id: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class GenerationFailed:
    generation_id: int
    reason: str


Event = ClientMessageReceived | GenerationDelta | GenerationFinished | GenerationFailed
