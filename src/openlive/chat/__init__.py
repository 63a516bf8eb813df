"""Conversation types shared by the session and the engines (see :mod:`.messages`)."""

from openlive.chat.messages import (
    ChatMessage,
    GenerationRequest,
    Image,
    Role,
    SamplingParams,
    ToolCall,
    ToolSpec,
)

__all__ = [
    "ChatMessage",
    "GenerationRequest",
    "Image",
    "Role",
    "SamplingParams",
    "ToolCall",
    "ToolSpec",
]
