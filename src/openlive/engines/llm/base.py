"""The language-model engine interface: one small Protocol, typed requests and events.

A backend turns a :class:`GenerationRequest` (a chat history plus sampling settings)
into an async stream of :class:`LlmEvent` values: zero or more :class:`TextDelta`, then
exactly one :class:`Finished` carrying real token counts. Cancellation is explicit:
cancelling the task that iterates the stream (or calling ``aclose()`` on it) must stop
the model within about one token, and the backend must never block the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation as the model sees it."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Generation settings from the Live ``generationConfig``; ``None`` means backend default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What to generate: the whole context, oldest first, and how to sample."""

    messages: tuple[ChatMessage, ...]
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of generated text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of a stream: token counts from the model's own tokenizer."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop" | "length"


LlmEvent = TextDelta | Finished


@dataclass(frozen=True, slots=True)
class LlmCapabilities:
    """What a backend can do, so the session can refuse what it cannot."""

    context_window: int
    vision: bool = False
    tools: bool = False


class LanguageModel(Protocol):
    """A chat model. Loaded once per process and shared by every session."""

    @property
    def capabilities(self) -> LlmCapabilities: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[LlmEvent]:
        """Generate a reply; the iterator ends after one :class:`Finished` event.

        Raises :class:`openlive.errors.EngineError` when the backend fails.
        """
        ...

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Count the prompt tokens these messages take with the chat template applied."""
        ...

    async def aclose(self) -> None:
        """Release the model (threads, connections, memory)."""
        ...
