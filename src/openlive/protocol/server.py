"""Server → client messages (``BidiGenerateContentServerMessage``), spec §5.

Serialised in lowerCamelCase without null fields: the JS SDK does no key conversion and
the Python SDK only knows the camelCase top-level keys.
"""

from __future__ import annotations

from typing import Literal

from openlive.protocol.types import Content, FunctionCall, Int64, Struct, WireModel


class SetupComplete(WireModel):
    session_id: str | None = None


class WordInfo(WireModel):
    """One recognised word and when it was said (SDK 3.x ``Transcription.words``)."""

    word: str | None = None
    start_offset: str | None = None  # protobuf Duration JSON from the audio's start
    end_offset: str | None = None


class Transcription(WireModel):
    text: str | None = None
    finished: bool | None = None
    language_code: str | None = None
    # SDK 3.x: timings (with inputAudioTranscription.wordTimestamp) and diarization
    speaker_label: str | None = None
    words: list[WordInfo] | None = None
    start_offset: str | None = None
    end_offset: str | None = None


#: ``serverContent.interactionStatus`` (SDK 3.x, "always sent alongside turn_complete"):
#: IDLE ends Python ``receive()``; IN_PROGRESS says more output follows without new
#: input; REQUIRES_ACTION is deprecated in google-genai 3.6.1 ("Use IDLE instead").
InteractionStatus = Literal["IN_PROGRESS", "REQUIRES_ACTION", "IDLE"]


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
    url_context_metadata: Struct | None = None
    interaction_status: InteractionStatus | None = None


class ToolCall(WireModel):
    function_calls: list[FunctionCall]


class ToolCallCancellation(WireModel):
    ids: list[str]


class GoAway(WireModel):
    time_left: str  # protobuf Duration JSON, e.g. "50s"


class SessionResumptionUpdate(WireModel):
    new_handle: str | None = None
    resumable: bool | None = None
    # which client messages of this connection the handle includes: the zero-based
    # index of the last one (setup is 0); an int64, so a JSON string on the wire
    last_consumed_client_message_index: Int64 | None = None


class VoiceActivity(WireModel):
    """SDK 3.x ``voiceActivity``: where in the audio the user started or stopped speaking."""

    type: Literal["ACTIVITY_START", "ACTIVITY_END"]
    audio_offset: str | None = None  # protobuf Duration JSON from the audio's start


class VoiceActivityDetectionSignal(WireModel):
    """``voiceActivityDetectionSignal`` (allow-listed upstream): start/end of speech."""

    vad_signal_type: Literal["VAD_SIGNAL_TYPE_SOS", "VAD_SIGNAL_TYPE_EOS"]


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
    voice_activity_detection_signal: VoiceActivityDetectionSignal | None = None
    voice_activity: VoiceActivity | None = None
    usage_metadata: UsageMetadata | None = None


def duration(seconds: float) -> str:
    """Format seconds as protobuf Duration JSON (``"50s"``, ``"1.5s"``)."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"
