"""The echo guard's timeline: what was sent and what was heard, on one clock.

The timeline counts 16 kHz samples of wall time (timeline index = wall seconds *
:data:`RATE`); the echo guard (:mod:`openlive.runtime.echo`) places both of its streams
on it, so that the echo's delay is a plain distance between them.

- :class:`Playback` lays the sent audio on the *playback timeline*: a chunk plays where
  the one before it ends, or when it arrives if the client's buffer ran dry (and what
  the client drops on ``interrupted`` is taken off again);
- :class:`Capture` maps the microphone stream onto the same timeline (a sample's
  earliest possible arrival is the best estimate of when it was captured: late chunks
  only add delay).

Both keep their recent samples in a :class:`SampleHistory`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from openlive.audio.pcm import FloatArray
from openlive.audio.resample import StreamResampler

RATE = 16_000  # timeline samples per second: the input's rate
SENT_RATE = 24_000
REBASE_SECONDS = 0.3  # input arriving this much later than expected: the stream paused
DRIFT = 0.001  # how fast (s per s) the capture-time estimate may follow later arrivals
KEEP_SECONDS = 4.0  # reference and input history kept while replies play
MOST_SECONDS = 60.0  # reference kept at most, however far ahead it was sent


class SampleHistory:
    """The latest samples of a stream, addressed by their index in the stream: at least
    the last ``keep``, more while its owner still needs them (:attr:`needed`, the oldest
    index it will read), never more than the last ``most``."""

    def __init__(self, keep: int, most: int) -> None:
        self.keep, self.most = keep, most
        self.needed: int | None = None
        self._data = np.zeros(0, dtype=np.float32)
        self._fill = 0
        self.start = 0  # stream index of _data[0]

    @property
    def end(self) -> int:
        return self.start + self._fill

    def append(self, at: int, samples: FloatArray) -> None:
        """Write ``samples`` from stream index ``at`` (at or after :attr:`end`)."""
        if self._fill == 0 or at > self.end + self.keep:
            self.start, self._fill = at, 0  # nothing kept is near: start afresh
        gap = max(at - self.end, -self._fill)  # a sample or two of rounding: overwrite
        stop = at + samples.size
        if self._fill + gap + samples.size > self._data.size:
            oldest = stop - self.keep
            if self.needed is not None:
                oldest = min(oldest, self.needed)
            oldest = max(oldest, stop - self.most, self.start)
            drop = min(oldest - self.start, self._fill)
            kept = self._fill - drop
            size = kept + gap + samples.size
            data = self._data
            if size > data.size:
                data = np.zeros(max(2 * size, 2 * self.keep), dtype=np.float32)
            data[:kept] = self._data[drop:self._fill]
            self._data, self.start, self._fill = data, self.start + drop, kept
        self._data[self._fill:self._fill + gap] = 0.0
        self._data[self._fill + gap:self._fill + gap + samples.size] = samples
        self._fill += gap + samples.size

    def release(self) -> None:
        """Forget everything, and the memory it took."""
        self._data, self._fill = np.zeros(0, dtype=np.float32), 0

    def truncate(self, at: int) -> None:
        """Forget the samples from stream index ``at`` on."""
        self._fill = max(0, min(self._fill, at - self.start))

    def read(self, at: int, n: int) -> FloatArray:
        """Samples ``at`` .. ``at + n``; zeros where nothing is kept."""
        out = np.zeros(n, dtype=np.float32)
        lo, hi = max(at, self.start), min(at + n, self.end)
        if hi > lo:
            out[lo - at:hi - at] = self._data[lo - self.start:hi - self.start]
        return out


class Playback:
    """The audio sent (24 kHz, as it left) as the client plays it, resampled to the
    timeline: the reference the echo is a copy of."""

    def __init__(self) -> None:
        self.reference = SampleHistory(int(KEEP_SECONDS * RATE), int(MOST_SECONDS * RATE))
        # stretches of playback (timeline start, end), the latest last and still growing
        self._stretches: deque[list[int]] = deque()
        self.cursor: int | None = None  # where the sent audio stops playing
        self._seg_start = 0  # the current stretch: start, and input samples (24 kHz) in it
        self._seg_in = 0
        self._seg_out = 0  # and 16 kHz samples written
        self._resampler: StreamResampler | None = None

    def sent(self, pcm24k: bytes, at: float) -> None:
        """Audio the server just sent, as it leaves (``at``: wall clock)."""
        now = round(at * RATE)
        if (self._resampler is None or self.cursor is None
                or now > self.cursor + int(0.02 * RATE)):
            # the client played everything before: this chunk plays as it arrives
            self.finish()
            self._resampler = StreamResampler(RATE, in_rate=SENT_RATE)
            self._seg_start, self._seg_in, self._seg_out = now, 0, 0
            self._stretches.append([now, now])
            while self._stretches[0][1] < now - self.reference.most:
                self._stretches.popleft()
        out = self._resampler.process(pcm24k)
        self._write(out)
        self._seg_in += len(pcm24k) // 2
        self.cursor = self._seg_start + self._seg_in * RATE // SENT_RATE
        self._stretches[-1][1] = self.cursor

    def flushed(self, at: float) -> None:
        """The client dropped, at wall time ``at``, what it had not played yet."""
        now = round(at * RATE)
        if self.cursor is None or now >= self.cursor:
            return
        self._resampler = None
        self.reference.truncate(now)
        self.cursor = now
        if self._stretches:
            self._stretches[-1][1] = now

    def finish(self) -> None:
        """Write the samples the resampler still holds: the stretch has played out."""
        if self._resampler is not None:
            self._write(self._resampler.flush())
            self._resampler = None

    def plays(self, at: int, before: int, after: int) -> bool:
        """Does timeline index ``at`` lie in a stretch of playback, from ``before`` samples
        before its start to ``after`` samples after its end?"""
        return any(start - before <= at <= end + after for start, end in self._stretches)

    def _write(self, pcm: bytes) -> None:
        if pcm:
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
            self.reference.append(self._seg_start + self._seg_out, samples)
            self._seg_out += samples.size


class Capture:
    """The microphone stream (16 kHz, as it arrived): its samples by their index in the
    stream, and where that index lies on the timeline."""

    def __init__(self) -> None:
        self.history = SampleHistory(int(KEEP_SECONDS * RATE), int(KEEP_SECONDS * RATE))
        self.count = 0  # input samples heard
        self._base: float | None = None  # timeline index of input sample 0
        self._last_at = 0.0

    def skipped(self, n: int) -> None:
        """``n`` samples heard and not kept (no echo was possible in them)."""
        self.count += n

    def arrived(self, now: int, n: int, at: float) -> None:
        """``n`` samples arrived at timeline index ``now`` (wall time ``at``): where the
        input's sample 0 lies on the timeline, from the earliest arrivals. Call before
        :meth:`append`."""
        base = now - (self.count + n)
        if (self._base is None or base < self._base
                or base > self._base + REBASE_SECONDS * RATE):
            self._base = float(base)
        else:  # follow a slow drift of the client's clock
            self._base = min(float(base), self._base + DRIFT * RATE * max(0.0, at - self._last_at))
        self._last_at = at

    def append(self, samples: FloatArray) -> None:
        """Keep the samples that just arrived."""
        self.history.append(self.count, samples)
        self.count += samples.size

    def timeline(self, index: int) -> int:
        """The timeline index of input sample ``index`` (once something has arrived)."""
        assert self._base is not None
        return index + round(self._base)
