"""Finding the echo's delay: the fit, the correlation, and the judgement over searches."""

from __future__ import annotations

import numpy as np
import pytest

from openlive.audio.echo_delay import (
    AGREE_COUNT,
    CHECK_EVERY,
    COARSE,
    CONFIRM_CHECKS,
    FALSE_LOCK_CHECKS,
    LOCK_FIT,
    SEARCH_EVERY,
    SPAN,
    UNLIKELY_SEARCHES,
    WINDOW,
    EchoDelay,
    decimate,
    explained,
    likely_delays,
)
from openlive.audio.pcm import FloatArray


def noise(n: int, seed: int, level: float = 3000.0) -> FloatArray:
    return np.random.default_rng(seed).normal(0, level, n).astype(np.float32)


def echo_of(played: FloatArray, delay: int, gain: float = 0.3) -> FloatArray:
    """The input window at the end of ``played`` (SPAN + WINDOW long), ``delay`` late."""
    return (played[SPAN - delay:SPAN - delay + WINDOW] * gain).astype(np.float32)


def test_decimate_averages_whole_groups() -> None:
    x = np.arange(1, 8, dtype=np.float32)
    assert np.array_equal(decimate(x, 2), np.array([1.5, 3.5, 5.5], dtype=np.float32))


def test_a_filtered_copy_is_explained_and_another_signal_is_not() -> None:
    ref = noise(2000, 0)
    lag = 300
    copy = np.convolve(ref, [1.0, 0.5, -0.2])[:ref.size]  # a short echo path
    tail = copy[ref.size - lag - 400:ref.size - lag].astype(np.float64)
    assert explained(tail, float(tail @ tail), ref, lag) > 0.99
    other = noise(400, 1).astype(np.float64)
    assert explained(other, float(other @ other), ref, lag) < 0.1
    assert explained(tail, float(tail @ tail), ref, ref.size) == 0.0  # out of reach


@pytest.mark.parametrize("delay", [COARSE * 20, COARSE * 1000, SPAN - COARSE * 10])
def test_the_correlation_points_at_the_delay(delay: int) -> None:
    played = noise(SPAN + WINDOW, 2)
    mic = decimate(echo_of(played, delay), COARSE)
    assert delay in likely_delays(mic, decimate(played, COARSE))


def test_one_good_fit_locks_the_delay() -> None:
    played = noise(SPAN + WINDOW, 3)
    echo = EchoDelay()
    fit, moved = echo.search(echo_of(played, 4000), lambda: played)
    assert fit >= LOCK_FIT and not moved
    assert echo.delay == 4000 and not echo.confirmed


def test_quiet_input_is_no_evidence_and_reads_no_reference() -> None:
    def played() -> FloatArray:
        raise AssertionError("the reference is not needed")

    echo = EchoDelay()
    assert echo.search(noise(WINDOW, 4, level=10.0), played) == (0.0, False)
    assert echo.delay is None


def test_nothing_played_is_no_evidence() -> None:
    echo = EchoDelay()
    assert echo.search(noise(WINDOW, 5), lambda: np.zeros(SPAN + WINDOW, np.float32)) == (
        0.0, False)


def test_another_voice_locks_nothing_and_is_searched_less_often() -> None:
    echo = EchoDelay()
    played = noise(SPAN + WINDOW, 6)
    for seed in range(UNLIKELY_SEARCHES):
        assert echo.every(cancelling=False) == SEARCH_EVERY
        fit, _ = echo.search(noise(WINDOW, 100 + seed), lambda: played)
        assert fit < 0.3
    assert echo.delay is None
    assert echo.every(cancelling=False) == 2 * SEARCH_EVERY


def test_a_confirmed_delay_is_checked_rarely_while_cancelling() -> None:
    echo = EchoDelay()
    played = noise(SPAN + WINDOW, 7)
    for _ in range(1 + CONFIRM_CHECKS):
        echo.search(echo_of(played, 2400), lambda: played)
    assert echo.confirmed
    assert echo.every(cancelling=True) == CHECK_EVERY
    assert echo.every(cancelling=False) == SEARCH_EVERY


def test_an_unconfirmed_delay_that_misses_is_dropped() -> None:
    echo = EchoDelay()
    played = noise(SPAN + WINDOW, 8)
    echo.search(echo_of(played, 2400), lambda: played)
    other = noise(SPAN + WINDOW, 9)  # loud input, sound played, no echo of it
    results = [echo.search(echo_of(played, 2400), lambda: other)
               for _ in range(FALSE_LOCK_CHECKS)]
    assert [moved for _, moved in results] == [False] * (FALSE_LOCK_CHECKS - 1) + [True]
    assert echo.delay is None


def test_a_new_delay_replaces_the_old_one() -> None:
    echo = EchoDelay()
    played = noise(SPAN + WINDOW, 10)
    echo.search(echo_of(played, 2400), lambda: played)
    fit, moved = echo.search(echo_of(played, 8000), lambda: played)
    assert fit >= LOCK_FIT and moved  # a canceller at the old delay starts again
    assert echo.delay == 8000


def test_fair_fits_at_one_delay_agree_on_it() -> None:
    echo = EchoDelay()
    played = noise(SPAN + WINDOW, 11)
    for i in range(AGREE_COUNT):
        assert echo.delay is None
        heard = echo_of(played, 3200) + noise(WINDOW, 200 + i, level=500.0)  # fit ~0.76
        fit, _ = echo.search(heard, lambda: played)
        assert 0.7 <= fit < LOCK_FIT
    assert echo.delay == 3200
