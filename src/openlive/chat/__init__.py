"""Conversation types shared by the session and the engines (see :mod:`.messages`)."""

from openlive.chat.messages import (
    DEFAULT_CONTEXT_WINDOW,
    DYNAMIC_THINKING,
    ChatMessage,
    GenerationRequest,
    Image,
    Role,
    SamplingParams,
    SpokenReply,
    ToolCall,
    ToolSpec,
)

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DYNAMIC_THINKING",
    "ChatMessage",
    "GenerationRequest",
    "Image",
    "Role",
    "SamplingParams",
    "SpokenReply",
    "ToolCall",
    "ToolSpec",
]
