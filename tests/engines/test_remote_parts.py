"""The pieces the remote voice engines share, without a server: WAV in and out, speech
at any rate to 24 kHz chunks, Live voice names to a server's voices, Wyoming addresses,
and the factories' checks. The engines against real servers: tests/conformance/
test_remote_voice.py."""

from __future__ import annotations

import io
import json
import struct
import wave

import numpy as np
import pytest

from openlive.catalog.voices import VOICE_NAMES, live_voice
from openlive.engines.asr.factory import create_speech_recognizer
from openlive.engines.remote.audio import CHUNK_BYTES, SpeechOutput, WavStreamReader, wav_file
from openlive.engines.remote.voices import VoiceMap, openai_voice, spoken_languages
from openlive.engines.remote.wyoming import WyomingAddress, is_wyoming
from openlive.engines.tts.factory import create_speech_synthesizer
from openlive.errors import ConfigError, EngineError


def tone(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    return np.repeat(mono[:, None], channels, axis=1).reshape(-1)


def test_wav_file_is_16khz_mono_16bit_with_the_samples() -> None:
    pcm = tone(16000, 0.5).tobytes()
    with wave.open(io.BytesIO(wav_file(pcm))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.readframes(wav.getnframes()) == pcm


@pytest.mark.parametrize(("rate", "channels", "width"), [(22050, 1, 2), (24000, 1, 2),
                                                          (16000, 2, 2), (48000, 1, 4)])
def test_speech_output_is_24khz_in_chunks_of_at_most_100ms(rate: int, channels: int,
                                                           width: int) -> None:
    samples = tone(rate, 1.0, channels).astype("<i4") * 65536 if width == 4 else tone(
        rate, 1.0, channels)
    data = samples.tobytes()
    output = SpeechOutput()
    chunks: list[bytes] = []
    for i in range(0, len(data), 1001):  # odd pieces: frames split between them
        chunks += output.push(data[i : i + 1001], rate=rate, width=width, channels=channels)
    chunks += output.finish()
    assert all(0 < len(c) <= CHUNK_BYTES and len(c) % 2 == 0 for c in chunks)
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
    assert abs(len(pcm) - 24000) <= 48  # one second, whatever the input rate
    # the tone survives: 440 Hz is where the energy is
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float32)))
    assert abs(np.argmax(spectrum) * 24000 / len(pcm) - 440) < 5
    assert 7000 < np.abs(pcm[2400:-2400]).max() < 8300


def test_speech_output_gives_the_first_audio_at_once() -> None:
    output = SpeechOutput()
    first = output.push(tone(24000, 0.05).tobytes(), rate=24000)
    assert sum(map(len, first)) == 2400  # 50 ms in, 50 ms out: nothing held back


def _wav_header(rate: int, channels: int, bits: int, size: int = 0xFFFFFFFF) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * bits // 8,
                      channels * bits // 8, bits)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\0" + b"data" + struct.pack("<I", size))


def test_a_streamed_wav_is_read_byte_by_byte() -> None:
    samples = tone(22050, 0.1).tobytes()
    reader = WavStreamReader()
    got = b"".join(reader.feed(bytes([b])) for b in _wav_header(22050, 1, 16) + samples)
    assert got == samples and (reader.rate, reader.width, reader.channels) == (22050, 2, 1)


def test_audio_that_is_not_wav_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="not WAV"):
        WavStreamReader().feed(b"ID3\x04" + bytes(20))


def test_voice_map_pairs_a_default_and_the_fallback() -> None:
    voices = VoiceMap(["Puck=onyx", "kore = nova", "alloy"], fallback=openai_voice)
    assert voices.remote("Puck") == "onyx" and voices.remote("Kore") == "nova"
    assert voices.remote("Charon") == "alloy" and voices.remote(None) == "onyx"
    assert VoiceMap([]).remote("Puck") is None  # Wyoming: the server's default voice
    assert VoiceMap([], fallback=openai_voice).remote("Charon") == openai_voice("Charon")
    with pytest.raises(ConfigError, match="not a Live voice"):
        VoiceMap(["Bob=onyx"])
    with pytest.raises(ConfigError, match="two default voices"):
        VoiceMap(["alloy", "nova"])
    with pytest.raises(ConfigError, match="NAME=VOICE"):
        VoiceMap(["Puck="])


def test_openai_voices_follow_the_live_voices_gender_and_differ_between_neighbours() -> None:
    female = {"nova", "shimmer", "coral", "sage"}
    for name in VOICE_NAMES:
        assert (openai_voice(name) in female) == (live_voice(name).gender == "female")
    assert len({openai_voice(name) for name in VOICE_NAMES}) == 8


def test_spoken_languages() -> None:
    assert spoken_languages(["en-us", "es-ES"]) == {"en-US", "es-ES"}
    assert "ja-JP" in spoken_languages([])
    with pytest.raises(ConfigError, match="not a Live languageCode"):
        spoken_languages(["xx-YY"])


def test_wyoming_addresses() -> None:
    assert WyomingAddress.parse("wyoming://10.0.0.5:10300") == WyomingAddress("10.0.0.5", 10300)
    assert str(WyomingAddress.parse("wyoming://[::1]:10200")) == "wyoming://[::1]:10200"
    assert is_wyoming("wyoming://h:1") and not is_wyoming("whisper")
    for bad in ("wyoming://host", "tcp://h:1", "wyoming://:10300", "wyoming://h:port"):
        with pytest.raises(ConfigError, match="wyoming://HOST:PORT"):
            WyomingAddress.parse(bad)


def test_factories_make_remote_engines_and_check_their_options() -> None:
    asr = create_speech_recognizer("openai", url="http://127.0.0.1:1/v1", model="m")
    assert type(asr).__name__ == "OpenAIRecognizer"
    assert type(create_speech_recognizer("wyoming://127.0.0.1:1")).__name__ == "WyomingRecognizer"
    tts = create_speech_synthesizer("openai", url="http://127.0.0.1:1", voice=("Puck=onyx",))
    assert type(tts).__name__ == "OpenAISynthesizer" and "Kore" in tts.voices()
    wyoming = create_speech_synthesizer("wyoming://127.0.0.1:1", languages=("en-US",))
    assert wyoming.languages() == {"en-US"}
    with pytest.raises(ConfigError, match="needs url"):
        create_speech_recognizer("openai")
    with pytest.raises(ConfigError, match="unknown option"):
        create_speech_synthesizer("wyoming://127.0.0.1:1", api_key="x")
    with pytest.raises(ConfigError, match="pcm or wav"):
        create_speech_synthesizer("openai", url="http://x", response_format="mp3")
    with pytest.raises(ConfigError, match="wyoming://HOST:PORT"):
        create_speech_recognizer("wyoming://nohost")


async def test_nobody_listening_is_a_retryable_error_naming_the_server() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for asr in (create_speech_recognizer(f"wyoming://127.0.0.1:{port}"),
                create_speech_recognizer("openai", url=f"http://127.0.0.1:{port}")):
        with pytest.raises(EngineError, match=f"cannot reach .*127.0.0.1:{port}") as failed:
            await asr.transcribe(bytes(3200))
        assert failed.value.retryable
        await asr.aclose()


# -- the OpenAI kind's wire details a real server here cannot show (httpx.MockTransport) ----


async def test_a_server_refusing_pcm_is_asked_for_wav_from_then_on() -> None:
    import httpx

    asked: list[str] = []
    speech = tone(22050, 0.2).tobytes()

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        asked.append(body["response_format"])
        assert body["voice"] == "onyx" and body["model"] == "tts-1"
        assert request.headers["authorization"] == "Bearer sk-test"
        if body["response_format"] == "pcm":
            return httpx.Response(400, json={"error": "response_format pcm is not supported"})
        return httpx.Response(200, content=_wav_header(22050, 1, 16, len(speech)) + speech)

    from openlive.engines.tts.openai_audio import OpenAISynthesizer

    tts = OpenAISynthesizer("http://tts.test", api_key="sk-test",
                            transport=httpx.MockTransport(answer))
    for _ in range(2):
        pcm = b"".join([chunk async for chunk in tts.synthesize("Hi.", voice="Puck")])
        assert abs(len(pcm) // 2 - 4800) <= 48  # 0.2 s at 24 kHz
    assert asked == ["pcm", "wav", "wav"]
    await tts.aclose()


async def test_openai_transcription_sends_the_language_and_prompt_and_reads_verbose_json() -> None:
    import httpx

    sent: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/audio/transcriptions"
        sent.append(request.read())
        return httpx.Response(200, json={"text": " Hola. ", "language": "spanish",
                                         "duration": 0.1, "segments": []})

    from openlive.engines.asr.openai_audio import OpenAIRecognizer

    asr = OpenAIRecognizer("http://asr.test/v1", model="whisper-large",
                           transport=httpx.MockTransport(answer))
    transcript = await asr.transcribe(bytes(3200), languages=("es-ES",), prompt="Buenos días")
    assert transcript.text == "Hola." and transcript.language == "es"
    form = sent[0]
    for field, value in (("model", b"whisper-large"), ("language", b"es"),
                         ("prompt", "Buenos días".encode()),
                         ("response_format", b"verbose_json")):
        assert f'name="{field}"\r\n\r\n'.encode() + value in form
    assert b'filename="speech.wav"' in form and b"RIFF" in form
    await asr.aclose()


async def test_openai_transcription_asks_for_word_timings_only_when_wanted() -> None:
    import httpx

    from openlive.audio.words import TimedWord

    sent: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.read())
        return httpx.Response(200, json={
            "text": " Hello there. ", "language": "en", "duration": 1.0,
            "words": [{"word": " Hello", "start": 0.12, "end": 0.48},
                      {"word": "there.", "start": 0.5, "end": 1.3},  # past the audio
                      {"word": "bad"}]})  # no times: dropped

    from openlive.engines.asr.openai_audio import OpenAIRecognizer

    # configured for plain json: the words need the verbose answer, asked for this once
    asr = OpenAIRecognizer("http://asr.test/v1", response_format="json",
                           transport=httpx.MockTransport(answer))
    timed = await asr.transcribe(bytes(32_000), language="en-US", words=True)
    plain = await asr.transcribe(bytes(32_000), language="en-US")
    assert timed.words == (TimedWord("Hello", 0.12, 0.48), TimedWord("there.", 0.5, 1.0))
    assert plain.words == () and plain.text == timed.text == "Hello there."
    granularity = b'name="timestamp_granularities[]"\r\n\r\nword'
    assert granularity in sent[0] and b'name="response_format"\r\n\r\nverbose_json' in sent[0]
    assert granularity not in sent[1] and b'name="response_format"\r\n\r\njson' in sent[1]
    await asr.aclose()
