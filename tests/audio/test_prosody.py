"""Prosody on synthetic signals whose pitch, level and pace are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from openlive.audio.prosody import RATE, measure_prosody, yin_pitch

SECONDS = 2.0


def pcm(signal: np.ndarray) -> bytes:
    return (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()


def voiced(f0: float | np.ndarray, amplitude: float = 0.1, seconds: float = SECONDS
           ) -> np.ndarray:
    """A buzz with five harmonics at ``f0`` (a constant, or one value per sample)."""
    n = int(RATE * seconds)
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f) / RATE
    return amplitude * sum(np.sin(k * phase) / k for k in range(1, 6)) / 1.5


@pytest.mark.parametrize("f0", [70.0, 110.0, 180.0, 260.0, 440.0])
def test_the_pitch_of_a_steady_voice_is_found_within_half_a_percent(f0: float) -> None:
    prosody = measure_prosody(pcm(voiced(f0)))
    assert prosody is not None and prosody.pitch_hz is not None
    assert prosody.pitch_hz == pytest.approx(f0, rel=0.005)
    assert prosody.pitch_range is not None and prosody.pitch_range < 0.1


def test_a_glide_over_an_octave_has_the_range_between_its_percentiles() -> None:
    glide = np.linspace(100.0, 200.0, int(RATE * SECONDS))
    prosody = measure_prosody(pcm(voiced(glide)))
    assert prosody is not None and prosody.pitch_hz == pytest.approx(150.0, rel=0.03)
    # the 10th and 90th percentiles of a linear glide: 110 and 190 Hz, 9.5 semitones
    assert prosody.pitch_range == pytest.approx(12 * np.log2(190 / 110), abs=0.5)


def test_the_level_follows_the_amplitude_in_decibels() -> None:
    quiet, loud = (measure_prosody(pcm(voiced(150.0, a))) for a in (0.01, 0.2))
    assert quiet is not None and loud is not None
    assert loud.level_db - quiet.level_db == pytest.approx(20 * np.log10(20), abs=0.1)
    assert quiet.pitch_hz == pytest.approx(150.0, rel=0.005)  # pitch does not care


def test_pauses_count_neither_in_the_level_nor_in_the_seconds_of_speech() -> None:
    speech = voiced(150.0, seconds=1.0)
    with_pauses = np.concatenate([np.zeros(RATE), speech, np.zeros(RATE // 2), speech])
    alone, paused = measure_prosody(pcm(speech)), measure_prosody(pcm(with_pauses))
    assert alone is not None and paused is not None
    assert paused.seconds == pytest.approx(2.0, abs=0.1)  # frames straddling an edge count
    assert paused.level_db == pytest.approx(alone.level_db, abs=0.2)


@pytest.mark.parametrize("syllables_per_second", [3.0, 5.0, 7.0])
def test_the_pace_counts_one_nucleus_per_loudness_bump(syllables_per_second: float) -> None:
    t = np.arange(int(RATE * 3.0)) / RATE
    bumps = np.abs(np.sin(np.pi * syllables_per_second * t)) ** 0.5  # never quite silent
    prosody = measure_prosody(pcm(voiced(150.0, seconds=3.0) * bumps * 2))
    assert prosody is not None and prosody.syllable_rate is not None
    assert prosody.syllable_rate == pytest.approx(syllables_per_second, rel=0.1)


def test_a_steady_tone_has_no_syllables_and_noise_has_no_pitch() -> None:
    steady = measure_prosody(pcm(voiced(220.0)))
    assert steady is not None and steady.syllable_rate == 0.0
    noise = np.random.default_rng(1).normal(0, 0.05, int(RATE * SECONDS))
    hiss = measure_prosody(pcm(noise))
    assert hiss is not None and hiss.pitch_hz is None and hiss.syllable_rate is None


def test_too_little_speech_is_not_judged() -> None:
    assert measure_prosody(b"") is None
    assert measure_prosody(pcm(voiced(150.0, seconds=0.2))) is None
    assert measure_prosody(bytes(RATE * 4)) is None  # digital silence


def test_other_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="16000"):
        measure_prosody(pcm(voiced(150.0)), rate=24_000)


def test_yin_marks_unvoiced_frames() -> None:
    frames = np.stack([voiced(200.0, seconds=0.04)[:640],
                       np.random.default_rng(2).normal(0, 0.1, 640)])
    pitch = yin_pitch(frames)
    assert pitch[0] == pytest.approx(200.0, rel=0.005) and np.isnan(pitch[1])
    assert len(yin_pitch(np.zeros((0, 640)))) == 0
