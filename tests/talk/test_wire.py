"""openlive talk's wire and audio helpers: what it sends passes the server's own codec,
what the server sends reads back, WAV files of any shape come out as 16 kHz mono."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from openlive.protocol.client import ClientContent, RealtimeInput, Setup
from openlive.protocol.codec import decode_client_message, encode_server_message
from openlive.protocol.server import ServerContent, ServerMessage, SetupComplete, Transcription
from openlive.protocol.types import Blob, Content, Part
from openlive.talk import audio, wire
from openlive.talk.wire import SessionOptions, TalkError


def test_the_endpoint_comes_from_the_sdk_variables() -> None:
    target = wire.target_from_env({"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:8080/",
                                   "GEMINI_API_KEY": "k1"})
    assert target.url == ("ws://127.0.0.1:8080/ws/google.ai.generativelanguage.v1beta."
                          "GenerativeService.BidiGenerateContent")
    assert target.headers == {"x-goog-api-key": "k1"}
    google = wire.target_from_env({"GOOGLE_API_KEY": "k2"}, api_version="v1alpha")
    assert google.url.startswith("wss://generativelanguage.googleapis.com/ws/"
                                 "google.ai.generativelanguage.v1alpha.")


def test_an_ephemeral_token_goes_to_the_constrained_method_and_is_not_shown() -> None:
    target = wire.target_from_env({"GOOGLE_GEMINI_BASE_URL": "https://live.example",
                                   "GEMINI_API_KEY": "auth_tokens/abc"})
    assert target.url.endswith("v1alpha.GenerativeService.BidiGenerateContentConstrained"
                               "?access_token=auth_tokens/abc")
    assert target.headers == {}
    assert "abc" not in target.redacted()


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(TalkError, match="GOOGLE_GEMINI_BASE_URL"):
        wire.target_from_env({"GOOGLE_GEMINI_BASE_URL": "ftp://x"})


def test_what_talk_sends_is_what_the_server_accepts() -> None:
    options = SessionOptions(model="gemini-live-2.5-flash-preview", voice="Kore",
                             language="de-DE", system="Be brief.")
    setup = decode_client_message(wire.setup_frame(options))
    assert isinstance(setup, Setup)
    assert setup.model == "models/gemini-live-2.5-flash-preview"
    assert setup.generation_config is not None
    assert setup.generation_config.response_modalities == ["AUDIO"]
    speech = setup.generation_config.speech_config
    assert speech is not None and speech.language_code == "de-DE"
    assert speech.voice_config and speech.voice_config.prebuilt_voice_config
    assert speech.voice_config.prebuilt_voice_config.voice_name == "Kore"
    assert setup.system_instruction is not None and setup.system_instruction.text() == "Be brief."
    assert setup.output_audio_transcription is not None

    text_setup = decode_client_message(wire.setup_frame(SessionOptions("m", modality="TEXT")))
    assert isinstance(text_setup, Setup) and text_setup.output_audio_transcription is None

    chunk = decode_client_message(wire.audio_frame(b"\x01\x00\x02\x00"))
    assert isinstance(chunk, RealtimeInput) and chunk.audio is not None
    assert (chunk.audio.data, chunk.audio.mime_type) == (b"\x01\x00\x02\x00",
                                                         "audio/pcm;rate=16000")
    turn = decode_client_message(wire.text_turn_frame("hi"))
    assert isinstance(turn, ClientContent) and turn.turn_complete and turn.turns[0].text() == "hi"


def test_what_the_server_sends_reads_back() -> None:
    def frame(message: ServerMessage) -> bytes:
        return encode_server_message(message)

    opened = wire.read_server_frame(frame(ServerMessage(
        setup_complete=SetupComplete(session_id="s1"))))
    assert opened.setup_complete and opened.session_id == "s1"
    pcm = np.arange(100, dtype="<i2").tobytes()
    parts = [Part(inline_data=Blob(mime_type="audio/pcm;rate=24000", data=pcm)),
             Part(text="thinking", thought=True), Part(text="Paris.")]
    content = ServerContent(model_turn=Content(role="model", parts=parts),
                            input_transcription=Transcription(text="capital?"),
                            interim_input_transcription=Transcription(text="capi"),
                            output_transcription=Transcription(text="Paris"),
                            interrupted=True, turn_complete=True)
    events = wire.read_server_frame(frame(ServerMessage(server_content=content)))
    assert events.audio == [pcm]
    assert events.text == "Paris."  # thoughts left out
    assert (events.input_transcript, events.interim_transcript, events.output_transcript) == (
        "capital?", "capi", "Paris")
    assert events.interrupted and events.turn_complete
    # a field this version does not know is no reason to stop
    assert wire.read_server_frame(b'{"somethingNew": {}}').turn_complete is False
    with pytest.raises(TalkError):
        wire.read_server_frame(b"not json")


def _write_wav(path: Path, rate: int, width: int, channels: int, seconds: float) -> None:
    frames = int(rate * seconds)
    t = np.arange(frames) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    peak = (1 << (8 * width - 1)) - 1
    values = np.repeat((tone * peak).astype(np.int64)[:, None], channels, axis=1).ravel()
    if width == 3:
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in values)
    elif width == 1:
        raw = (values + 128).astype(np.uint8).tobytes()
    else:
        raw = values.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(raw)


@pytest.mark.parametrize(("rate", "width", "channels"),
                         [(16000, 2, 1), (44100, 2, 2), (48000, 3, 1), (8000, 1, 1),
                          (22050, 4, 2)])
def test_any_wav_is_read_as_16khz_mono(tmp_path: Path, rate: int, width: int,
                                       channels: int) -> None:
    path = tmp_path / "in.wav"
    _write_wav(path, rate, width, channels, 0.5)
    pcm = audio.read_wav(path)
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    assert abs(len(samples) - 8000) <= 80  # half a second at 16 kHz
    middle = samples[1000:7000]
    assert 0.3 < float(np.sqrt(np.mean(middle * middle))) < 0.4  # the tone's 0.35 RMS
    assert audio.is_loud(pcm[2000:2640]) and not audio.is_loud(b"\0" * 640)


def test_a_file_that_is_not_wav_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF nonsense")
    with pytest.raises(TalkError, match="x.wav"):
        audio.read_wav(path)


def test_without_a_sound_library_talk_says_so_and_suggests_files(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(TalkError, match="no sound device.*--input FILE.wav"):
        audio.Speaker()
