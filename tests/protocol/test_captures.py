"""Every frame the unmodified SDKs put on the wire (shared/spec/captures) is a golden vector.

Client frames must decode to the right message with the right values; server frames that
both SDKs accepted must survive ``ServerMessage`` unchanged; every captured handshake must
name a Live endpoint and carry credentials we find.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
import pytest

from openlive.errors import InternalError
from openlive.protocol.client import (
    ClientContent,
    ContextUpdate,
    RealtimeInput,
    Setup,
    ToolResponse,
)
from openlive.protocol.codec import decode_client_message, encode_server_message, to_wire
from openlive.protocol.endpoint import extract_credentials, parse_live_path
from openlive.protocol.server import ServerMessage
from openlive.protocol.types import Blob, Content, Part
from tests.protocol.captures import (
    Event,
    client_frames,
    find_client_frame,
    http_requests,
    lower_headers,
    needs_captures,
    params,
    server_frames,
    upgrades,
)

pytestmark = needs_captures

# Both spellings of each top-level key, and the class each decodes to.
MESSAGE_CLASS: dict[str, type] = {
    "setup": Setup,
    "client_content": ClientContent,
    "clientContent": ClientContent,
    "realtime_input": RealtimeInput,
    "realtimeInput": RealtimeInput,
    "tool_response": ToolResponse,
    "toolResponse": ToolResponse,
    "contextUpdate": ContextUpdate,
    "context_update": ContextUpdate,
}

PCM_0001FEFF = b"\x00\x01\xfe\xff"  # the bytes both SDKs were given in the audio probes


def test_the_captures_are_all_there() -> None:
    """Guard against a loader that silently finds nothing."""
    assert len(client_frames()) >= 130
    assert len(server_frames()) >= 170
    assert len(upgrades()) >= 50
    assert {e.capture for e in client_frames()} == {"python", "js", "python_extra", "single_port"}


# --- client → server -----------------------------------------------------------------------


@pytest.mark.parametrize("event", params(client_frames()))
def test_every_client_frame_decodes_to_its_message_class(event: Event) -> None:
    [key] = event.json
    message = decode_client_message(event.raw)
    assert type(message) is MESSAGE_CLASS[key]
    # The frame as bytes (a binary frame) decodes the same.
    assert decode_client_message(event.raw.encode("utf-8")) == message


def _python_full_setup() -> Setup:
    event = find_client_frame(
        "python", lambda j: "setup" in j and "native-audio" in j["setup"]["model"]
    )
    message = decode_client_message(event.raw)
    assert isinstance(message, Setup)
    return message


def _js_full_setup() -> Setup:
    event = find_client_frame(
        "js", lambda j: "setup" in j and "native-audio" in j["setup"]["model"]
    )
    message = decode_client_message(event.raw)
    assert isinstance(message, Setup)
    return message


def test_python_full_setup_with_snake_nested_keys() -> None:
    setup = _python_full_setup()
    assert setup.model == "models/gemini-2.5-flash-native-audio-preview-09-2025"

    gen = setup.generation_config
    assert gen is not None
    assert gen.response_modalities == ["AUDIO"]
    assert gen.temperature == 0.7 and gen.top_p == 0.9
    assert gen.top_k == 40 and type(gen.top_k) is int  # sent as 40.0
    assert gen.max_output_tokens == 1024 and gen.seed == 42
    assert gen.media_resolution == "MEDIA_RESOLUTION_LOW"
    assert gen.enable_affective_dialog is True
    # speechConfig.voice_config.prebuilt_voice_config.voice_name: snake inside camel
    assert gen.speech_config is not None and gen.speech_config.voice_config is not None
    assert gen.speech_config.voice_config.prebuilt_voice_config is not None
    assert gen.speech_config.voice_config.prebuilt_voice_config.voice_name == "Kore"
    assert gen.speech_config.language_code == "en-US"
    assert gen.thinking_config is not None
    assert gen.thinking_config.include_thoughts is True
    assert gen.thinking_config.thinking_budget == 1024

    assert setup.system_instruction == Content(
        role="user", parts=[Part(text="You are a helpful assistant.")]
    )

    # Python places the merged function declarations after the other tools.
    assert setup.tools is not None and len(setup.tools) == 3
    assert setup.tools[0].google_search == {} and setup.tools[1].code_execution == {}
    decls = setup.tools[2].function_declarations
    assert decls is not None
    assert [d.name for d in decls] == [
        "turn_on_the_lights",
        "set_temp",
        "json_schema_fn",
        "get_weather",
    ]
    assert decls[0].behavior == "NON_BLOCKING" and decls[0].description == "Turn on lights"
    assert decls[1].parameters == {
        "properties": {"celsius": {"type": "NUMBER"}},
        "required": ["celsius"],
        "type": "OBJECT",
    }
    # JSON schemas are user data: their keys are kept as sent.
    assert decls[2].parameters_json_schema == {
        "type": "object",
        "properties": {"x": {"type": "string"}},
    }
    assert decls[3].response_json_schema == {"type": "string"}

    assert setup.session_resumption is not None
    assert setup.session_resumption.handle == "previous-handle"
    assert setup.input_audio_transcription is not None
    assert setup.output_audio_transcription is not None

    ric = setup.realtime_input_config
    assert ric is not None and ric.automatic_activity_detection is not None
    aad = ric.automatic_activity_detection
    assert aad.disabled is False
    assert aad.start_of_speech_sensitivity == "START_SENSITIVITY_LOW"
    assert aad.end_of_speech_sensitivity == "END_SENSITIVITY_LOW"
    assert aad.prefix_padding_ms == 20 and aad.silence_duration_ms == 100
    assert ric.activity_handling == "NO_INTERRUPTION"
    assert ric.turn_coverage == "TURN_INCLUDES_ALL_INPUT"

    cwc = setup.context_window_compression
    assert cwc is not None and cwc.trigger_tokens == 25600
    assert cwc.sliding_window is not None and cwc.sliding_window.target_tokens == 12800
    assert setup.proactivity is not None and setup.proactivity.proactive_audio is True


def test_js_full_setup_with_camel_keys_and_int64_strings() -> None:
    setup = _js_full_setup()
    cwc = setup.context_window_compression
    assert cwc is not None and cwc.trigger_tokens == 25600  # sent as "25600"
    assert cwc.sliding_window is not None and cwc.sliding_window.target_tokens == 12800
    assert setup.generation_config is not None and setup.generation_config.top_k == 40


def test_python_and_js_full_setups_are_equal_apart_from_their_tools() -> None:
    """Same config typed into both SDKs; only the tools differ in the source scripts."""
    py, js = _python_full_setup(), _js_full_setup()
    assert py.model_copy(update={"tools": None}) == js.model_copy(update={"tools": None})

    # JS keeps the user's tool order; its declarations carry no description / required.
    assert js.tools is not None and py.tools is not None
    assert js.tools[1:] == py.tools[:2]  # googleSearch, codeExecution
    js_decls, py_decls = js.tools[0].function_declarations, py.tools[2].function_declarations
    assert js_decls is not None and py_decls is not None
    assert [d.name for d in js_decls] == ["turn_on_the_lights", "set_temp"]
    assert js_decls[0] == py_decls[0].model_copy(update={"description": None})
    assert js_decls[1].parameters == {
        "type": "OBJECT",
        "properties": {"celsius": {"type": "NUMBER"}},
    }


def test_old_python_camel_setup_equals_new_python_snake_setup() -> None:
    """python-genai 1.x sent nested keys camel, 2.x/3.x snake (spec §12.5): same Setup."""
    setups = [
        e
        for e in client_frames()
        if e.capture == "python"
        and "setup" in e.json
        and "speechConfig" in e.json["setup"].get("generationConfig", {})
        and e.json["setup"]["generationConfig"]["responseModalities"] == ["TEXT"]
    ]
    decoded = [decode_client_message(e.raw) for e in setups]
    assert len(decoded) == 3
    assert '"voiceConfig"' in setups[0].raw and '"voice_config"' in setups[2].raw
    assert decoded[0] == decoded[1] == decoded[2]


def test_vad_off_setup_with_empty_sub_objects() -> None:
    event = find_client_frame("python", lambda j: "Puck" in orjson.dumps(j).decode())
    setup = decode_client_message(event.raw)
    assert isinstance(setup, Setup)
    assert setup.realtime_input_config is not None
    aad = setup.realtime_input_config.automatic_activity_detection
    assert aad is not None and aad.disabled is True
    # Presence of an empty object matters ({} ⇒ send sessionResumptionUpdate).
    assert setup.session_resumption is not None and setup.session_resumption.handle is None
    assert setup.context_window_compression is not None
    assert setup.context_window_compression.sliding_window is not None
    assert setup.system_instruction == Content(parts=[Part(text="sys as dict")])


def test_sdk3_setup_fields() -> None:
    event = find_client_frame(
        "python_extra", lambda j: "setup" in j and "historyConfig" in j["setup"]
    )
    setup = decode_client_message(event.raw)
    assert isinstance(setup, Setup) and setup.generation_config is not None
    assert setup.generation_config.thinking_config is not None
    assert setup.generation_config.thinking_config.thinking_level == "LOW"
    assert setup.generation_config.translation_config is not None
    assert setup.generation_config.translation_config.target_language_code == "es"
    assert setup.generation_config.translation_config.echo_target_language is True
    assert setup.tools is not None
    assert [t.url_context for t in setup.tools] == [{}, None]
    assert [t.google_maps for t in setup.tools] == [None, {}]
    assert setup.input_audio_transcription is not None
    assert setup.input_audio_transcription.language_codes == ["en-US"]
    assert setup.realtime_input_config is not None
    assert setup.realtime_input_config.turn_coverage == "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"
    assert setup.history_config is not None
    assert setup.history_config.initial_history_in_client_content is True


def _realtime(event: Event) -> RealtimeInput:
    message = decode_client_message(event.raw)
    assert isinstance(message, RealtimeInput)
    return message


def test_url_safe_and_standard_base64_decode_to_the_same_bytes() -> None:
    py = find_client_frame("python", lambda j: '"AAH-_w=="' in orjson.dumps(j).decode())
    js = find_client_frame("js", lambda j: '"AAH+/w=="' in orjson.dumps(j).decode())
    py_audio, js_audio = _realtime(py).audio, _realtime(js).audio
    assert py_audio == js_audio == Blob(mime_type="audio/pcm;rate=16000", data=PCM_0001FEFF)
    # python-genai 2.19 spells the Blob key mimeType, 3.6.1 mime_type: same Blob.
    py219 = find_client_frame(
        "python", lambda j: "mimeType" in j.get("realtime_input", {}).get("audio", {})
    )
    assert _realtime(py219).audio == py_audio


def test_python_realtime_input_frames() -> None:
    frames = [
        _realtime(e)
        for e in client_frames()
        if e.capture == "python" and "realtime_input" in e.json
    ][:7]
    audio, start, text, video, chunks, end, stream_end = frames
    assert audio.audio is not None and audio.audio.data == PCM_0001FEFF * 4
    assert start.activity_start is not None and start.audio is None
    assert text.text == "realtime text"
    assert video.video == Blob(mime_type="image/jpeg", data=b"\xff\xd8\xff\xe0fakejpeg")
    assert chunks.media_chunks == [Blob(mime_type="audio/pcm;rate=16000", data=b"\x10\x20\x30")]
    assert end.activity_end is not None
    assert stream_end.audio_stream_end is True


def test_js_realtime_input_frames() -> None:
    frames = [_realtime(e) for e in client_frames() if "realtimeInput" in e.json]
    assert len(frames) == 7
    assert frames[3].video == Blob(mime_type="image/jpeg", data=b"fakejpeg")
    assert frames[4].media_chunks == [Blob(mime_type="audio/pcm;rate=16000", data=b"\x01\x02\x03")]
    assert frames[6].audio_stream_end is True


def test_inline_data_in_client_content() -> None:
    py = find_client_frame("python", lambda j: "iVBOR__-" in orjson.dumps(j).decode())
    js = find_client_frame("js", lambda j: "iVBORw==" in orjson.dumps(j).decode())
    for event, data in ((py, b"\x89PNG\xff\xfe"), (js, b"\x89PNG")):
        message = decode_client_message(event.raw)
        assert isinstance(message, ClientContent) and message.turn_complete is True
        [turn] = message.turns
        assert turn.parts[0].text == "SCENARIO:audio"
        assert turn.parts[1].inline_data == Blob(mime_type="image/png", data=data)


def test_history_prefill_with_function_response_part() -> None:
    event = find_client_frame(
        "python_extra",
        lambda j: "client_content" in j and "functionResponse" in orjson.dumps(j).decode(),
    )
    message = decode_client_message(event.raw)
    assert isinstance(message, ClientContent) and message.turn_complete is False
    part = message.turns[0].parts[0]
    assert part.function_response is not None
    assert part.function_response.name == "f" and part.function_response.response == {"x": 1}


def test_client_content_without_turns() -> None:
    event = find_client_frame(
        "python_extra", lambda j: j == {"client_content": {"turnComplete": True}}
    )
    assert decode_client_message(event.raw) == ClientContent(turns=[], turn_complete=True)


def test_tool_response_with_will_continue_and_scheduling() -> None:
    py = find_client_frame("python", lambda j: "scheduling" in orjson.dumps(j).decode())
    js = find_client_frame("js", lambda j: "scheduling" in orjson.dumps(j).decode())
    py_msg, js_msg = decode_client_message(py.raw), decode_client_message(js.raw)
    assert isinstance(py_msg, ToolResponse) and isinstance(js_msg, ToolResponse)
    first, second = py_msg.function_responses
    assert (first.id, first.name, first.response) == (
        "function-call-1",
        "turn_on_the_lights",
        {"result": "ok"},
    )
    assert first.will_continue is None and first.scheduling is None
    assert second.id == "function-call-2" and second.name == "get_weather"
    assert second.will_continue is False and second.scheduling == "WHEN_IDLE"
    # The response Struct is user data: its snake keys stay as they were.
    assert second.response == {"output": "sunny", "nested_key": {"a_b": 1}}
    assert js_msg.function_responses[0] == first
    assert js_msg.function_responses[1].scheduling == "INTERRUPT"
    assert js_msg.function_responses[1].will_continue is False


def test_deprecated_send_frames_with_all_snake_keys() -> None:
    frames = [
        (e, decode_client_message(e.raw))
        for e in client_frames()
        if e.capture == "python"
        and any(k in e.raw for k in ("turn_complete", "media_chunks", "function_responses"))
    ]
    by_kind: dict[type, list[Any]] = {}
    for _, message in frames:
        by_kind.setdefault(type(message), []).append(message)
    contents = by_kind[ClientContent]
    assert [(m.turns[0].parts[0].text, m.turn_complete) for m in contents] == [
        ("plain string, end_of_turn=False", False),
        ("dict turns", False),
        ("final string", True),
    ]
    assert [m.media_chunks for m in by_kind[RealtimeInput]] == [
        [Blob(mime_type="audio/pcm", data=b"\x00\x11")],
        [Blob(mime_type="audio/pcm", data=b"\x22\x33")],
        [Blob(mime_type="audio/pcm", data=b"\x44")],
    ]
    [tool] = by_kind[ToolResponse]
    [response] = tool.function_responses
    assert (response.id, response.name, response.response) == ("fc-9", "f", {"r": 1})


def test_context_update_frames() -> None:
    updates = [decode_client_message(e.raw) for e in client_frames() if "contextUpdate" in e.json]
    assert all(isinstance(u, ContextUpdate) for u in updates)
    js_set, py_set, py_clear = updates  # captures load in name order: js, python
    assert isinstance(py_set, ContextUpdate) and isinstance(py_clear, ContextUpdate)
    assert isinstance(js_set, ContextUpdate)
    assert py_set.system_instruction == Content(role="user", parts=[Part(text="New instructions")])
    assert py_set.tools is not None
    [tool] = py_set.tools.tools
    assert tool.function_declarations is not None
    assert [d.name for d in tool.function_declarations] == ["f2"]
    # Python clears the tools with {"tools": []}; JS drops the empty list: {"tools": {}}.
    assert py_clear.system_instruction is None
    assert py_clear.tools is not None and py_clear.tools.tools == []
    assert js_set.tools is not None and js_set.tools.tools == []
    assert js_set.system_instruction == Content(role="user", parts=[Part(text="new sys")])


# --- server → client -----------------------------------------------------------------------

# Captured server frames we deliberately do not model, and why (kept in sync by
# test_unmodelled_server_frames_are_the_known_ones):
#   * {"server_content": …}: a negative probe; the Python SDK crashes on snake top-level keys.
#   * {"error": {...}}: a negative probe; errors are close frames, never JSON (spec §7).
#   * serverContent.interactionStatus (SDK 3.x, python_extra "interaction" probe): not modelled.
#   * the python_extra 1 MiB probes: the capture log truncated their audio data, see
#     test_one_mib_probe_matches_the_python_client_limit.
SNAKE_PROBE = "negative probe: snake_case top-level key"
ERROR_PROBE = "negative probe: error JSON object"
INTERACTION_STATUS = "serverContent.interactionStatus is not modelled"
TRUNCATED = "audio data truncated by the capture log"
_TRUNCATED_DATA = re.compile(r"\.\.\.<truncated, (\d+) chars total>$")


def unmodelled(frame: dict[str, Any]) -> str | None:
    if "server_content" in frame:
        return SNAKE_PROBE
    if "error" in frame:
        return ERROR_PROBE
    content = frame.get("serverContent", {})
    if "interactionStatus" in content:
        return INTERACTION_STATUS
    for part in content.get("modelTurn", {}).get("parts", []):
        if _TRUNCATED_DATA.search(part.get("inlineData", {}).get("data", "")):
            return TRUNCATED
    return None


def test_unmodelled_server_frames_are_the_known_ones() -> None:
    reasons = [unmodelled(e.json) for e in server_frames()]
    assert sorted(r for r in reasons if r) == sorted(
        [SNAKE_PROBE, ERROR_PROBE, INTERACTION_STATUS, INTERACTION_STATUS, TRUNCATED, TRUNCATED]
    )


@pytest.mark.parametrize(
    "event", params([e for e in server_frames() if unmodelled(e.json) is None])
)
def test_server_frame_round_trips(event: Event) -> None:
    message = ServerMessage.model_validate(event.json)
    assert to_wire(message) == event.json
    assert orjson.loads(encode_server_message(message)) == event.json


def test_snake_case_server_probe_is_re_emitted_camel() -> None:
    """What the SDK choked on, our model reads and writes the way the SDKs want it."""
    [event] = [e for e in server_frames() if unmodelled(e.json) == SNAKE_PROBE]
    message = ServerMessage.model_validate(event.json)
    assert to_wire(message) == {
        "serverContent": {"modelTurn": {"parts": [{"text": "snake"}]}, "turnComplete": True}
    }


def test_one_mib_probe_matches_the_python_client_limit() -> None:
    """The Python client took a 700 000-byte PCM chunk and refused 800 000 (spec §1.4)."""
    probes = [e for e in server_frames() if unmodelled(e.json) == TRUNCATED]
    sizes = {700_000: False, 800_000: True}  # payload bytes -> too big for the client
    for event, (pcm_bytes, too_big) in zip(probes, sizes.items(), strict=True):
        part = event.json["serverContent"]["modelTurn"]["parts"][0]["inlineData"]
        match = _TRUNCATED_DATA.search(part["data"])
        assert match is not None
        message = ServerMessage.model_validate(
            {
                "serverContent": {
                    "modelTurn": {
                        "parts": [
                            {
                                "inlineData": {
                                    "mimeType": part["mimeType"],
                                    "data": base64.b64encode(bytes(pcm_bytes)).decode(),
                                }
                            }
                        ]
                    }
                }
            }
        )
        inline = message.server_content.model_turn.parts[0].inline_data  # type: ignore[union-attr]
        assert inline is not None
        assert len(base64.b64encode(inline.data)) == int(match[1])  # same size as captured
        if too_big:
            with pytest.raises(InternalError):
                encode_server_message(message)
        else:
            assert len(encode_server_message(message)) <= 1 << 20


# --- handshakes ----------------------------------------------------------------------------


@pytest.mark.parametrize("event", params(upgrades()))
def test_every_captured_path_is_a_live_endpoint(event: Event) -> None:
    path = event.data["request"]["path"]
    # Expected values read off the path independently of the endpoint regex.
    tail = path.rsplit("/ws/", 1)[1]
    version = tail.split("generativelanguage.", 1)[1].split(".", 1)[0]
    method = tail.rsplit(".", 1)[1]
    endpoint = parse_live_path(path)
    assert endpoint is not None
    assert (endpoint.api_version, endpoint.method) == (version, method)


def test_captured_paths_cover_every_version_method_and_prefix() -> None:
    paths = [e.data["request"]["path"] for e in upgrades()]
    endpoints = {parse_live_path(p) for p in paths}
    assert {e.api_version for e in endpoints if e} == {"v1", "v1beta", "v1alpha"}
    assert {e.method for e in endpoints if e} == {
        "BidiGenerateContent",
        "BidiGenerateContentConstrained",
    }
    assert any(p.startswith("//ws/") for p in paths)
    assert any(p.startswith("/proxy/prefix/ws/") for p in paths)


@pytest.mark.parametrize("event", params(http_requests()))
def test_rest_requests_are_not_live_endpoints(event: Event) -> None:
    assert parse_live_path(event.data["request"]["path"]) is None


@pytest.mark.parametrize("event", params(upgrades()))
def test_captured_credentials_are_found(event: Event) -> None:
    request = event.data["request"]
    query: dict[str, str] = request["query"]
    headers = lower_headers(event)
    credentials = extract_credentials(query, headers)
    endpoint = parse_live_path(request["path"])
    assert endpoint is not None
    if endpoint.method == "BidiGenerateContentConstrained":
        # Python: Authorization: Token … and x-goog-api-key; JS: ?access_token=
        assert credentials.token == "auth_tokens/capture-token-xyz"
        assert credentials.api_key is None
    else:
        expected = query.get("key") or headers["x-goog-api-key"]
        assert credentials.api_key == expected and credentials.token is None
