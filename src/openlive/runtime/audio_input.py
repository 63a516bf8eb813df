"""One session's incoming audio: resampled to 16 kHz, kept for recognition, scored by the VAD.

Times are seconds of 16 kHz audio since the stream began. Audio older than what a turn
can still need is dropped, so a session that listens for an hour holds seconds, not
an hour, of PCM.
"""

from __future__ import annotations

from openlive.audio.resample import input_resampler
from openlive.engines.vad.silero import FRAME_SECONDS, FrameSplitter, SharedSileroModel

BYTES_PER_SECOND = 16_000 * 2
KEEP_SECONDS = 60.0  # the longest turn audio kept for the recognizer


class AudioInput:
    """Resampler, audio store and VAD stream of one session."""

    def __init__(self, vad: SharedSileroModel) -> None:
        self._resampler = input_resampler()
        self._splitter = FrameSplitter()
        self._vad = vad.stream()
        self._buffer = bytearray()
        self._buffer_start = 0  # byte offset (in the whole stream) of _buffer[0]

    def push(self, pcm: bytes, rate: int) -> list[tuple[float, float]]:
        """Take a chunk at ``rate`` Hz; return (frame end time, speech probability) per frame."""
        audio = self._resampler.process(pcm, rate)
        self._buffer += audio
        before = self._splitter.frames_emitted
        scores = []
        for i, frame in enumerate(self._splitter.push(audio)):
            scores.append(((before + i + 1) * FRAME_SECONDS, self._vad.score(frame)))
        self._trim(KEEP_SECONDS)
        return scores

    @property
    def seconds(self) -> float:
        """Audio time of the end of what has been received (after resampling)."""
        return (self._buffer_start + len(self._buffer)) / BYTES_PER_SECOND

    def cut(self, start: float, end: float) -> bytes:
        """The kept audio between two stream times (clipped to what is kept)."""
        first = max(0, _offset(start) - self._buffer_start)
        last = max(first, _offset(end) - self._buffer_start)
        return bytes(self._buffer[first:last])

    def _trim(self, keep: float) -> None:
        excess = len(self._buffer) - _offset(keep)
        if excess > 0:
            del self._buffer[:excess]
            self._buffer_start += excess


def _offset(seconds: float) -> int:
    """Byte offset of a time, on a sample boundary."""
    return int(seconds * 16_000) * 2
