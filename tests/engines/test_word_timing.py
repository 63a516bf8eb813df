"""Word timings: where the pauses are, and words fitted to them (no model needed).

The alignment itself runs on the real model in tests/engines/test_whisper.py
(``TestRealModels``) and through the SDK in tests/conformance/test_word_timings.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from openlive.audio.words import TimedWord
from openlive.engines.asr.word_timing import (
    MIN_PAUSE,
    SAMPLE_RATE,
    fit_to_pauses,
    pauses,
)


def noise(seconds: float, dbfs: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, 10 ** (dbfs / 20), int(seconds * SAMPLE_RATE))).astype(np.float32)


def tone(seconds: float, dbfs: float = -20.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sqrt(2) * 10 ** (dbfs / 20) * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def joined(*parts: tuple[str, float]) -> np.ndarray:
    """("speech" | "quiet" | "zeros", seconds) parts, a quiet microphone under all."""
    audio = np.concatenate([tone(s) if kind == "speech" else np.zeros(int(s * SAMPLE_RATE),
                                                                        np.float32)
                            for kind, s in parts])
    if all(kind != "zeros" for kind, _ in parts):
        audio += noise(len(audio) / SAMPLE_RATE, -70.0)
    return audio


def test_pauses_are_the_quiet_stretches_long_enough() -> None:
    audio = joined(("quiet", 0.5), ("speech", 0.6), ("quiet", 0.1), ("speech", 0.4),
                   ("quiet", 0.3), ("speech", 0.5), ("quiet", 0.2))
    found = pauses(audio)
    # the 0.1 s gap is shorter than a pause: a stop consonant's closure is that long
    assert [(round(a, 2), round(b, 2)) for a, b in found] == [(0.0, 0.5), (1.6, 1.9),
                                                              (2.4, 2.6)]
    assert MIN_PAUSE > 0.1


def test_digital_silence_is_a_pause_and_not_the_noise_floor() -> None:
    # synthesized speech has exact zeros in it; the lead here is a microphone's noise
    audio = np.concatenate([noise(0.4, -70.0), tone(0.5), np.zeros(1600, np.float32),
                            tone(0.5), np.zeros(3200, np.float32)])
    found = [(round(a, 2), round(b, 2)) for a, b in pauses(audio)]
    assert found == [(0.0, 0.4), (1.5, 1.7)]  # 0.1 s of zeros is no pause either


def test_noisy_audio_has_no_pauses_to_tell() -> None:
    audio = np.concatenate([noise(0.5, -30.0), tone(0.5, -22.0), noise(0.5, -30.0, seed=2)])
    assert pauses(audio) == []
    assert pauses(np.zeros(0, np.float32)) == []
    assert pauses(np.zeros(16_000, np.float32)) == []  # nothing audible at all


def test_fitting_moves_words_out_of_the_pauses() -> None:
    # what the alignment gives for "one two three" spoken with pauses between: each
    # word ends where the next begins, a pause goes to the word after it, early
    aligned = (TimedWord("one", 0.0, 0.7), TimedWord("two", 0.7, 1.5),
               TimedWord("three", 1.5, 2.2))
    gaps = [(0.0, 0.5), (1.0, 1.4), (2.1, 2.5)]
    assert fit_to_pauses(aligned, gaps, 2.5) == (
        TimedWord("one", 0.5, 1.0),  # out of the leading silence, on to the next pause
        TimedWord("two", 1.4, 1.5),  # after the pause its span ran over
        TimedWord("three", 1.5, 2.1),  # ends where the trailing silence begins
    )


def test_a_pause_before_the_next_word_ends_the_word_there() -> None:
    aligned = (TimedWord("quick", 0.3, 0.9), TimedWord("brown", 0.9, 1.5))
    assert fit_to_pauses(aligned, [(1.0, 1.2)], 1.6) == (
        TimedWord("quick", 0.3, 1.0), TimedWord("brown", 1.2, 1.6))


def test_a_word_the_alignment_put_in_a_pause_is_said_after_it() -> None:
    aligned = (TimedWord("what", 0.0, 0.25), TimedWord("is", 0.25, 0.6))
    fitted = fit_to_pauses(aligned, [(0.0, 0.3)], 0.9)
    assert fitted[0].start == pytest.approx(0.3) and fitted[1].start >= fitted[0].start
    assert all(w.end >= w.start for w in fitted)


def test_without_pauses_the_alignment_stands() -> None:
    aligned = (TimedWord("one", 0.0, 0.4), TimedWord("two", 0.4, 0.8))
    assert fit_to_pauses(aligned, [], 1.0) == aligned
    # within continuous speech nothing moves; the last word runs to the audio's end
    assert fit_to_pauses(aligned, [(0.0, 0.0)], 1.0) == (aligned[0],
                                                         TimedWord("two", 0.4, 1.0))
