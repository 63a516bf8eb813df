"""The language-model engine interface: one small Protocol, typed requests and events.

A backend turns a :class:`GenerationRequest` (a chat history plus sampling settings)
into an async stream of :class:`LlmEvent` values: zero or more :class:`ThoughtDelta` (the
model's reasoning, when the request's ``thinking_budget`` asks for it), zero or more
:class:`TextDelta`, then exactly one :class:`Finished` carrying real token counts.

Function calling: a request may declare :class:`ToolSpec` values. When the model asks for
tools, the stream carries one :class:`ToolCallsRequested` (or, when every call it
attempted was malformed, one :class:`MalformedToolCall`) just before ``Finished``; the
caller runs the calls and continues the conversation with an ``assistant`` message whose
``tool_calls`` are those calls and one ``tool`` message per result. Cancellation is explicit:
cancelling the task that iterates the stream (or calling ``aclose()`` on it) must stop
the model within about one token, and the backend must never block the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from openlive.chat import (
    DEFAULT_CONTEXT_WINDOW,
    ChatMessage,
    GenerationRequest,
    Image,
    Role,
    SamplingParams,
    ToolCall,
    ToolSpec,
)
from openlive.engines.scheduler import Priority

__all__ = [
    "DEFAULT_CONTEXT_WINDOW", "ChatMessage", "Finished", "GenerationRequest", "Image",
    "LanguageModel",
    "LlmCapabilities", "LlmEvent", "MalformedToolCall", "PrefillingModel", "Relevance", "RelevanceJudge", "Role",
    "SamplingParams",
    "TextDelta", "ThoughtDelta", "ToolCall", "ToolCallsRequested", "ToolSpec",
]

@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of generated text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class ThoughtDelta:
    """A piece of the model's reasoning before its answer (``thinking_budget``), in
    order; it comes before the answer's :class:`TextDelta` values and is never part
    of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of a stream: token counts from the model's own tokenizer.

    ``completion_tokens`` counts the answer; ``thoughts_tokens`` the reasoning before it.
    """

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop" | "length"
    # of prompt_tokens, those not evaluated again: a prefix kept from an earlier request
    # (a KV cache, a server's prefix cache); usageMetadata's cachedContentTokenCount
    cached_tokens: int = 0
    thoughts_tokens: int = 0  # reasoning tokens, not part of completion_tokens


@dataclass(frozen=True, slots=True)
class ToolCallsRequested:
    """The model asked for these calls (at least one), in order; comes just before Finished.

    At most once per stream. ``rejected`` says why other calls the model attempted in the
    same reply were dropped (an undeclared name, arguments not matching the schema); it
    is for logs, the calls in ``calls`` are all valid.
    """

    calls: tuple[ToolCall, ...]
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MalformedToolCall:
    """The model tried to call tools but every attempt was rejected (reasons in order).

    Comes at most once, just before Finished, instead of :class:`ToolCallsRequested`;
    the Live API ends such a turn with ``turnCompleteReason: MALFORMED_FUNCTION_CALL``.
    """

    reasons: tuple[str, ...]


LlmEvent = TextDelta | ThoughtDelta | ToolCallsRequested | MalformedToolCall | Finished


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

    def stream(
        self, request: GenerationRequest, *, priority: Priority = Priority.WAITING
    ) -> AsyncIterator[LlmEvent]:
        """Generate a reply; the iterator ends after one :class:`Finished` event.

        With ``request.tools``, text that forms a tool call is never yielded as
        :class:`TextDelta`: it becomes one :class:`ToolCallsRequested`. ``priority``
        orders requests waiting for a busy in-process model (see
        :mod:`openlive.engines.scheduler`); a remote backend may ignore it.

        Raises :class:`openlive.errors.EngineError` when the backend fails
        (``retryable=True`` when trying again may work).
        """
        ...

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Count the prompt tokens these messages take with the chat template applied."""
        ...

    async def aclose(self) -> None:
        """Release the model (threads, connections, memory)."""
        ...


@dataclass(frozen=True, slots=True)
class Relevance:
    """How likely the model finds it that the user's last message is for it."""

    probability: float  # 0..1
    prompt_tokens: int = 0  # the prompt it read to decide


@runtime_checkable
class RelevanceJudge(Protocol):
    """A model that can say whether the user's last message is for the assistant
    (proactive audio: background talk, talk to others and what the system instruction
    does not cover are not). Optional: a session whose model lacks it answers every turn.
    """

    async def judge_relevance(self, request: GenerationRequest, *,
                              priority: Priority = Priority.WAITING) -> Relevance:
        """Judge ``request``'s last user message against its system instruction and
        conversation. Raises :class:`openlive.errors.EngineError` when the model fails;
        cancelling the awaiting task stops it promptly."""
        ...


@runtime_checkable
class PrefillingModel(Protocol):
    """A model that can evaluate a prompt ahead of the request that will need it.

    Optional: a session calls it while the user is still speaking, with the conversation
    and the words confirmed so far, so that when the turn ends only the last words are
    evaluated. Backends without it are simply asked later.
    """

    async def prefill(self, request: GenerationRequest, *,
                      priority: Priority = Priority.SPECULATIVE) -> None:
        """Evaluate ``request``'s prompt (nothing is generated) so that a later request
        sharing its beginning starts sooner. Cancelling the awaiting task stops it
        promptly; failures are the caller's to ignore (raises EngineError)."""
        ...
