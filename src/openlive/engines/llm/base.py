"""The language-model engine interface: one small Protocol, typed requests and events.

A backend turns a :class:`GenerationRequest` (a chat history plus sampling settings)
into an async stream of :class:`LlmEvent` values: zero or more :class:`TextDelta`, then
exactly one :class:`Finished` carrying real token counts.

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
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]

# The context window (tokens) a backend gets when nothing else is said: the server's
# --llm-context default, and the window assumed of an OpenAI-compatible server.
DEFAULT_CONTEXT_WINDOW = 4096


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name, what it does, its arguments' JSON Schema.

    ``parameters`` is plain JSON Schema (lower-case types); convert a Live
    ``FunctionDeclaration`` with :func:`openlive.engines.llm.schema.schema_from_declaration`.
    """

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}, hash=False
    )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for; ``arguments`` were validated against its ToolSpec.

    ``id`` looks like production Live ids (``function-call-395220346347865271``); the
    client's ``toolResponse`` refers to it, and so does the ``tool`` message of the result.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Image:
    """A picture the user showed (a video frame or an image part), for a vision model.

    ``detail`` is the resolution the client asked for (``mediaResolution``): ``"low"``,
    ``"high"`` or ``"auto"``, as OpenAI-compatible servers take it.
    """

    mime_type: str  # image/jpeg, image/png or image/webp
    data: bytes = field(repr=False)
    detail: str = "auto"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation as the model sees it.

    An ``assistant`` message that called tools lists them in ``tool_calls`` (its
    ``content`` is any text said with them, often empty). A ``tool`` message carries one
    result: ``content`` is the function's response as JSON text, ``tool_call_id`` the
    :attr:`ToolCall.id` it answers and ``name`` the function's name.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    images: tuple[Image, ...] = ()  # only sent to a backend whose capabilities say vision


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
    tools: tuple[ToolSpec, ...] = ()  # functions the model may call; () = plain chat


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


LlmEvent = TextDelta | ToolCallsRequested | MalformedToolCall | Finished


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

        With ``request.tools``, text that forms a tool call is never yielded as
        :class:`TextDelta`: it becomes one :class:`ToolCallsRequested`.

        Raises :class:`openlive.errors.EngineError` when the backend fails.
        """
        ...

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Count the prompt tokens these messages take with the chat template applied."""
        ...

    async def aclose(self) -> None:
        """Release the model (threads, connections, memory)."""
        ...
