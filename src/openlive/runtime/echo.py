"""Echo canceller: the model's own voice coming back through the user's speakerphone.

On a speakerphone the answer the server sends returns, delayed and coloured, in the
user's audio; without a guard the VAD takes it for the user and the model interrupts
itself. The server knows exactly what it sent, so :class:`EchoGuard`

1. lays the sent audio on a *playback timeline* (16 kHz samples of wall time): a chunk
   plays where the one before it ends, or when it arrives if the client's buffer ran dry
   (and what the client drops on ``interrupted`` is taken off again);
2. maps the microphone stream onto the same timeline (a sample's earliest possible
   arrival is the best estimate of when it was captured: late chunks only add delay);
3. finds the echo's delay (the lead, the client's buffer, playback, the room and the
   way back: up to :data:`MAX_DELAY_SECONDS`) with a phase-transform cross-correlation
   (GCC-PHAT) of the last quarter second of input against the reference, and checks it
   with a least-squares fit: an echo is a filtered copy of what was sent, so at the right
   delay a few taps explain nearly all of the input's energy, and a voice that is not
   the model's explains little of it. The echo is found about 100 ms after it starts; its
   delay is kept for the session and checked again while replies play;
4. once an echo has been found, WebRTC's AEC3 (``pywebrtc-audio``) cancels it, fed with
   the reference shifted to arrive 30 ms before its echo (AEC3's own delay search covers
   about half a second, and a reference that comes late cancels nothing); the VAD and
   the recognizer hear what is left. Without an echo (headphones) the input passes
   untouched: AEC3 given a reference it never hears back suppresses the user's voice
   whenever the model talks.

Each VAD frame also gets an echo score, 0 (the user) .. 1 (echo): while the AEC runs, the
share of the input's level it removed; before, the share of the input's energy the
reference explains at the delay found. The session ignores frames that score at least
its threshold (:data:`~openlive.session.bargein.ECHO_THRESHOLD`). Without
``pywebrtc-audio`` the scores alone guard against the echo.

Nothing runs while nothing was sent lately (:meth:`EchoGuard.heard` returns its input
after one comparison), the search only while the input is loud and no echo is known,
and the AEC only while an echo may be coming back.
"""

from __future__ import annotations

import importlib
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openlive.audio.resample import StreamResampler


def _load_aec3() -> Any:
    """WebRTC's AEC3; the default extra installs it. Without it echo is only scored."""
    try:
        return importlib.import_module("pywebrtc_audio").EchoCanceller
    except ImportError:  # pragma: no cover
        return None


_AEC3: Any = _load_aec3()

Samples = npt.NDArray[np.float32]

RATE = 16_000
SENT_RATE = 24_000
BLOCK = 160  # AEC3 works on 10 ms blocks
MAX_DELAY_SECONDS = 1.6  # from sending to the echo's arrival: lead, buffers, room, network
TAIL_SECONDS = 0.5  # the room still rings this long after the last sample played
MARGIN_SECONDS = 0.03  # the AEC gets the reference this much before its echo (it is causal)
WARM_SECONDS = 0.3  # input the AEC is fed (and whose output is dropped) when it starts
SEARCH_SECONDS = 0.256  # input correlated against the reference to find the delay
FIT_SECONDS = 0.256  # input the reference must explain at the delay found
COARSE = 8  # the search runs at 2 kHz: most of a voice's energy is below 1 kHz
PEAKS = 6  # correlation peaks looked at
FITTED = 2  # and the likeliest of them fitted
FIT_TAPS = 8  # 4 ms of echo path at 2 kHz (a loudspeaker's and a room's first reflections)
FIT_BEFORE = 2  # taps before the delay found (the correlation peak is not always the first)
SEARCH_EVERY = 512  # input samples between searches while no echo is known (one VAD frame)
CHECK_EVERY = 8_000  # and between checks of the known delay while the AEC runs
UNLIKELY_FIT = 0.3  # after UNLIKELY_SEARCHES searches in a row that fit this badly,
UNLIKELY_SEARCHES = 4  # search half as often (someone else talks over the reply)
# One fit this good finds the echo, or AGREE_COUNT in a row this good at the same delay.
# Measured on espeak: an echo fits 0.93-1.0 from its third frame on (0.85-0.97 through a
# loudspeaker and a room); another voice at most 0.66 ("please" against "people", one
# synthesizer speaking both), and mostly under 0.4.
LOCK_FIT = 0.85
AGREE_FIT = 0.7
AGREE_COUNT = 3
AGREE_SAMPLES = 16  # (1 ms)
GONE_FIT = 0.5  # a check this poor, with input and reference loud, says the echo may be gone
GONE_CHECKS = 8  # this many in a row (4 s) and the AEC stops (the user put headphones on)
CONFIRM_CHECKS = 3  # a delay found again this often is the echo's, not a chance match
FALSE_LOCK_CHECKS = 2  # and before that, this many misses in a row drop it
# While the AEC runs, a frame whose level it cut by 26 dB or more (a twentieth is left)
# scores as echo: the VAD hears what is left, and only echo is removed that thoroughly
# (AEC3 also attenuates the user's voice while both talk, often by 10-20 dB).
LEFT_WEIGHT = 3.0
QUIET = 100.0  # RMS (about -50 dBFS) under which input is neither searched nor scored
REBASE_SECONDS = 0.3  # input arriving this much later than expected: the stream paused
DRIFT = 0.001  # how fast (s per s) the capture-time estimate may follow later arrivals
KEEP_SECONDS = 4.0  # reference and input history kept while replies play
MOST_SECONDS = 60.0  # reference kept at most, however far ahead it was sent
SCORES_KEPT = 256  # per-block records, a few seconds


class _History:
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

    def append(self, at: int, samples: Samples) -> None:
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

    def read(self, at: int, n: int) -> Samples:
        """Samples ``at`` .. ``at + n``; zeros where nothing is kept."""
        out = np.zeros(n, dtype=np.float32)
        lo, hi = max(at, self.start), min(at + n, self.end)
        if hi > lo:
            out[lo - at:hi - at] = self._data[lo - self.start:hi - self.start]
        return out


@dataclass(frozen=True, slots=True)
class _Piece:
    """Input given back, ``start`` .. ``stop`` (output samples), and what became of it."""

    start: int
    stop: int
    heard: float  # energy in
    left: float  # energy out
    fit: float  # the reference's share of the input, before the canceller runs
    cancelled: bool


def _fit(tail: npt.NDArray[np.float64], energy: float, ref: Samples, lag: int) -> float:
    """The share of ``tail``'s ``energy`` that a short filter on ``ref`` explains, its
    shortest path ``FIT_BEFORE`` taps before ``lag``. ``ref`` ends where ``tail`` does and
    is longer by at least the lag; both at the same rate."""
    start = ref.size - tail.size - lag + FIT_BEFORE  # ref aligned with tail[0], shortest path
    if start - FIT_TAPS + 1 < 0 or start + tail.size > ref.size:
        return 0.0
    # row k: the reference as it reaches the input over a path k taps longer than the
    # shortest: together a filter over the delay's neighbourhood
    taps = np.empty((FIT_TAPS, tail.size))
    for k in range(FIT_TAPS):
        taps[k] = ref[start - k:start - k + tail.size]
    gram = taps @ taps.T
    trace = float(np.trace(gram))
    if trace <= 0.0:
        return 0.0
    gram += np.eye(FIT_TAPS) * (1e-6 * trace)
    projected = taps @ tail
    weights = np.linalg.solve(gram, projected)
    return min(1.0, max(0.0, float(weights @ projected) / energy))


def _decimate(x: Samples, factor: int) -> Samples:
    """Averages of ``factor`` samples: a rough low-pass enough to find and fit an echo."""
    x = x[:x.size - x.size % factor]
    out = x[0::factor].copy()
    for i in range(1, factor):
        out += x[i::factor]
    out *= 1.0 / factor
    return out


class EchoGuard:
    """Per session: what was sent, the echo's delay, and the canceller once echo is heard.

    The driver calls :meth:`sent` as audio leaves (and :meth:`flushed` when it tells the
    client ``interrupted``); the session's input calls :meth:`heard` on each chunk
    (16 kHz, as it arrived) and feeds what it returns to the VAD and the recognizer, then
    asks :meth:`score` about each VAD frame.
    """

    def __init__(self) -> None:
        # the reference, on the playback timeline (timeline index = wall seconds * RATE)
        self._ref = _History(int(KEEP_SECONDS * RATE), int(MOST_SECONDS * RATE))
        # stretches of playback (timeline start, end), the latest last and still growing
        self._stretches: deque[list[int]] = deque()
        self._cursor: int | None = None  # where the sent audio stops playing
        self._seg_start = 0  # the current stretch: start, and input samples (24 kHz) in it
        self._seg_in = 0
        self._seg_out = 0  # and 16 kHz samples written
        self._resampler: StreamResampler | None = None
        # the input: its index in the stream, its raw history, and where it is on the timeline
        self._mic = _History(int(KEEP_SECONDS * RATE), int(KEEP_SECONDS * RATE))
        self._count = 0  # input samples heard
        self._out_from = 0  # the first input sample not yet given back
        self._base: float | None = None  # timeline index of input sample 0
        self._last_at = 0.0
        self._active = False
        # the echo
        self.delay: int | None = None  # samples from the timeline to the echo, once found
        self._candidate: tuple[int, int] | None = None  # a delay, and how often in a row
        self._searched = 0  # the input the latest search ended at
        self._unlikely = 0  # searches in a row that found nothing like an echo
        self._misses = 0
        self._hits = 0
        self._fit = 0.0  # the reference's share of the input's energy, latest search
        self._fits: list[tuple[int, float]] = []  # (end, fit) of this chunk's searches
        self._aec: Any = None
        self._aec_on = False
        self._scores: deque[_Piece] = deque(maxlen=SCORES_KEPT)

    # -- what was sent -------------------------------------------------------------------

    def sent(self, pcm24k: bytes, at: float) -> None:
        """Audio the server just sent, as it leaves (``at``: wall clock)."""
        now = round(at * RATE)
        if (self._resampler is None or self._cursor is None
                or now > self._cursor + int(0.02 * RATE)):
            # the client played everything before: this chunk plays as it arrives
            self._end_stretch()
            self._resampler = StreamResampler(RATE, in_rate=SENT_RATE)
            self._seg_start, self._seg_in, self._seg_out = now, 0, 0
            self._stretches.append([now, now])
            while self._stretches[0][1] < now - self._ref.most:
                self._stretches.popleft()
        out = self._resampler.process(pcm24k)
        self._write_reference(out)
        self._seg_in += len(pcm24k) // 2
        self._cursor = self._seg_start + self._seg_in * RATE // SENT_RATE
        self._stretches[-1][1] = self._cursor

    def flushed(self, at: float) -> None:
        """The client was told ``interrupted`` at wall time ``at``: it drops the audio it
        has not played yet, whose echo will not come (and must not be cancelled from the
        voice that interrupted)."""
        now = round(at * RATE)
        if self._cursor is None or now >= self._cursor:
            return
        self._resampler = None
        self._ref.truncate(now)
        self._cursor = now
        if self._stretches:
            self._stretches[-1][1] = now

    def _end_stretch(self) -> None:
        if self._resampler is not None:
            self._write_reference(self._resampler.flush())
            self._resampler = None

    def _write_reference(self, pcm: bytes) -> None:
        if pcm:
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
            self._ref.append(self._seg_start + self._seg_out, samples)
            self._seg_out += samples.size

    # -- what was heard ------------------------------------------------------------------

    def heard(self, pcm16k: bytes, at: float) -> bytes:
        """One chunk of input (16 kHz) that arrived at wall time ``at``: returns the audio
        the VAD should hear (the echo removed, if the canceller runs; a few ms may be held
        back for the next call)."""
        n = len(pcm16k) // 2
        now = round(at * RATE)
        if not self._active and (self._cursor is None
                                 or now > self._cursor + self._horizon()):
            self._count += n  # nothing played lately: no echo is possible
            self._out_from = self._count
            return pcm16k
        self._arrived(now, n, at)
        self._ref.needed = self._timeline(self._count) - self._ref.keep
        samples = np.frombuffer(pcm16k, dtype="<i2").astype(np.float32)
        self._mic.append(self._count, samples)
        self._count += n
        if self._cursor is not None and now >= self._cursor:
            self._end_stretch()  # the stretch has played out: its last samples are due
        if self._aec_on and self._confirmed:
            step = CHECK_EVERY
        elif self._unlikely >= UNLIKELY_SEARCHES:
            step = 2 * SEARCH_EVERY  # someone talking over the reply, no echo of it
        else:
            step = SEARCH_EVERY
        self._fits.clear()
        if self._count >= self._searched + step:
            # every ``step`` of input, the last search ending with the newest sample (so
            # that an echo found now is cancelled from this very chunk)
            since = max(self._searched, self._count - 3 * step)
            for end in reversed(range(self._count, since + step // 2, -step)):
                self._search(end)
            self._searched = self._count
        out = self._give_back()
        if (self._out_from == self._count and self._cursor is not None
                and now > self._cursor + self._horizon()):
            self._active = self._aec_on = False  # quiet again until the next reply
            self._ref.release()
            self._mic.release()
            self._scores.clear()
        return out

    def _horizon(self) -> int:
        """How long after the sent audio stops its echo may still arrive."""
        delay = self.delay if self.delay is not None else int(MAX_DELAY_SECONDS * RATE)
        return delay + int((TAIL_SECONDS + MARGIN_SECONDS) * RATE)

    def _arrived(self, now: int, n: int, at: float) -> None:
        """Where the input's sample 0 lies on the timeline: from the earliest arrivals."""
        base = now - (self._count + n)
        if (self._base is None or base < self._base
                or base > self._base + REBASE_SECONDS * RATE):
            self._base = float(base)
        else:  # follow a slow drift of the client's clock
            self._base = min(float(base), self._base + DRIFT * RATE * max(0.0, at - self._last_at))
        self._last_at = at
        self._active = True

    def _timeline(self, index: int) -> int:
        assert self._base is not None
        return index + round(self._base)

    # -- finding the echo ----------------------------------------------------------------

    def _search(self, end: int) -> None:
        """Find (or check) the echo's delay on the input up to sample ``end``."""
        window = int(SEARCH_SECONDS * RATE)
        span = int(MAX_DELAY_SECONDS * RATE)
        self._fit = 0.0
        mic = _decimate(self._mic.read(end - window, window), COARSE)
        tail = mic[-int(FIT_SECONDS * RATE) // COARSE:].astype(np.float64)
        energy = float(tail @ tail)
        if energy < QUIET * QUIET * tail.size:
            self._fits.append((end, 0.0))
            self._unlikely = 0
            return  # nothing heard: no evidence either way
        top = self._timeline(end)
        raw = self._ref.read(top - window - span, window + span)
        if not raw.any():
            self._fits.append((end, 0.0))
            return  # nothing played that could come back now
        ref = _decimate(raw, COARSE)
        # the delay: the highest peaks of GCC-PHAT, the likeliest of them (by how much of
        # the input one tap explains there) checked with the full fit
        size = 1 << int(np.ceil(np.log2(ref.size)))
        cross = np.conj(np.fft.rfft(mic, size)) * np.fft.rfft(ref, size)
        lags = span // COARSE + 1
        plain = np.fft.irfft(cross, size)[:lags]
        cross /= np.abs(cross) + 1e-6 * float(np.abs(cross).max() + 1.0)
        phat = np.fft.irfft(cross, size)[:lags]
        # the reference's energy under the input's window, at each lag
        power = np.concatenate([[0.0], np.cumsum(np.square(ref, dtype=np.float64))])
        under = power[mic.size:mic.size + lags] - power[:lags]
        share = np.square(plain) / (under * float(mic @ mic) + 1e-9)
        peaks = []
        for _ in range(PEAKS):  # a voice's pitch makes neighbours of the right peak
            k = int(np.argmax(phat))
            peaks.append((float(share[max(0, k - 2):k + 3].max()), k))
            phat[max(0, k - 2):k + 3] = -np.inf
        candidates = {span - k * COARSE for _, k in sorted(peaks)[-FITTED:]}
        if self.delay is not None:
            candidates.add(self.delay)
        fits = {delay: _fit(tail, energy, ref, round(delay / COARSE)) for delay in candidates}
        found = max(fits, key=fits.__getitem__)
        if self.delay is not None and fits[found] < LOCK_FIT:
            found = self.delay  # a new delay must prove itself
        self._fit = fits[found]
        self._fits.append((end, self._fit))
        self._unlikely = self._unlikely + 1 if self._fit < UNLIKELY_FIT else 0
        self._judge(found, fits[found])

    def _judge(self, found: int, fit: float) -> None:
        if self.delay is not None and abs(found - self.delay) <= AGREE_SAMPLES:
            if fit >= GONE_FIT:
                self._misses = 0
                self._hits += 1
                self.delay = found  # follow small changes
                return
            # loud input, sound played, and it does not come back: is the echo gone?
            self._misses += 1
            if self._misses >= (GONE_CHECKS if self._confirmed else FALSE_LOCK_CHECKS):
                self.delay, self._aec_on, self._candidate = None, False, None
            return
        if fit >= AGREE_FIT and self._candidate is not None and abs(
                found - self._candidate[0]) <= AGREE_SAMPLES:
            self._candidate = (found, self._candidate[1] + 1)
        else:
            self._candidate = (found, 1) if fit >= AGREE_FIT else None
        if fit >= LOCK_FIT or (self._candidate is not None
                               and self._candidate[1] >= AGREE_COUNT):
            if self.delay is not None:
                self._aec_on = False  # start again at the new delay
            self.delay, self._misses, self._hits = found, 0, 0
            self._candidate = None

    @property
    def _confirmed(self) -> bool:
        """The delay has been found again since it was locked: not a chance match."""
        return self._hits >= CONFIRM_CHECKS

    # -- cancelling ----------------------------------------------------------------------

    def _give_back(self) -> bytes:
        """The input not yet given back: through the canceller while its echo may play."""
        if not self._cancelling():
            self._aec_on = False
            return self._pass()
        if not self._aec_on:
            self._start_aec()
        n = (self._count - self._out_from) // BLOCK * BLOCK
        if n == 0:
            return b""
        start = self._out_from
        near = self._mic.read(start, n)
        out = self._aec.process(near.astype(np.int16), self._far(start, n))
        self._out_from += n
        cleaned = out.astype(np.float32)
        for i in range(0, n, 512):
            a, b = near[i:i + 512], cleaned[i:i + 512]
            self._scores.append(_Piece(start + i, start + i + a.size, float(a @ a),
                                       float(b @ b), 0.0, True))
        return bytes(out.astype("<i2").tobytes())

    def _cancelling(self) -> bool:
        """Is the echo of sent audio due in the input not yet given back?"""
        if self.delay is None or _AEC3 is None or self._cursor is None:
            return False
        played = self._timeline(self._out_from) - self.delay
        before, after = int(MARGIN_SECONDS * RATE), int(TAIL_SECONDS * RATE)
        return any(start - before <= played <= end + after for start, end in self._stretches)

    def _start_aec(self) -> None:
        if self._aec is None:
            assert _AEC3 is not None
            self._aec = _AEC3(RATE)
        warm = int(WARM_SECONDS * RATE) // BLOCK * BLOCK
        start = self._out_from - warm
        self._aec.process(self._mic.read(start, warm).astype(np.int16), self._far(start, warm))
        self._aec_on = True

    def _far(self, start: int, n: int) -> npt.NDArray[np.int16]:
        """The reference that plays (echo delay and margin apart) with input ``start``.."""
        assert self.delay is not None
        at = self._timeline(start) - self.delay + int(MARGIN_SECONDS * RATE)
        return self._ref.read(at, n).astype(np.int16)

    def _pass(self) -> bytes:
        """The input not yet given back, as it came; each stretch of it scored by the fit
        of the search that ended with it."""
        start, n = self._out_from, self._count - self._out_from
        if n <= 0:
            return b""
        near = self._mic.read(start, n)
        self._out_from = self._count
        at = start
        for end, fit in [*self._fits, (self._count, self._fit)]:
            if end > at:
                piece = near[at - start:end - start]
                energy = float(piece @ piece)
                self._scores.append(_Piece(at, end, energy, energy, fit, False))
                at = end
        return bytes(near.astype("<i2").tobytes())

    # -- scoring -------------------------------------------------------------------------

    def score(self, end: int, size: int = 512) -> float:
        """Echo score, 0 (not echo) .. 1 (echo), of the ``size`` samples given back that
        end at output sample ``end`` (counted from the stream's start)."""
        heard = cancelled_in = cancelled_out = fit = 0.0
        for piece in reversed(self._scores):
            if piece.stop <= end - size:
                break
            share = (min(end, piece.stop) - max(end - size, piece.start)) / (
                piece.stop - piece.start)
            if share <= 0.0:
                continue
            heard += share * piece.heard
            if piece.cancelled:
                cancelled_in += share * piece.heard
                cancelled_out += share * piece.left
            else:
                fit = max(fit, piece.fit)
        if heard < QUIET * QUIET * size:
            return 0.0  # too quiet to be anyone's voice
        removed = 0.0
        if cancelled_in > 0.0:
            removed = 1.0 - LEFT_WEIGHT * float(np.sqrt(cancelled_out / cancelled_in))
        return max(0.0, removed, fit)
