"""Streaming resampling: state across chunks, passthrough, flush, rate changes."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from openlive.audio.pcm import float32_to_pcm16, pcm16_to_float32
from openlive.audio.resample import StreamResampler, input_resampler, output_resampler
from openlive.errors import InvalidArgument


def tone(rate: int, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return float32_to_pcm16(0.5 * np.sin(2 * np.pi * hz * t))


def chunks(pcm: bytes, sizes: list[int]) -> list[bytes]:
    """Cut ``pcm`` into chunks of the given sample counts, cycling."""
    out, i, k = [], 0, 0
    while i < len(pcm):
        step = sizes[k % len(sizes)] * 2
        out.append(pcm[i : i + step])
        i, k = i + step, k + 1
    return out


def stream(resampler: StreamResampler, parts: list[bytes], rate: int) -> bytes:
    return b"".join(resampler.process(part, rate) for part in parts) + resampler.flush()


def peak_hz(pcm: bytes, rate: int) -> float:
    samples = pcm16_to_float32(pcm)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


def test_matching_rates_pass_through_untouched() -> None:
    pcm = tone(16_000, 0.1)
    resampler = input_resampler()
    assert resampler.process(pcm, 16_000) == pcm
    assert resampler.flush() == b""


@pytest.mark.parametrize("rate", [8_000, 22_050, 24_000, 44_100, 48_000])
def test_to_16k_keeps_length_and_pitch(rate: int) -> None:
    out = stream(input_resampler(), chunks(tone(rate, 1.0), [rate // 50]), rate)
    assert abs(len(out) // 2 - 16_000) <= 2
    assert peak_hz(out, 16_000) == pytest.approx(440, abs=2)


def test_to_24k_for_synthesized_speech() -> None:
    out = stream(output_resampler(), chunks(tone(22_050, 1.0), [1024]), 22_050)
    assert abs(len(out) // 2 - 24_000) <= 2
    assert peak_hz(out, 24_000) == pytest.approx(440, abs=2)


def roughness(samples: np.ndarray) -> float:
    """Largest second difference away from the edges: a click shows up as a spike."""
    return float(np.abs(np.diff(samples[200:-200], 2)).max())


def test_chunk_boundaries_do_not_click() -> None:
    pcm = tone(48_000, 0.5)
    sizes = [441, 137, 960, 7]
    whole = pcm16_to_float32(stream(input_resampler(), [pcm], 48_000))
    ragged = pcm16_to_float32(stream(input_resampler(), chunks(pcm, sizes), 48_000))
    assert ragged.size == whole.size
    assert np.abs(ragged - whole).max() <= 2 / 32768  # the same signal, up to rounding
    smooth = 0.5 * (2 * np.pi * 440 / 16_000) ** 2  # a 440 Hz sine's largest 2nd difference
    assert roughness(ragged) == pytest.approx(smooth, rel=0.05)
    # a stateless resampler on the same chunks: a glitch at every boundary
    naive = np.concatenate(
        [soxr.resample(pcm16_to_float32(c), 48_000, 16_000) for c in chunks(pcm, sizes)]
    )
    assert roughness(naive) > 10 * smooth


def test_flush_returns_the_tail_held_in_the_filter() -> None:
    resampler = input_resampler(48_000)
    head = resampler.process(tone(48_000, 0.1))
    tail = resampler.flush()
    assert len(head) // 2 < 1600 and tail
    assert abs((len(head) + len(tail)) // 2 - 1600) <= 1


def test_a_new_input_rate_flushes_the_old_stream() -> None:
    resampler = input_resampler()
    first = resampler.process(tone(48_000, 0.5), 48_000)
    second = resampler.process(tone(8_000, 0.5), 8_000) + resampler.flush()
    assert resampler.in_rate == 8_000
    assert abs((len(first) + len(second)) // 2 - 16_000) <= 4


def test_reset_drops_what_the_filter_holds() -> None:
    resampler = input_resampler(48_000)
    resampler.process(tone(48_000, 0.1))
    resampler.reset()
    assert resampler.flush() == b""


def test_odd_byte_count_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        input_resampler(48_000).process(b"\x00\x01\x02")


def test_the_first_chunk_needs_a_rate() -> None:
    with pytest.raises(ValueError):
        output_resampler().process(b"\x00\x00")
