"""The conversation as a language model sees it: messages, tool specs and calls, requests.

Neutral data shared by the session (which builds the history and the requests) and the
language-model engines (which serve them); neither layer owns it, so neither imports the
other. Frozen, slotted and free of I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# The context window (tokens) a backend gets when nothing else is said: the server's
# --llm-context default, and the window assumed of an OpenAI-compatible server.
DEFAULT_CONTEXT_WINDOW = 4096

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name, what it does, its arguments' JSON Schema.

    ``parameters`` is plain JSON Schema (lower-case types); convert a Live
    ``FunctionDeclaration`` with :func:`openlive.chat.schema.schema_from_declaration`.
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
class SpokenReply:
    """The reply will be spoken (an AUDIO session), so the backend asks for speech.

    ``language`` is the language the user speaks, when known (a ``languageCode`` or as
    heard), e.g. ``"es-ES"``. ``bound_chars``: end the reply at the first sentence end
    after about this many characters (a spoken answer's length, in the spirit of the
    Live API's native-audio answers); ``None`` leaves the length to ``max_tokens``.
    ``tone``: how the user sounded and how to answer them (affective dialog), told to
    the model with the spoken-reply instruction; ``None``: nothing to tell.
    """

    language: str | None = None
    bound_chars: int | None = None
    tone: str | None = None


#: ``thinkingBudget: -1``: the model decides how long to think (the hosted "dynamic").
DYNAMIC_THINKING = -1


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What to generate: the whole context, oldest first, and how to sample.

    ``thinking_budget``: how many tokens the model may reason before it answers.
    ``None``: the backend's own default (the local model does not think; a remote
    server does what it is configured to do), ``0``: no thinking,
    :data:`DYNAMIC_THINKING`: as much as the model sees fit, a positive number: at most
    that many tokens.
    """

    messages: tuple[ChatMessage, ...]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    tools: tuple[ToolSpec, ...] = ()  # functions the model may call; () = plain chat
    spoken: SpokenReply | None = None  # None: a text reply
    thinking_budget: int | None = None
