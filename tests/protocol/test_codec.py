"""The codec: what goes out (camelCase, standard base64, no nulls, ≤ 1 MiB) and how bad
input is refused (always InvalidArgument, close 1007, a reason naming what was wrong)."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from openlive.errors import (
    MAX_REASON_BYTES,
    CloseCode,
    InternalError,
    InvalidArgument,
    ProtocolError,
    truncate_reason,
)
from openlive.protocol.client import ClientContent, RealtimeInput, Setup, ToolResponse
from openlive.protocol.codec import (
    MAX_JSON_DEPTH,
    MAX_SERVER_MESSAGE_BYTES,
    decode_client_message,
    encode_server_message,
)
from openlive.protocol.server import (
    GoAway,
    ModalityTokenCount,
    ServerContent,
    ServerMessage,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    Transcription,
    UsageMetadata,
    duration,
)
from openlive.protocol.types import Blob, Content, FunctionCall, Part

# --- encoding ------------------------------------------------------------------------------


def _keys(value: Any, *, skip: frozenset[str] = frozenset({"args"})) -> list[str]:
    """Every object key in ``value``, not descending into user-data Structs named in ``skip``."""
    if isinstance(value, dict):
        keys = []
        for key, item in value.items():
            keys.append(key)
            if key not in skip:
                keys.extend(_keys(item, skip=skip))
        return keys
    if isinstance(value, list):
        return [k for item in value for k in _keys(item, skip=skip)]
    return []


def _every_field_message() -> ServerMessage:
    return ServerMessage(
        server_content=ServerContent(
            model_turn=Content(
                role="model",
                parts=[
                    Part(text="hi", thought=True),
                    Part(inline_data=Blob(mime_type="audio/pcm;rate=24000", data=b"\xfb\xff")),
                    Part(function_call=FunctionCall(id="c1", name="f", args={"snake_key": 1})),
                ],
            ),
            generation_complete=True,
            turn_complete=True,
            input_transcription=Transcription(text="in", finished=True, language_code="en-US"),
            output_transcription=Transcription(text="out"),
            waiting_for_input=False,
            turn_complete_reason="NEED_MORE_INPUT",
        ),
        usage_metadata=UsageMetadata(
            prompt_token_count=1,
            response_token_count=2,
            total_token_count=3,
            prompt_tokens_details=[ModalityTokenCount(modality="TEXT", token_count=1)],
        ),
    )


def test_encoded_keys_are_lower_camel_case() -> None:
    wire = orjson.loads(encode_server_message(_every_field_message()))
    keys = _keys(wire)
    assert "serverContent" in keys and "usageMetadata" in keys and "modelTurn" in keys
    assert "inputTranscription" in keys and "promptTokensDetails" in keys
    assert "turnCompleteReason" in keys and "tokenCount" in keys and "languageCode" in keys
    assert all("_" not in key and key[0].islower() for key in keys), keys


def test_user_data_keys_are_not_renamed() -> None:
    wire = orjson.loads(encode_server_message(_every_field_message()))
    call = wire["serverContent"]["modelTurn"]["parts"][2]["functionCall"]
    assert call == {"id": "c1", "name": "f", "args": {"snake_key": 1}}


def test_every_top_level_server_message_is_camel() -> None:
    messages = {
        "setupComplete": ServerMessage(setup_complete=SetupComplete(session_id="s")),
        "toolCall": ServerMessage(tool_call=ToolCall(function_calls=[FunctionCall(name="f")])),
        "toolCallCancellation": ServerMessage(
            tool_call_cancellation=ToolCallCancellation(ids=["a"])
        ),
        "goAway": ServerMessage(go_away=GoAway(time_left=duration(50))),
        "sessionResumptionUpdate": ServerMessage(
            session_resumption_update=SessionResumptionUpdate(new_handle="h", resumable=True)
        ),
    }
    for key, message in messages.items():
        assert list(orjson.loads(encode_server_message(message))) == [key]
    assert orjson.loads(encode_server_message(messages["goAway"])) == {
        "goAway": {"timeLeft": "50s"}
    }
    assert orjson.loads(encode_server_message(messages["setupComplete"])) == {
        "setupComplete": {"sessionId": "s"}
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xfb\xff", "+/8="),  # needs both non-alphanumeric characters and padding
        (b"\x00\x01\xfe\xff", "AAH+/w=="),
        (b"\xff\xfe\xfd", "//79"),
        (b"", ""),
    ],
)
def test_bytes_are_standard_base64_with_padding(data: bytes, expected: str) -> None:
    """JS decodes with atob, which refuses the URL-safe alphabet (spec rule 14)."""
    message = ServerMessage(
        server_content=ServerContent(
            model_turn=Content(parts=[Part(inline_data=Blob(mime_type="audio/pcm", data=data))])
        )
    )
    wire = orjson.loads(encode_server_message(message))
    encoded = wire["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
    assert encoded == expected
    assert "-" not in encoded and "_" not in encoded and len(encoded) % 4 == 0
    assert base64.b64decode(encoded, validate=True) == data


def test_thought_signature_is_standard_base64() -> None:
    message = ServerMessage(
        server_content=ServerContent(
            model_turn=Content(parts=[Part(text="x", thought_signature=b"\xfb\xff")])
        )
    )
    part = orjson.loads(encode_server_message(message))["serverContent"]["modelTurn"]["parts"][0]
    assert part == {"text": "x", "thoughtSignature": "+/8="}


def test_no_nulls_are_emitted_for_unset_fields() -> None:
    for message in (
        _every_field_message(),
        ServerMessage(server_content=ServerContent(turn_complete=True)),
        ServerMessage(setup_complete=SetupComplete()),
        ServerMessage(session_resumption_update=SessionResumptionUpdate(resumable=False)),
    ):
        data = encode_server_message(message)
        assert b"null" not in data, data
    assert encode_server_message(ServerMessage(setup_complete=SetupComplete())) == (
        b'{"setupComplete":{}}'
    )
    assert (
        encode_server_message(ServerMessage(server_content=ServerContent(turn_complete=True)))
        == b'{"serverContent":{"turnComplete":true}}'
    )


def test_nulls_inside_user_data_are_kept() -> None:
    """A tool call's args are the model's JSON: a null there is data, not an unset field."""
    message = ServerMessage(
        tool_call=ToolCall(function_calls=[FunctionCall(id="c", name="f", args={"x": None})])
    )
    assert orjson.loads(encode_server_message(message)) == {
        "toolCall": {"functionCalls": [{"id": "c", "name": "f", "args": {"x": None}}]}
    }


@pytest.mark.parametrize(
    "args",
    [
        {"n": 10**20},  # beyond 64 bits: orjson refuses it
        {"n": -(2**64), "m": 2**63},
        {"t": "\ud800"},  # a lone surrogate, e.g. from a bad token decode
    ],
    ids=["int>64bit", "int64 edges", "lone surrogate"],
)
def test_tool_call_args_orjson_cannot_write_are_still_encoded(args: dict[str, Any]) -> None:
    """A model's args are arbitrary JSON; encoding them must not blow up the session."""
    message = ServerMessage(
        tool_call=ToolCall(function_calls=[FunctionCall(id="c", name="f", args=args)])
    )
    data = encode_server_message(message)
    assert json.loads(data) == {
        "toolCall": {"functionCalls": [{"id": "c", "name": "f", "args": args}]}
    }


def _text_message(text: str) -> ServerMessage:
    return ServerMessage(server_content=ServerContent(model_turn=Content(parts=[Part(text=text)])))


def test_a_message_of_exactly_one_mib_is_encoded() -> None:
    overhead = len(encode_server_message(_text_message("")))
    data = encode_server_message(_text_message("a" * (MAX_SERVER_MESSAGE_BYTES - overhead)))
    assert len(data) == MAX_SERVER_MESSAGE_BYTES == 1 << 20


def test_one_byte_over_one_mib_raises_internal_error() -> None:
    overhead = len(encode_server_message(_text_message("")))
    with pytest.raises(ProtocolError) as info:
        encode_server_message(_text_message("a" * (MAX_SERVER_MESSAGE_BYTES - overhead + 1)))
    assert type(info.value) is InternalError
    assert info.value.close_code == CloseCode.INTERNAL_ERROR == 1011
    assert info.value.client_fault is False
    assert len(info.value.reason.encode()) <= MAX_REASON_BYTES


def test_oversize_audio_raises_internal_error() -> None:
    message = ServerMessage(
        server_content=ServerContent(
            model_turn=Content(
                parts=[
                    Part(inline_data=Blob(mime_type="audio/pcm;rate=24000", data=bytes(800_000)))
                ]
            )
        )
    )
    with pytest.raises(InternalError):
        encode_server_message(message)


def test_duration_format() -> None:
    assert [duration(s) for s in (50, 1.5, 0.25, 120)] == ["50s", "1.5s", "0.25s", "120s"]


# --- decoding errors -----------------------------------------------------------------------


def _refused(frame: str | bytes) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        decode_client_message(frame)
    error = info.value
    assert type(error) is InvalidArgument
    assert error.close_code == CloseCode.INVALID_ARGUMENT == 1007 and error.client_fault
    assert error.reason and str(error) == error.reason
    assert len(error.reason.encode("utf-8")) <= MAX_REASON_BYTES
    return error


SETUP = '{"setup": {"model": "models/m", %s}}'

# (frame, words the reason must contain so a person knows what to fix)
REFUSED: list[tuple[str | bytes, list[str]]] = [
    # not JSON
    ('{"setup": ', ["Invalid JSON"]),
    ("", ["Invalid JSON"]),
    ("{'setup': {}}", ["Invalid JSON"]),
    ('{"setup": {"model": "m"}} trailing', ["Invalid JSON"]),
    ('{"setup": {"model": NaN}}', ["Invalid JSON"]),
    (b"\xff\xfe{}", ["Invalid JSON"]),
    ('{"x": ' * 2000 + "1" + "}" * 2000, ["Invalid JSON"]),  # nested too deep
    # JSON but not an object
    ("[]", ["JSON object"]),
    ('[{"setup": {"model": "m"}}]', ["JSON object"]),
    ('"setup"', ["JSON object"]),
    ("42", ["JSON object"]),
    ("null", ["JSON object"]),
    ("true", ["JSON object"]),
    # not exactly one message
    ("{}", ["setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate", "nothing"]),
    ('{"setup": {"model": "m"}, "clientContent": {}}', ["exactly one", "setup", "clientContent"]),
    ('{"realtime_input": {}, "tool_response": {}}', ["realtime_input", "tool_response"]),
    ('{"setup": null}', ["one of setup", "got nothing"]),  # null means unset (proto3 JSON)
    # unknown top-level key
    ('{"bogus": {}}', ["Unknown name", '"bogus"']),
    ('{"server_content": {}}', ["Unknown name", '"server_content"']),
    ('{"Setup": {"model": "m"}}', ["Unknown name", '"Setup"']),
    # both spellings of one key
    ('{"client_content": {}, "clientContent": {}}', ["client_content"]),
    # unknown nested field: the reason names it and where it was
    (SETUP % '"bogus": 1', ['"bogus"', "'setup'"]),
    (SETUP % '"generationConfig": {"fooBar": 1}', ['"fooBar"', "setup.generationConfig"]),
    (
        SETUP % '"generationConfig": {"speechConfig": {"voice_config": {"voiceNam": "x"}}}',
        ['"voiceNam"', "setup.generationConfig.speechConfig.voice_config"],
    ),
    ('{"realtimeInput": {"activityStart": {"x": 1}}}', ['"x"', "realtimeInput.activityStart"]),
    ('{"realtimeInput": {"audio": {"data": "AA==", "mimeType": "a", "rate": 1}}}', ['"rate"']),
    ('{"clientContent": {"turns": [{"parts": [{"txt": "hi"}]}]}}', ['"txt"', "parts.0"]),
    ('{"toolResponse": {"functionResponses": [{"id": "a", "result": {}}]}}', ['"result"']),
    # missing required fields
    ('{"setup": {}}', ["setup.model", "required"]),
    ('{"realtimeInput": {"audio": {"data": "AA=="}}}', ["realtimeInput.audio.mimeType"]),
    # wrong types
    ('{"setup": {"model": 1}}', ["setup.model", "string"]),
    ('{"setup": []}', ["setup", "dictionary"]),
    ('{"setup": "models/m"}', ["setup"]),
    (SETUP % '"tools": {}', ["setup.tools", "list"]),
    (SETUP % '"tools": [1]', ["setup.tools.0"]),
    (SETUP % '"systemInstruction": "be nice"', ["setup.systemInstruction"]),
    (SETUP % '"generationConfig": {"temperature": "hot"}', ["setup.generationConfig.temperature"]),
    (SETUP % '"generationConfig": {"topK": 40.5}', ["setup.generationConfig.topK", "integer"]),
    (SETUP % '"generationConfig": {"responseModalities": "AUDIO"}', ["responseModalities", "list"]),
    (SETUP % '"labels": {"a": 1}', ["setup.labels.a"]),
    (
        SETUP % '"contextWindowCompression": {"triggerTokens": "lots"}',
        ["setup.contextWindowCompression.triggerTokens"],
    ),
    ('{"clientContent": {"turns": "hello"}}', ["clientContent.turns", "list"]),
    ('{"clientContent": {"turnComplete": "maybe"}}', ["clientContent.turnComplete"]),
    ('{"realtimeInput": {"text": 5}}', ["realtimeInput.text", "string"]),
    ('{"realtimeInput": {"activityStart": true}}', ["realtimeInput.activityStart"]),
    ('{"toolResponse": {"functionResponses": {}}}', ["toolResponse.functionResponses"]),
    ('{"contextUpdate": {"tools": []}}', ["contextUpdate.tools"]),
    # bad base64, in either alphabet
    ('{"realtimeInput": {"audio": {"data": "!!!!", "mimeType": "a"}}}', ["audio.data", "base64"]),
    ('{"realtimeInput": {"audio": {"data": "A", "mimeType": "a"}}}', ["audio.data", "base64"]),
    ('{"realtimeInput": {"audio": {"data": "AA=A", "mimeType": "a"}}}', ["audio.data", "base64"]),
    ('{"realtimeInput": {"audio": {"data": "AAH-_w====", "mimeType": "a"}}}', ["base64"]),
    ('{"realtimeInput": {"audio": {"data": "\u00e9\u00e9", "mimeType": "a"}}}', ["base64"]),
    ('{"realtimeInput": {"audio": {"data": 5, "mimeType": "a"}}}', ["audio.data", "base64"]),
    (
        '{"realtimeInput": {"mediaChunks": [{"data": "%%", "mimeType": "a"}]}}',
        ["mediaChunks.0.data"],
    ),
    (
        '{"clientContent": {"turns": [{"parts": [{"inlineData": {"data": "*", "mime_type": "a"}}]}]}}',
        ["inlineData.data", "base64"],
    ),
    # bad enum values
    (SETUP % '"generationConfig": {"responseModalities": ["SPEECH"]}', ["responseModalities.0"]),
    (SETUP % '"generationConfig": {"mediaResolution": "HUGE"}', ["mediaResolution"]),
    (SETUP % '"generationConfig": {"mediaResolution": 2}', ["mediaResolution"]),
    (
        SETUP % '"realtimeInputConfig": {"activity_handling": "SOMETIMES"}',
        ["realtimeInputConfig.activity_handling"],
    ),
    ('{"toolResponse": {"functionResponses": [{"scheduling": "LATER"}]}}', ["scheduling"]),
    # non-ASCII lookalikes are not case variants of an enum name ("ſ".upper() == "S")
    ('{"toolResponse": {"functionResponses": [{"scheduling": "\u017filent"}]}}', ["scheduling"]),
    (
        SETUP % '"generationConfig": {"thinkingConfig": {"thinkingLevel": "h\u0131gh"}}',
        ["thinkingLevel"],
    ),
]


@pytest.mark.parametrize(("frame", "words"), REFUSED, ids=[repr(f)[:60] for f, _ in REFUSED])
def test_bad_frames_are_refused_with_a_reason_naming_the_problem(
    frame: str | bytes, words: list[str]
) -> None:
    reason = _refused(frame).reason
    for word in words:
        assert word in reason, (word, reason)


def _nested_tool_response(levels: int) -> str:
    """A toolResponse whose JSON nests ``levels`` deep: the envelope is level 1, toolResponse
    2, functionResponses 3, the FunctionResponse 4, its response Struct 5 and beyond."""
    structs = levels - 4
    response = '{"a": ' * (structs - 1) + "{}" + "}" * (structs - 1)
    return '{"toolResponse": {"functionResponses": [{"id": "a", "response": ' + response + "}]}}"


def test_nesting_up_to_the_limit_is_accepted() -> None:
    message = decode_client_message(_nested_tool_response(MAX_JSON_DEPTH))
    assert isinstance(message, ToolResponse)
    assert orjson.dumps(message.function_responses[0].response)  # writable back


def test_nesting_beyond_the_limit_is_refused() -> None:
    """User data nested past what orjson (254) and pydantic write back is refused here
    with 1007, instead of crashing whoever re-serialises it later (1011)."""
    assert MAX_JSON_DEPTH == 100  # protobuf's JSON parser limit
    reason = _refused(_nested_tool_response(MAX_JSON_DEPTH + 1)).reason
    assert reason == "Invalid JSON payload received: nested deeper than 100 levels."
    _refused(_nested_tool_response(300))
    _refused('{"setup": {"model": "m", "labels": ' + "[" * 200 + "]" * 200 + "}}")


def test_long_unknown_key_is_cut_to_the_close_frame_limit() -> None:
    reason = _refused('{"setup": {"model": "m", "%s": 1}}' % ("\u00e9" * 200)).reason
    assert reason.startswith('Invalid JSON payload received. Unknown name "\u00e9')
    assert 120 <= len(reason.encode()) <= MAX_REASON_BYTES


def test_deeply_nested_unknown_field_still_names_the_field_first() -> None:
    frame = SETUP % (
        '"realtimeInputConfig": {"automaticActivityDetection": {"startOfSpeechSensitivityy": 1}}'
    )
    reason = _refused(frame).reason
    assert '"startOfSpeechSensitivityy"' in reason


# --- lenient decoding ----------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["AUDIO", "audio", "Audio", "aUdIo"])
def test_enums_are_case_insensitive(spelling: str) -> None:
    setup = decode_client_message(
        SETUP % f'"generationConfig": {{"responseModalities": ["{spelling}"]}}'
    )
    assert isinstance(setup, Setup) and setup.generation_config is not None
    assert setup.generation_config.response_modalities == ["AUDIO"]


def test_enums_in_every_position_are_case_insensitive() -> None:
    frame = SETUP % (
        '"generationConfig": {"mediaResolution": "media_resolution_low",'
        ' "thinkingConfig": {"thinking_level": "low"}},'
        ' "realtimeInputConfig": {"automatic_activity_detection":'
        ' {"start_of_speech_sensitivity": "start_sensitivity_high",'
        ' "endOfSpeechSensitivity": "End_Sensitivity_Low"},'
        ' "activityHandling": "no_interruption", "turn_coverage": "turn_includes_all_input"},'
        ' "tools": [{"functionDeclarations": [{"name": "f", "behavior": "non_blocking"}]}]'
    )
    setup = decode_client_message(frame)
    assert isinstance(setup, Setup)
    gen, ric = setup.generation_config, setup.realtime_input_config
    assert gen is not None and gen.thinking_config is not None
    assert gen.media_resolution == "MEDIA_RESOLUTION_LOW"
    assert gen.thinking_config.thinking_level == "LOW"
    assert ric is not None and ric.automatic_activity_detection is not None
    assert ric.automatic_activity_detection.start_of_speech_sensitivity == "START_SENSITIVITY_HIGH"
    assert ric.automatic_activity_detection.end_of_speech_sensitivity == "END_SENSITIVITY_LOW"
    assert ric.activity_handling == "NO_INTERRUPTION"
    assert ric.turn_coverage == "TURN_INCLUDES_ALL_INPUT"
    assert setup.tools is not None and setup.tools[0].function_declarations is not None
    assert setup.tools[0].function_declarations[0].behavior == "NON_BLOCKING"
    response = decode_client_message(
        '{"tool_response": {"function_responses": [{"id": "a", "scheduling": "when_idle"}]}}'
    )
    assert isinstance(response, ToolResponse)
    assert response.function_responses[0].scheduling == "WHEN_IDLE"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("AAH-_w==", b"\x00\x01\xfe\xff"),  # Python: URL-safe
        ("AAH+/w==", b"\x00\x01\xfe\xff"),  # JS: standard
        ("AAH-_w", b"\x00\x01\xfe\xff"),  # unpadded
        ("AAH-_w=", b"\x00\x01\xfe\xff"),  # short padding
        ("", b""),
    ],
)
def test_base64_in_either_alphabet_with_or_without_padding(data: str, expected: bytes) -> None:
    message = decode_client_message(
        orjson.dumps({"realtimeInput": {"audio": {"data": data, "mimeType": "audio/pcm"}}})
    )
    assert isinstance(message, RealtimeInput) and message.audio is not None
    assert message.audio.data == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("40", 40), ("25600", 25600), (40.0, 40), (25600, 25600)]
)
def test_int64_fields_accept_strings_and_integral_floats(value: object, expected: int) -> None:
    setup = decode_client_message(
        orjson.dumps(
            {"setup": {"model": "m", "contextWindowCompression": {"triggerTokens": value}}}
        )
    )
    assert isinstance(setup, Setup) and setup.context_window_compression is not None
    assert setup.context_window_compression.trigger_tokens == expected


def test_str_and_bytes_frames_decode_alike() -> None:
    frame = (
        '{"client_content": {"turns": [{"parts": [{"text": "h\u00e9"}]}], "turnComplete": true}}'
    )
    assert (
        decode_client_message(frame)
        == decode_client_message(frame.encode())
        == ClientContent(turns=[Content(parts=[Part(text="h\u00e9")])], turn_complete=True)
    )


def test_decoded_messages_are_frozen() -> None:
    message = decode_client_message('{"setup": {"model": "m"}}')
    with pytest.raises(ValidationError, match="frozen"):
        message.model = "x"  # type: ignore[misc]


# --- reasons -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "chars"),
    [
        ("\u00e9" * 100, 61),  # 2 bytes each: 61 chars = 122 bytes, the 62nd would split
        ("\u20ac" * 50, 41),  # 3 bytes each: 41 chars = exactly 123 bytes
        ("\U0001f600" * 40, 30),  # 4 bytes each: 30 chars = 120 bytes
        ("a" + "\U0001f600" * 40, 31),  # 1 + 30 * 4 = 121; one more emoji would be 125
        ("x" * 122 + "\u00e9", 122),  # the multibyte char straddles the limit: dropped whole
        ("x" * 121 + "\u00e9", 122),  # it ends exactly at the limit: kept
    ],
)
def test_truncate_reason_never_splits_a_character(text: str, chars: int) -> None:
    cut = truncate_reason(text)
    assert len(cut.encode("utf-8")) <= MAX_REASON_BYTES
    assert cut == text[:chars]


def test_truncate_reason_leaves_short_reasons_alone() -> None:
    for text in ("", "Request contains an invalid argument.", "\u00e9" * 61, "x" * 123):
        assert truncate_reason(text) is text
    assert truncate_reason("\u00e9\u00e9\u00e9", limit=5) == "\u00e9\u00e9"
    assert truncate_reason("abc", limit=0) == ""


def test_protocol_errors_truncate_their_reason() -> None:
    error = InvalidArgument('Unknown name "' + "\u0436" * 200 + '"')
    assert len(error.reason.encode()) <= MAX_REASON_BYTES
    assert str(error) == error.reason and error.reason.startswith('Unknown name "\u0436')
    assert InternalError("x" * 500).reason == "x" * 123
