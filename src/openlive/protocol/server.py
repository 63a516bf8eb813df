"""Server → client messages (``BidiGenerateContentServerMessage``), spec §5.

Serialised in lowerCamelCase without null fields: the JS SDK does no key conversion and
the Python SDK only knows the camelCase top-level keys.
"""

from __future__ import annotations

from openlive.protocol.types import Content, FunctionCall, Struct, WireModel


class SetupComplete(WireModel):
    session_id: str | None = None


class Transcription(WireModel):
    text: str | None = None
    finished: bool | None = None
    language_code: str | None = None


class ServerContent(WireModel):
    model_turn: Content | None = None
    generation_complete: bool | None = None
    turn_complete: bool | None = None
    interrupted: bool | None = None
    input_transcription: Transcription | None = None
    output_transcription: Transcription | None = None
    interim_input_transcription: Transcription | None = None  # SDK 2.x+: revisable partials
    waiting_for_input: bool | None = None
    turn_complete_reason: str | None = None
    grounding_metadata: Struct | None = None


class ToolCall(WireModel):
    function_calls: list[FunctionCall]


class ToolCallCancellation(WireModel):
    ids: list[str]


class GoAway(WireModel):
    time_left: str  # protobuf Duration JSON, e.g. "50s"


class SessionResumptionUpdate(WireModel):
    new_handle: str | None = None
    resumable: bool | None = None


class ModalityTokenCount(WireModel):
    modality: str
    token_count: int


class UsageMetadata(WireModel):
    prompt_token_count: int | None = None
    cached_content_token_count: int | None = None
    response_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    thoughts_token_count: int | None = None
    total_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
    cache_tokens_details: list[ModalityTokenCount] | None = None
    response_tokens_details: list[ModalityTokenCount] | None = None


class ServerMessage(WireModel):
    """One frame to the client: one payload plus, optionally, ``usage_metadata``."""

    setup_complete: SetupComplete | None = None
    server_content: ServerContent | None = None
    tool_call: ToolCall | None = None
    tool_call_cancellation: ToolCallCancellation | None = None
    go_away: GoAway | None = None
    session_resumption_update: SessionResumptionUpdate | None = None
    usage_metadata: UsageMetadata | None = None


def duration(seconds: float) -> str:
    """Format seconds as protobuf Duration JSON (``"50s"``, ``"1.5s"``)."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"
