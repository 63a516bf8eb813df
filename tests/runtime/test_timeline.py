"""The echo guard's timeline: the history of a stream, playback of what was sent, and
where the microphone's samples lie."""

from __future__ import annotations

import numpy as np

from openlive.audio import echo_delay
from openlive.runtime.timeline import (
    DRIFT,
    RATE,
    REBASE_SECONDS,
    Capture,
    Playback,
    SampleHistory,
)

CHUNK = 4800  # bytes: 100 ms at 24 kHz


def ramp(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32)


def test_the_timeline_runs_at_the_rate_the_delay_is_searched_at() -> None:
    assert RATE == echo_delay.RATE


def test_history_reads_what_it_keeps_and_zeros_elsewhere() -> None:
    history = SampleHistory(keep=100, most=1000)
    history.append(50, ramp(50, 20))
    assert np.array_equal(history.read(40, 40)[:10], np.zeros(10))
    assert np.array_equal(history.read(40, 40)[10:30], ramp(50, 20))
    history.append(75, ramp(75, 5))  # a gap of five: silence
    assert np.array_equal(history.read(70, 10), np.r_[np.zeros(5), ramp(75, 5)])
    history.truncate(60)
    assert history.end == 60 and not history.read(60, 20).any()


def test_history_keeps_the_last_keep_or_what_is_needed_but_never_more_than_most() -> None:
    history = SampleHistory(keep=100, most=300)
    for at in range(0, 1000, 50):
        history.append(at, ramp(at, 50))
    assert history.start <= 900 and np.array_equal(history.read(900, 100), ramp(900, 100))
    history.needed = 950  # the owner still reads from here on
    for at in range(1000, 1200, 50):
        history.append(at, ramp(at, 50))
    assert history.start <= 950 and np.array_equal(history.read(950, 250), ramp(950, 250))
    for at in range(1200, 2000, 50):
        history.append(at, ramp(at, 50))
    assert 2000 - 300 <= history.start <= 2000 - 100  # the last ``most`` at the most


def test_history_starts_afresh_far_from_what_it_kept() -> None:
    history = SampleHistory(keep=100, most=1000)
    history.append(0, ramp(0, 50))
    history.append(500, ramp(500, 50))
    assert history.start == 500 and not history.read(0, 50).any()


def test_chunks_sent_ahead_play_one_after_another() -> None:
    playback = Playback()
    for _ in range(5):  # sent at once: the client buffers them, then plays them in turn
        playback.sent(b"\1\0" * (CHUNK // 2), 1.0)
    assert playback.cursor == RATE + 5 * RATE // 10
    assert playback.plays(RATE + 4000, 0, 0) and not playback.plays(RATE - 1, 0, 0)
    playback.finish()  # played out: the resampler's last samples are written
    assert playback.reference.end >= playback.cursor - 2


def test_a_chunk_sent_after_the_buffer_ran_dry_plays_as_it_arrives() -> None:
    playback = Playback()
    playback.sent(b"\1\0" * (CHUNK // 2), 1.0)
    playback.sent(b"\1\0" * (CHUNK // 2), 3.0)
    assert playback.cursor == 3 * RATE + RATE // 10
    assert not playback.plays(2 * RATE, 0, 0)
    assert playback.plays(2 * RATE, 0, RATE)  # within a second of the first stretch's end


def test_what_the_client_drops_is_taken_off_again() -> None:
    playback = Playback()
    for _ in range(10):
        playback.sent(b"\1\0" * (CHUNK // 2), 1.0)
    playback.flushed(1.5)
    assert playback.cursor == round(1.5 * RATE)
    assert playback.reference.end <= round(1.5 * RATE)
    assert not playback.plays(round(1.6 * RATE), 0, 0)
    playback.flushed(1.8)  # after the audio ended: nothing changes
    assert playback.cursor == round(1.5 * RATE)


def test_capture_places_input_by_its_earliest_arrival() -> None:
    capture = Capture()
    capture.arrived(round(2.0 * RATE), 320, 2.0)  # 20 ms that ended arriving at 2.0 s
    capture.append(np.zeros(320, dtype=np.float32))
    assert capture.timeline(0) == round(2.0 * RATE) - 320
    capture.arrived(round(2.03 * RATE), 320, 2.03)  # 10 ms late: the stream is not later
    capture.append(np.zeros(320, dtype=np.float32))
    assert capture.timeline(0) == round(2.0 * RATE) - 320 + round(DRIFT * RATE * 0.03)
    capture.arrived(round(2.035 * RATE), 320, 2.035)  # earlier than thought: it is earlier
    capture.append(np.zeros(320, dtype=np.float32))
    assert capture.timeline(960) == round(2.035 * RATE)


def test_capture_rebases_after_a_pause() -> None:
    capture = Capture()
    capture.arrived(RATE, 320, 1.0)
    capture.append(np.zeros(320, dtype=np.float32))
    late = round((1.02 + REBASE_SECONDS + 0.1) * RATE)
    capture.arrived(late, 320, late / RATE)  # the stream paused
    capture.append(np.ones(320, dtype=np.float32))
    assert capture.timeline(640) == late
    assert capture.count == 640 and np.array_equal(capture.history.read(320, 320), np.ones(320))


def test_skipped_input_counts_but_is_not_kept() -> None:
    capture = Capture()
    capture.skipped(320)  # nothing was played: no echo possible in it
    capture.arrived(RATE, 320, 1.0)
    capture.append(np.ones(320, dtype=np.float32))
    assert capture.count == 640 and capture.timeline(640) == RATE
    assert not capture.history.read(0, 320).any()
