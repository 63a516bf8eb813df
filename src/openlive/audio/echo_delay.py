"""The echo's delay: where in what was sent the input is coming back from, if anywhere.

The delay (the lead, the client's buffer, playback, the room and the way back: up to
:data:`MAX_DELAY_SECONDS`) is found with a phase-transform cross-correlation (GCC-PHAT)
of the last quarter second of input against the reference, and checked with a
least-squares fit: an echo is a filtered copy of what was sent, so at the right delay a
few taps explain nearly all of the input's energy, and a voice that is not the model's
explains little of it. The echo is found about 100 ms after it starts; its delay is kept
for the session and checked again while replies play.

:class:`EchoDelay` keeps that judgement over a session: call :meth:`EchoDelay.search`
every :meth:`EchoDelay.every` samples of input with the input and the reference as they
lie on one timeline. Plain numpy, no I/O: both streams are handed in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from openlive.audio.pcm import FloatArray

RATE = 16_000  # samples per second of the input and the reference
MAX_DELAY_SECONDS = 1.6  # from sending to the echo's arrival: lead, buffers, room, network
SEARCH_SECONDS = 0.256  # input correlated against the reference to find the delay
FIT_SECONDS = 0.256  # input the reference must explain at the delay found
WINDOW = int(SEARCH_SECONDS * RATE)  # input samples handed to a search
SPAN = int(MAX_DELAY_SECONDS * RATE)  # and reference samples before them
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
QUIET = 100.0  # RMS (about -50 dBFS) under which input is neither searched nor scored


def decimate(x: FloatArray, factor: int) -> FloatArray:
    """Averages of ``factor`` samples: a rough low-pass enough to find and fit an echo."""
    x = x[:x.size - x.size % factor]
    out = x[0::factor].copy()
    for i in range(1, factor):
        out += x[i::factor]
    out *= 1.0 / factor
    return out


def explained(tail: npt.NDArray[np.float64], energy: float, ref: FloatArray,
              lag: int) -> float:
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


def likely_delays(mic: FloatArray, ref: FloatArray) -> set[int]:
    """The delays (input samples) at the highest peaks of GCC-PHAT of ``mic`` against
    ``ref`` (both decimated by :data:`COARSE`; ``ref`` ends where ``mic`` does and starts
    up to :data:`SPAN` before it: its extra length is the longest delay looked at), the
    likeliest of them by how much of the input one tap explains there."""
    span = ref.size - mic.size  # the longest delay, in decimated samples
    size = 1 << int(np.ceil(np.log2(ref.size)))
    cross = np.conj(np.fft.rfft(mic, size)) * np.fft.rfft(ref, size)
    lags = span + 1
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
    return {(span - k) * COARSE for _, k in sorted(peaks)[-FITTED:]}


def replayed_share(heard: FloatArray, played: FloatArray, known: int | None = None,
                   ahead: int = 0) -> float:
    """The share of ``heard``'s energy that ``played`` explains: how much of a stretch of
    input is the server's own voice coming back. ``played`` ends ``ahead`` samples after
    ``heard`` does (an echo may seem to come before its audio when the input's place on
    the timeline is off) and starts :data:`SPAN` before it; ``known``: the session's
    delay, if found.

    Unlike :meth:`EchoDelay.search` this judges a whole stretch at once, from scratch, so
    it holds for an echo that came back before its delay was found. Each
    :data:`WINDOW` of it is fitted at its own likeliest delay (the reply pauses while
    speech over it is judged, and the client's playback and the server's picture of it
    part there), and the fits are weighed by the windows' energy."""
    explained_energy = total = 0.0
    starts = list(range(0, max(heard.size - WINDOW // 2, 1), WINDOW))
    for i, a in enumerate(starts):
        b = starts[i + 1] if i + 1 < len(starts) else heard.size  # the last takes the rest
        mic = decimate(heard[a:b], COARSE)
        tail = mic.astype(np.float64)
        energy = float(tail @ tail)
        if mic.size == 0 or energy < QUIET * QUIET * mic.size:
            continue  # too quiet to be anyone's voice
        total += energy
        ref = decimate(played[a:b + SPAN + ahead], COARSE)
        if not ref.any():
            continue
        # delays counted from the end of the reference: a known delay lies ``ahead`` further
        candidates = likely_delays(mic, ref)
        if known is not None:
            candidates.add(known + ahead)
        explained_energy += energy * max(
            explained(tail, energy, ref, round(delay / COARSE)) for delay in candidates)
    return explained_energy / total if total > 0.0 else 0.0


class EchoDelay:
    """Per session: the echo's delay once found, and the evidence on the way to it.

    A delay is locked by one fit of at least :data:`LOCK_FIT`, or :data:`AGREE_COUNT`
    in a row of at least :data:`AGREE_FIT` at the same delay; it is dropped again after
    :data:`FALSE_LOCK_CHECKS` misses in a row before it is confirmed, or
    :data:`GONE_CHECKS` after.
    """

    def __init__(self) -> None:
        self.delay: int | None = None  # samples from the timeline to the echo, once found
        self._candidate: tuple[int, int] | None = None  # a delay, and how often in a row
        self._unlikely = 0  # searches in a row that found nothing like an echo
        self._misses = 0
        self._hits = 0

    @property
    def confirmed(self) -> bool:
        """The delay has been found again since it was locked: not a chance match."""
        return self._hits >= CONFIRM_CHECKS

    def every(self, cancelling: bool) -> int:
        """Input samples between searches (``cancelling``: the AEC runs)."""
        if cancelling and self.confirmed:
            return CHECK_EVERY
        if self._unlikely >= UNLIKELY_SEARCHES:
            return 2 * SEARCH_EVERY  # someone talking over the reply, no echo of it
        return SEARCH_EVERY

    def search(self, heard: FloatArray, played: Callable[[], FloatArray]) -> tuple[float, bool]:
        """Find (or check) the echo's delay in ``heard``, the latest :data:`WINDOW` of
        input; ``played()`` is the reference on the timeline that ends where ``heard``
        does and starts :data:`SPAN` before it (asked for only if the input is loud).
        Returns the share of the input's energy the reference explains at the delay
        settled on, and whether a delay that was known has been dropped or replaced (a
        canceller running at it must start again)."""
        mic = decimate(heard, COARSE)
        tail = mic[-int(FIT_SECONDS * RATE) // COARSE:].astype(np.float64)
        energy = float(tail @ tail)
        if energy < QUIET * QUIET * tail.size:
            self._unlikely = 0
            return 0.0, False  # nothing heard: no evidence either way
        raw = played()
        if not raw.any():
            return 0.0, False  # nothing played that could come back now
        ref = decimate(raw, COARSE)
        candidates = likely_delays(mic, ref)
        if self.delay is not None:
            candidates.add(self.delay)
        fits = {delay: explained(tail, energy, ref, round(delay / COARSE))
                for delay in candidates}
        found = max(fits, key=fits.__getitem__)
        if self.delay is not None and fits[found] < LOCK_FIT:
            found = self.delay  # a new delay must prove itself
        fit = fits[found]
        self._unlikely = self._unlikely + 1 if fit < UNLIKELY_FIT else 0
        return fit, self._judge(found, fit)

    def _judge(self, found: int, fit: float) -> bool:
        if self.delay is not None and abs(found - self.delay) <= AGREE_SAMPLES:
            if fit >= GONE_FIT:
                self._misses = 0
                self._hits += 1
                self.delay = found  # follow small changes
                return False
            # loud input, sound played, and it does not come back: is the echo gone?
            self._misses += 1
            if self._misses >= (GONE_CHECKS if self.confirmed else FALSE_LOCK_CHECKS):
                self.delay, self._candidate = None, None
                return True
            return False
        if fit >= AGREE_FIT and self._candidate is not None and abs(
                found - self._candidate[0]) <= AGREE_SAMPLES:
            self._candidate = (found, self._candidate[1] + 1)
        else:
            self._candidate = (found, 1) if fit >= AGREE_FIT else None
        if fit >= LOCK_FIT or (self._candidate is not None
                               and self._candidate[1] >= AGREE_COUNT):
            replaced = self.delay is not None  # start again at the new delay
            self.delay, self._misses, self._hits = found, 0, 0
            self._candidate = None
            return replaced
        return False
