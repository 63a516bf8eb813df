"""Wire types shared by client and server messages: Content, Part, Blob and friends.

Every model accepts both ``snake_case`` and ``lowerCamelCase`` field names, because the
SDKs mix them within one frame (spec §2.2), and serialises to lowerCamelCase. Values that
are user data (function args, responses, JSON schemas) stay free-form dicts whose keys are
never rewritten. Enum values are accepted case-insensitively, as proto enum names.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Base of every wire type: both spellings in, camelCase out, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


def _decode_base64(value: object) -> bytes:
    """Decode base64 in either alphabet (Python sends URL-safe, JS standard), padding optional."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        # pydantic turns ValueError (not TypeError) into a validation error
        raise ValueError("must be a base64 string")  # noqa: TRY004
    text = value.replace("-", "+").replace("_", "/").strip()
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not valid base64") from exc


def _encode_base64(value: bytes) -> str:
    # Standard alphabet with padding: the JS SDK decodes with atob, which refuses URL-safe.
    return base64.b64encode(value).decode("ascii")


Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_decode_base64),
    PlainSerializer(_encode_base64, return_type=str, when_used="always"),
]


# An int64 proto field: proto3 JSON writes it as a string ("12"), which both SDKs read
# (JS types it as a string, Python's pydantic converts it).
Int64 = Annotated[int, PlainSerializer(str, return_type=str, when_used="always")]


def _upper_enum(value: object) -> object:
    # ASCII only: str.upper() maps e.g. "ſ" to "S" and "ı" to "I", which are not enum names.
    return value.upper() if isinstance(value, str) and value.isascii() else value


# Marks a Literal of proto enum names as matched case-insensitively:
# ``Annotated[Literal["A", "B"], CaseInsensitive]``.
CaseInsensitive = BeforeValidator(_upper_enum)


Struct = dict[str, Any]  # free-form JSON object: keys are user data, never renamed


class Blob(WireModel):
    mime_type: str
    data: Base64Bytes
    display_name: str | None = None


class FileData(WireModel):
    file_uri: str
    mime_type: str | None = None
    display_name: str | None = None


class FunctionCall(WireModel):
    id: str | None = None
    name: str
    args: Struct | None = None


class FunctionResponse(WireModel):
    id: str | None = None
    name: str | None = None
    response: Struct | None = None
    will_continue: bool | None = None
    scheduling: (
        Annotated[
            Literal["SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"], CaseInsensitive
        ]
        | None
    ) = None
    parts: list[Struct] | None = None


class ExecutableCode(WireModel):
    language: str | None = None
    code: str | None = None
    id: str | None = None


class CodeExecutionResult(WireModel):
    outcome: str | None = None
    output: str | None = None
    id: str | None = None


class Part(WireModel):
    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    executable_code: ExecutableCode | None = None
    code_execution_result: CodeExecutionResult | None = None
    thought: bool | None = None
    thought_signature: Base64Bytes | None = None
    video_metadata: Struct | None = None
    media_resolution: Struct | None = None
    part_metadata: Struct | None = None
    # google-genai 3.6 Part fields: accepted, not read (docs/compatibility.md)
    tool_call: Struct | None = None
    tool_response: Struct | None = None
    audio_transcription: Struct | None = None
    media_processing: Struct | None = None
    speech_metadata: Struct | None = None
    document_metadata: Struct | None = None
    spreadsheet_metadata: Struct | None = None
    audio_metadata: Struct | None = None


class Content(WireModel):
    role: str | None = None
    parts: list[Part] = Field(default_factory=list)

    def text(self) -> str:
        """The concatenated text of the non-thought text parts."""
        return "".join(p.text for p in self.parts if p.text is not None and not p.thought)


Modality = Annotated[
    Literal["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO", "VIDEO", "DOCUMENT"], CaseInsensitive
]
