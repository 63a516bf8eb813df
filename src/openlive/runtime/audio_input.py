"""One session's incoming audio: resampled to 16 kHz, kept for recognition, scored by the VAD.

Times are seconds of 16 kHz audio since the stream began. Audio older than what a turn
can still need is dropped, so a session that listens for an hour holds seconds, not
an hour, of PCM.
"""

from __future__ import annotations

from openlive.audio.resample import input_resampler
from openlive.engines.vad.silero import FRAME_SECONDS, FrameSplitter, SharedSileroModel
from openlive.runtime.echo import EchoGuard

BYTES_PER_SECOND = 16_000 * 2
KEEP_SECONDS = 60.0  # the longest turn audio kept for the recognizer
ECHO_CHECK_FROM = 0.3  # speech probability from which a frame is checked for echo


class AudioInput:
    """Resampler, audio store and VAD stream of one session."""

    def __init__(self, vad: SharedSileroModel) -> None:
        self._resampler = input_resampler()
        self._splitter = FrameSplitter()
        self._vad = vad.stream()
        self._buffer = bytearray()
        self._buffer_start = 0  # byte offset (in the whole stream) of _buffer[0]
        self.echo = EchoGuard()

    def push(self, pcm: bytes, rate: int, now: float) -> list[tuple[float, float, float]]:
        """Take a chunk at ``rate`` Hz that arrived at wall time ``now``; return
        (frame end time, speech probability, echo score) per frame."""
        audio = self._resampler.process(pcm, rate)
        self._buffer += audio
        before = self._splitter.frames_emitted
        frames = self._splitter.push(audio)
        scores = []
        for i, frame in enumerate(frames):
            probability = self._vad.score(frame)
            echo = 0.0
            if probability >= ECHO_CHECK_FROM:  # only speech can be echo of speech
                echo = self.echo.heard(frame, now - (len(frames) - 1 - i) * FRAME_SECONDS)
            else:
                self.echo.heard(frame, now)
            scores.append(((before + i + 1) * FRAME_SECONDS, probability, echo))
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
