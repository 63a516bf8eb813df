"""One session's incoming audio: resampled to 16 kHz, kept for recognition, scored by the VAD.

Times are seconds of 16 kHz audio since the stream began. Audio older than what a turn
can still need is dropped, so a session that listens for an hour holds seconds, not
an hour, of PCM.

While the model's voice may come back (a speakerphone), the input first goes through the
session's :class:`~openlive.runtime.echo.EchoGuard`: the VAD, and the recognizer after it,
hear the input with that echo removed, and each frame carries an echo score.

The VAD scores frames on its own thread (:class:`~openlive.runtime.vad_batcher.VadBatcher`),
so a frame's score comes back a little after :meth:`AudioInput.push` returns;
:meth:`AudioInput.settled` waits for them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from openlive.audio.resample import input_resampler
from openlive.engines.vad.silero import FRAME_SAMPLES, FRAME_SECONDS, FrameSplitter
from openlive.runtime.echo import EchoGuard
from openlive.runtime.vad_batcher import VadScorer

BYTES_PER_SECOND = 16_000 * 2
KEEP_SECONDS = 60.0  # the longest turn audio kept for the recognizer


@dataclass(frozen=True, slots=True)
class _Frame:
    """A frame waiting for its speech probability."""

    at: float  # audio time of its end
    echo: float  # its echo score


class AudioInput:
    """Resampler, audio store and VAD stream of one session.

    Each frame's ``(end time, speech probability, echo score)`` goes to ``on_scored``,
    in order, on the event loop; ``on_failure`` hears once if the VAD fails. Call
    :meth:`close` when the session ends.
    """

    def __init__(self, vad: VadScorer, on_scored: Callable[[float, float, float], None],
                 on_failure: Callable[[Exception], None]) -> None:
        self._resampler = input_resampler()
        self._splitter = FrameSplitter()
        self._on_scored = on_scored
        self._on_failure = on_failure
        self._waiting: deque[_Frame] = deque()  # submitted to the VAD, not scored yet
        self._settled = asyncio.Event()
        self._settled.set()
        self._vad = vad.open(self._scored, self._failed)
        self._buffer = bytearray()
        self._buffer_start = 0  # byte offset (in the whole stream) of _buffer[0]
        self.echo = EchoGuard()

    def push(self, pcm: bytes, rate: int, now: float) -> None:
        """Take a chunk at ``rate`` Hz that arrived at wall time ``now``; its frames go
        to the VAD (with an inline VAD, their scores are reported before this returns)."""
        audio = self.echo.heard(self._resampler.process(pcm, rate), now)
        self._buffer += audio
        before = self._splitter.frames_emitted
        frames = self._splitter.push(audio)
        for i in range(len(frames)):
            end = before + i + 1
            self._waiting.append(_Frame(end * FRAME_SECONDS,
                                        self.echo.score(end * FRAME_SAMPLES, FRAME_SAMPLES)))
        self._trim(KEEP_SECONDS)
        if frames:
            self._settled.clear()
            self._vad.submit(frames)

    async def settled(self) -> None:
        """Return once every frame pushed so far has been reported (or the VAD failed)."""
        if not self._settled.is_set():
            await self._settled.wait()

    def close(self) -> None:
        """The session ended: no more scores are reported."""
        self._vad.close()
        self._waiting.clear()
        self._settled.set()

    def _scored(self, probability: float) -> None:
        frame = self._waiting.popleft()
        if not self._waiting:
            self._settled.set()
        self._on_scored(frame.at, probability, frame.echo)

    def _failed(self, error: Exception) -> None:
        self._waiting.clear()
        self._settled.set()
        self._on_failure(error)

    @property
    def kept_from(self) -> float:
        """Audio time of the oldest audio still kept (what :meth:`cut` can give)."""
        return self._buffer_start / BYTES_PER_SECOND

    @property
    def seconds(self) -> float:
        """Audio time of the end of what has been received (after resampling)."""
        return (self._buffer_start + len(self._buffer)) / BYTES_PER_SECOND

    def cut(self, start: float, end: float) -> bytes:
        """The kept audio between two stream times (clipped to what is kept)."""
        first = max(0, _offset(start) - self._buffer_start)
        last = max(first, _offset(end) - self._buffer_start)
        return bytes(self._buffer[first:last])

    def replayed(self, start: float, end: float) -> float:
        """How much of the input between two stream times is the server's own voice
        coming back (0 .. 1, see :meth:`EchoGuard.replayed`)."""
        return self.echo.replayed(_offset(start) // 2, _offset(end) // 2)

    def _trim(self, keep: float) -> None:
        excess = len(self._buffer) - _offset(keep)
        if excess > 0:
            del self._buffer[:excess]
            self._buffer_start += excess


def _offset(seconds: float) -> int:
    """Byte offset of a time, on a sample boundary."""
    return int(seconds * 16_000) * 2
