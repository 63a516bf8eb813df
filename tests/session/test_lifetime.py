"""MediaLimit: how long a session with audio or video may run without compression."""

from __future__ import annotations

from openlive.session.actions import WakeAt
from openlive.session.lifetime import ConnectionLimits, MediaLimit

LIMITS = ConnectionLimits(audio_session=900.0, video_session=120.0)


def test_audio_starts_the_clock_once() -> None:
    limit = MediaLimit(LIMITS)
    assert limit.start(10.0, video=False) == [WakeAt(910.0, key="session-limit")]
    assert limit.start(20.0, video=False) == []
    assert limit.reached(909.0) is None
    assert limit.reached(910.0) == (
        "The session reached its 15-minute limit for audio without "
        "contextWindowCompression; enable it for longer sessions.")


def test_video_brings_the_deadline_forward_but_never_back() -> None:
    limit = MediaLimit(LIMITS)
    limit.start(0.0, video=False)
    assert limit.start(100.0, video=True) == [WakeAt(220.0, key="session-limit")]
    assert "2-minute limit for audio and video" in (limit.reached(220.0) or "")
    late = MediaLimit(LIMITS)
    late.start(0.0, video=False)
    assert late.start(850.0, video=True) == []  # the audio deadline comes first


def test_no_limit_configured() -> None:
    limit = MediaLimit(ConnectionLimits(audio_session=None, video_session=None))
    assert limit.start(0.0, video=True) == [] and limit.reached(1e9) is None
