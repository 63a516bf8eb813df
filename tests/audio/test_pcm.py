"""Audio MIME types and 16-bit PCM conversions."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openlive.audio.pcm import (
    PcmFormat,
    check_pcm_bytes,
    float32_to_pcm16,
    parse_audio_mime,
    pcm16_to_float32,
)
from openlive.errors import MAX_REASON_BYTES, CloseCode, InvalidArgument


@pytest.mark.parametrize(
    ("mime", "rate"),
    [
        ("audio/pcm", 16_000),
        ("audio/pcm;rate=16000", 16_000),  # what the SDKs send
        ("audio/pcm;rate=24000", 24_000),
        ("audio/L16;rate=8000;channels=1", 8_000),
        ("AUDIO/PCM; RATE = 44100", 44_100),
        (" audio/pcm ; rate=48000 ; ", 48_000),
        ("audio/pcm;channels=1;rate=22050", 22_050),
        ('audio/pcm;rate="32000"', 32_000),
        ("audio/l16", 16_000),
        ("audio/pcm;rate=16000;encoding=signed-integer", 16_000),
    ],
)
def test_accepted_mime_types(mime: str, rate: int) -> None:
    assert parse_audio_mime(mime) == PcmFormat(rate)


def test_format_helpers() -> None:
    fmt = parse_audio_mime("audio/pcm;rate=24000")
    assert fmt.mime_type == "audio/pcm;rate=24000"
    assert fmt.bytes_per_second == 48_000
    assert fmt.duration_s(4800) == pytest.approx(0.1)
    assert fmt.byte_count(0.1) == 4800


@pytest.mark.parametrize(
    ("mime", "says"),
    [
        ("audio/wav", "audio/wav is not supported: send raw 16-bit PCM as audio/pcm;rate=16000"),
        ("audio/mpeg", "not supported"),
        ("audio/ogg;codecs=opus", "not supported"),
        ("image/jpeg", "not supported"),
        ("audio/pcm;rate=16000;channels=2", "only mono"),
        ("audio/pcm;bits=24", "only 16-bit"),
        ("audio/pcm;rate=abc", "whole number"),
        ("audio/pcm;rate=16000.5", "whole number"),
        ("audio/pcm;rate=0", "between"),
        ("audio/pcm;rate=1000000", "between"),
        ("audio/pcm;rate", "malformed"),
        ("", "missing"),
        (None, "missing"),
    ],
)
def test_refused_mime_types_close_1007_with_a_clear_reason(mime: str | None, says: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_audio_mime(mime)
    assert says in caught.value.reason
    assert caught.value.close_code == CloseCode.INVALID_ARGUMENT == 1007
    assert len(caught.value.reason.encode()) <= MAX_REASON_BYTES


def test_a_huge_mime_type_still_gives_a_short_reason() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_audio_mime("audio/" + "x" * 5000)
    assert len(caught.value.reason.encode()) <= MAX_REASON_BYTES
    assert "send raw 16-bit PCM" in caught.value.reason


def test_odd_byte_count_is_refused() -> None:
    check_pcm_bytes(b"\x00\x01")
    with pytest.raises(InvalidArgument) as caught:
        check_pcm_bytes(b"\x00\x01\x02")
    assert caught.value.close_code == 1007
    assert "odd length (3 bytes)" in caught.value.reason
    with pytest.raises(InvalidArgument):
        pcm16_to_float32(b"\x00")


def test_captured_sdk_audio_decodes() -> None:
    # realtime_input.audio from python-genai 3.6.1 (URL-safe base64), spec §4.3
    data = base64.urlsafe_b64decode("AAH-_wAB_v8AAf7_AAH-_w==")
    fmt = parse_audio_mime("audio/pcm;rate=16000")
    samples = pcm16_to_float32(data)
    assert fmt.rate == 16_000 and samples.dtype == np.float32 and samples.size == 8
    assert samples[0] == pytest.approx(256 / 32768)  # little-endian 0x0100


def test_conversions() -> None:
    pcm = np.array([0, 1, -1, 32767, -32768, 16384], dtype="<i2").tobytes()
    samples = pcm16_to_float32(pcm)
    assert samples.flags.writeable
    assert samples.tolist() == pytest.approx([0, 1 / 32768, -1 / 32768, 32767 / 32768, -1, 0.5])
    assert float32_to_pcm16(samples) == pcm
    clipped = np.frombuffer(float32_to_pcm16([1.5, -2.0, 1.0]), dtype="<i2")
    assert clipped.tolist() == [32767, -32768, 32767]


@given(st.binary(max_size=512).filter(lambda b: len(b) % 2 == 0))
def test_pcm_round_trips_exactly(pcm: bytes) -> None:
    assert float32_to_pcm16(pcm16_to_float32(pcm)) == pcm
