"""Echo canceller: the model's own voice coming back through the user's speakerphone.

On a speakerphone the answer the server sends returns, delayed and coloured, in the
user's audio; without a guard the VAD takes it for the user and the model interrupts
itself. The server knows exactly what it sent, so :class:`EchoGuard`

1. lays the sent audio on a playback timeline, and
2. maps the microphone stream onto the same timeline (both in
   :mod:`openlive.runtime.timeline`);
3. finds the echo's delay on it (:class:`~openlive.audio.echo_delay.EchoDelay`:
   GCC-PHAT, checked with a least-squares fit);
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

from openlive.audio.echo_delay import (
    MAX_DELAY_SECONDS,
    QUIET,
    SPAN,
    WINDOW,
    EchoDelay,
    replayed_share,
)
from openlive.runtime.timeline import RATE, Capture, Playback


def _load_aec3() -> Any:
    """WebRTC's AEC3; the default extra installs it. Without it echo is only scored."""
    try:
        return importlib.import_module("pywebrtc_audio").EchoCanceller
    except ImportError:  # pragma: no cover
        return None


_AEC3: Any = _load_aec3()

BLOCK = 160  # AEC3 works on 10 ms blocks
TAIL_SECONDS = 0.5  # the room still rings this long after the last sample played
MARGIN_SECONDS = 0.03  # the AEC gets the reference this much before its echo (it is causal)
WARM_SECONDS = 0.3  # input the AEC is fed (and whose output is dropped) when it starts
# While the AEC runs, a frame whose level it cut by 26 dB or more (a twentieth is left)
# scores as echo: the VAD hears what is left, and only echo is removed that thoroughly
# (AEC3 also attenuates the user's voice while both talk, often by 10-20 dB).
LEFT_WEIGHT = 3.0
SCORES_KEPT = 256  # per-block records, a few seconds
# The most of a stretch of speech :meth:`EchoGuard.replayed` judges (its end): with the
# delay search's span before it, what the input and reference histories keep.
REPLAYED_SECONDS = 2.0
REPLAYED_LEAST = 0.1  # and the least: shorter stretches are not judged
# and how far after it the reference is searched too: a client that sends its audio in
# bursts moves the input's place on the timeline, so an echo may seem to come early
REPLAYED_AHEAD = 0.5


@dataclass(frozen=True, slots=True)
class _Piece:
    """Input given back, ``start`` .. ``stop`` (output samples), and what became of it."""

    start: int
    stop: int
    heard: float  # energy in
    left: float  # energy out
    fit: float  # the reference's share of the input, before the canceller runs
    cancelled: bool


class EchoGuard:
    """Per session: what was sent, the echo's delay, and the canceller once echo is heard.

    The driver calls :meth:`sent` as audio leaves (and :meth:`flushed` when it tells the
    client ``interrupted``); the session's input calls :meth:`heard` on each chunk
    (16 kHz, as it arrived) and feeds what it returns to the VAD and the recognizer, then
    asks :meth:`score` about each VAD frame.
    """

    def __init__(self) -> None:
        self._playback = Playback()  # the reference, on the timeline
        self._capture = Capture()  # the input, and where it lies on the timeline
        self._out_from = 0  # the first input sample not yet given back
        self._active = False
        self._echo = EchoDelay()
        self._searched = 0  # the input the latest search ended at
        self._fit = 0.0  # the reference's share of the input's energy, latest search
        self._fits: list[tuple[int, float]] = []  # (end, fit) of this chunk's searches
        self._aec: Any = None
        self._aec_on = False
        self._scores: deque[_Piece] = deque(maxlen=SCORES_KEPT)

    @property
    def delay(self) -> int | None:
        """Samples from the timeline to the echo, once found."""
        return self._echo.delay

    # -- what was sent -------------------------------------------------------------------

    def sent(self, pcm24k: bytes, at: float) -> None:
        """Audio the server just sent, as it leaves (``at``: wall clock)."""
        self._playback.sent(pcm24k, at)

    def flushed(self, at: float) -> None:
        """The client was told ``interrupted`` at wall time ``at``: it drops the audio it
        has not played yet, whose echo will not come (and must not be cancelled from the
        voice that interrupted)."""
        self._playback.flushed(at)

    # -- what was heard ------------------------------------------------------------------

    def heard(self, pcm16k: bytes, at: float) -> bytes:
        """One chunk of input (16 kHz) that arrived at wall time ``at``: returns the audio
        the VAD should hear (the echo removed, if the canceller runs; a few ms may be held
        back for the next call)."""
        n = len(pcm16k) // 2
        now = round(at * RATE)
        cursor = self._playback.cursor
        if not self._active and (cursor is None or now > cursor + self._horizon()):
            self._capture.skipped(n)  # nothing played lately: no echo is possible
            self._out_from = self._capture.count
            return pcm16k
        self._capture.arrived(now, n, at)
        self._active = True
        reference = self._playback.reference
        reference.needed = self._capture.timeline(self._capture.count) - reference.keep
        self._capture.append(np.frombuffer(pcm16k, dtype="<i2").astype(np.float32))
        if cursor is not None and now >= cursor:
            self._playback.finish()  # the stretch has played out: its last samples are due
        self._search_all()
        out = self._give_back()
        if (self._out_from == self._capture.count and cursor is not None
                and now > cursor + self._horizon()):
            self._active = self._aec_on = False  # quiet again until the next reply
            reference.release()
            self._capture.history.release()
            self._scores.clear()
        return out

    def _horizon(self) -> int:
        """How long after the sent audio stops its echo may still arrive."""
        delay = self.delay if self.delay is not None else int(MAX_DELAY_SECONDS * RATE)
        return delay + int((TAIL_SECONDS + MARGIN_SECONDS) * RATE)

    # -- finding the echo ----------------------------------------------------------------

    def _search_all(self) -> None:
        """Every so often in the input (more often while no echo is known), the last
        search ending with the newest sample (so that an echo found now is cancelled from
        this very chunk)."""
        count = self._capture.count
        step = self._echo.every(self._aec_on)
        self._fits.clear()
        if count >= self._searched + step:
            since = max(self._searched, count - 3 * step)
            for end in reversed(range(count, since + step // 2, -step)):
                self._search(end)
            self._searched = count

    def _search(self, end: int) -> None:
        """Find (or check) the echo's delay on the input up to sample ``end``."""
        top = self._capture.timeline(end)
        self._fit, moved = self._echo.search(
            self._capture.history.read(end - WINDOW, WINDOW),
            lambda: self._playback.reference.read(top - WINDOW - SPAN, WINDOW + SPAN))
        self._fits.append((end, self._fit))
        if moved:
            self._aec_on = False  # start again at the new delay, or stop

    # -- cancelling ----------------------------------------------------------------------

    def _give_back(self) -> bytes:
        """The input not yet given back: through the canceller while its echo may play."""
        if not self._cancelling():
            self._aec_on = False
            return self._pass()
        if not self._aec_on:
            self._start_aec()
        n = (self._capture.count - self._out_from) // BLOCK * BLOCK
        if n == 0:
            return b""
        start = self._out_from
        near = self._capture.history.read(start, n)
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
        if self.delay is None or _AEC3 is None or self._playback.cursor is None:
            return False
        played = self._capture.timeline(self._out_from) - self.delay
        before, after = int(MARGIN_SECONDS * RATE), int(TAIL_SECONDS * RATE)
        return self._playback.plays(played, before, after)

    def _start_aec(self) -> None:
        if self._aec is None:
            assert _AEC3 is not None
            self._aec = _AEC3(RATE)
        warm = int(WARM_SECONDS * RATE) // BLOCK * BLOCK
        start = self._out_from - warm
        near = self._capture.history.read(start, warm)
        self._aec.process(near.astype(np.int16), self._far(start, warm))
        self._aec_on = True

    def _far(self, start: int, n: int) -> npt.NDArray[np.int16]:
        """The reference that plays (echo delay and margin apart) with input ``start``.."""
        assert self.delay is not None
        at = self._capture.timeline(start) - self.delay + int(MARGIN_SECONDS * RATE)
        return self._playback.reference.read(at, n).astype(np.int16)

    def _pass(self) -> bytes:
        """The input not yet given back, as it came; each stretch of it scored by the fit
        of the search that ended with it."""
        count = self._capture.count
        start, n = self._out_from, count - self._out_from
        if n <= 0:
            return b""
        near = self._capture.history.read(start, n)
        self._out_from = count
        at = start
        for end, fit in [*self._fits, (count, self._fit)]:
            if end > at:
                piece = near[at - start:end - start]
                energy = float(piece @ piece)
                self._scores.append(_Piece(at, end, energy, energy, fit, False))
                at = end
        return bytes(near.astype("<i2").tobytes())

    # -- scoring -------------------------------------------------------------------------

    def replayed(self, start: int, end: int) -> float:
        """The share of the input between output samples ``start`` and ``end`` (as it
        arrived, before any cancelling) that the audio sent explains: 1 when it is all
        the server's own voice coming back, 0 when nothing was sent lately.

        The frame scores judge the input as it comes, and miss the echo's first few
        hundred milliseconds while its delay is still being found (longer when a loaded
        server reads the input late); a user turn or a barge-in made of those echoed
        words is judged again here, whole, before it may take the floor."""
        if not self._active:
            return 0.0
        end = min(end, self._capture.count)
        start = max(start, end - int(REPLAYED_SECONDS * RATE), self._capture.history.start)
        n = end - start
        if n < int(REPLAYED_LEAST * RATE):
            return 0.0
        top = self._capture.timeline(end)
        ahead = int(REPLAYED_AHEAD * RATE)
        return replayed_share(self._capture.history.read(start, n),
                              self._playback.reference.read(top - n - SPAN, n + SPAN + ahead),
                              self.delay, ahead)

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
