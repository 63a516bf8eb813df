"""Voice activity detection: speech probability per fixed-size frame of 16 kHz audio.

The engine only scores frames; what counts as the start or end of a turn (sensitivity,
prefix padding, silence duration) is decided by the session from these scores, so the
client's knobs are honoured in one pure place.
"""

from __future__ import annotations

from typing import Protocol

SAMPLE_RATE = 16_000


class VoiceActivityDetector(Protocol):
    """A stateful scorer for ONE audio stream (create one per session)."""

    @property
    def frame_samples(self) -> int:
        """Samples per frame the model takes (Silero: 512 at 16 kHz = 32 ms)."""
        ...

    def score(self, frame: bytes) -> float:
        """Speech probability 0..1 of one frame of 16-bit mono PCM at 16 kHz.

        Cheap (well under a millisecond) and safe to call on the event loop.
        """
        ...

    def reset(self) -> None:
        """Forget the stream's state (e.g. after a long gap)."""
        ...
