"""Client → server messages (``BidiGenerateContentClientMessage``), spec §4.

One class per message, named after the wire. Every field of the spec is declared, so a
field we do not know is an error (1007), as it is with the hosted service's proto parser.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from openlive.protocol.types import (
    Blob,
    CaseInsensitive,
    Content,
    FunctionResponse,
    Struct,
    WireModel,
)

# --- setup -------------------------------------------------------------------------------


class PrebuiltVoiceConfig(WireModel):
    voice_name: str | None = None


class VoiceConfig(WireModel):
    prebuilt_voice_config: PrebuiltVoiceConfig | None = None
    replicated_voice_config: Struct | None = None
    voice: str | None = None  # google-genai 3.6: a prebuilt voice's name, like voiceName


class SpeechConfig(WireModel):
    voice_config: VoiceConfig | None = None
    language_code: str | None = None
    multi_speaker_voice_config: Struct | None = None


class ThinkingConfig(WireModel):
    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    thinking_level: (
        Annotated[
            Literal["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"],
            CaseInsensitive,
        ]
        | None
    ) = None


class TranslationConfig(WireModel):
    target_language_code: str | None = None
    echo_target_language: bool | None = None


class AudioTranscriptionConfig(WireModel):
    """``input/outputAudioTranscription``: presence turns transcription on. The options
    of google-genai 3.6 are declared one by one (docs/compatibility.md says which are
    honoured), so that a field the next SDK adds is noticed (1007), not swallowed."""

    language_codes: list[str] | None = None
    language_auto: Struct | None = None  # deprecated upstream: detection is the default
    language_hints: Struct | None = None  # deprecated upstream: languageCodes
    custom_vocabulary: list[str] | None = None
    adaptation_phrases: list[str] | None = None  # deprecated upstream
    word_timestamp: bool | None = None
    diarization: bool | None = None
    mode: str | None = None  # VERBATIM | SMART
    source_text: str | None = None


class GenerationConfig(WireModel):
    """``generationConfig``. google-genai writes the deprecated
    ``LiveConnectConfig.generation_config`` into it as is (snake_case keys), then sets
    the flat fields (``temperature``...) over it in camelCase: a field may come in both
    spellings, and the camelCase one, set last, is the one the program meant."""

    @model_validator(mode="before")
    @classmethod
    def _camel_wins(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        camel = {to_camel(k) for k in data if "_" not in k}
        return {k: v for k, v in data.items() if "_" not in k or to_camel(k) not in camel}

    response_modalities: (
        list[
            Annotated[
                Literal["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO", "VIDEO"], CaseInsensitive
            ]
        ]
        | None
    ) = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    candidate_count: int | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    response_logprobs: bool | None = None
    logprobs: int | None = None
    media_resolution: (
        Annotated[
            Literal[
                "MEDIA_RESOLUTION_UNSPECIFIED",
                "MEDIA_RESOLUTION_LOW",
                "MEDIA_RESOLUTION_MEDIUM",
                "MEDIA_RESOLUTION_HIGH",
            ],
            CaseInsensitive,
        ]
        | None
    ) = None
    speech_config: SpeechConfig | None = None
    thinking_config: ThinkingConfig | None = None
    enable_affective_dialog: bool | None = None
    translation_config: TranslationConfig | None = None
    # GenerationConfig fields the Live API has no use for, which the deprecated
    # LiveConnectConfig.generation_config still carries: accepted and ignored
    # (docs/compatibility.md)
    response_mime_type: str | None = None
    response_schema: Struct | None = None
    response_json_schema: Any = None
    response_format: list[Struct] | None = None
    routing_config: Struct | None = None
    model_selection_config: Struct | None = None
    audio_timestamp: bool | None = None
    enable_enhanced_civic_answers: bool | None = None
    audio_transcription_config: AudioTranscriptionConfig | None = None


class AutomaticActivityDetection(WireModel):
    disabled: bool | None = None
    start_of_speech_sensitivity: (
        Annotated[
            Literal[
                "START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"
            ],
            CaseInsensitive,
        ]
        | None
    ) = None
    end_of_speech_sensitivity: (
        Annotated[
            Literal["END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"],
            CaseInsensitive,
        ]
        | None
    ) = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None


class RealtimeInputConfig(WireModel):
    automatic_activity_detection: AutomaticActivityDetection | None = None
    activity_handling: (
        Annotated[
            Literal[
                "ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"
            ],
            CaseInsensitive,
        ]
        | None
    ) = None
    turn_coverage: (
        Annotated[
            Literal[
                "TURN_COVERAGE_UNSPECIFIED",
                "TURN_INCLUDES_ONLY_ACTIVITY",
                "TURN_INCLUDES_ALL_INPUT",
                "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
            ],
            CaseInsensitive,
        ]
        | None
    ) = None
    interim_transcript_timestamp_enabled: bool | None = None


class SessionResumptionConfig(WireModel):
    handle: str | None = None
    transparent: bool | None = None


class SlidingWindow(WireModel):
    target_tokens: int | None = None


class ContextWindowCompression(WireModel):
    trigger_tokens: int | None = None
    sliding_window: SlidingWindow | None = None


class Proactivity(WireModel):
    proactive_audio: bool | None = None
    proactive_video: bool | None = None


class HistoryConfig(WireModel):
    initial_history_in_client_content: bool | None = None


class FunctionDeclaration(WireModel):
    name: str
    description: str | None = None
    parameters: Struct | None = None
    parameters_json_schema: Any = None
    response: Struct | None = None
    response_json_schema: Any = None
    behavior: (
        Annotated[Literal["UNSPECIFIED", "BLOCKING", "NON_BLOCKING"], CaseInsensitive] | None
    ) = None


class Tool(WireModel):
    function_declarations: list[FunctionDeclaration] | None = None
    google_search: Struct | None = None
    google_search_retrieval: Struct | None = None
    code_execution: Struct | None = None
    url_context: Struct | None = None
    google_maps: Struct | None = None
    computer_use: Struct | None = None
    file_search: Struct | None = None
    mcp_servers: list[Struct] | None = None
    retrieval: Struct | None = None
    enterprise_web_search: Struct | None = None
    parallel_ai_search: Struct | None = None
    exa_ai_search: Struct | None = None


class Setup(WireModel):
    """``BidiGenerateContentSetup``: the first and only configuration of a session."""

    model: str
    generation_config: GenerationConfig | None = None
    system_instruction: Content | None = None
    tools: list[Tool] | None = None
    realtime_input_config: RealtimeInputConfig | None = None
    session_resumption: SessionResumptionConfig | None = None
    context_window_compression: ContextWindowCompression | None = None
    input_audio_transcription: AudioTranscriptionConfig | None = None
    output_audio_transcription: AudioTranscriptionConfig | None = None
    proactivity: Proactivity | None = None
    history_config: HistoryConfig | None = None
    explicit_vad_signal: bool | None = None
    avatar_config: Struct | None = None
    safety_settings: list[Struct] | None = None
    labels: dict[str, str] | None = None


# --- after setup -------------------------------------------------------------------------


class ClientContent(WireModel):
    """Turns appended to history in order; ``turn_complete`` starts generation."""

    turns: list[Content] = Field(default_factory=list)
    turn_complete: bool = False


class ActivityStart(WireModel):
    pass


class ActivityEnd(WireModel):
    pass


class RealtimeInput(WireModel):
    """Streaming input; the SDKs send exactly one field per message."""

    audio: Blob | None = None
    video: Blob | None = None
    text: str | None = None
    activity_start: ActivityStart | None = None
    activity_end: ActivityEnd | None = None
    audio_stream_end: bool | None = None
    media_chunks: list[Blob] | None = None


class ToolResponse(WireModel):
    function_responses: list[FunctionResponse] = Field(default_factory=list)


class ToolsWrapper(WireModel):
    tools: list[Tool] = Field(default_factory=list)


class ContextUpdate(WireModel):
    """SDK 3.x: replace the system instruction and/or the tools mid-session."""

    system_instruction: Content | None = None
    tools: ToolsWrapper | None = None


ClientMessage = Setup | ClientContent | RealtimeInput | ToolResponse | ContextUpdate


class ClientEnvelope(WireModel):
    """The top-level object: exactly one of these keys is set."""

    setup: Setup | None = None
    client_content: ClientContent | None = None
    realtime_input: RealtimeInput | None = None
    tool_response: ToolResponse | None = None
    context_update: ContextUpdate | None = Field(default=None)

    def payload(self) -> list[ClientMessage]:
        return [
            m
            for m in (
                self.setup,
                self.client_content,
                self.realtime_input,
                self.tool_response,
                self.context_update,
            )
            if m is not None
        ]
