"""Echo guard: does the microphone hear the model's own voice coming back?

On a speakerphone the answer the server sends returns, delayed and coloured, in the
user's audio; without a guard the VAD takes it for the user and the model interrupts
itself. The server knows what it sent, so it compares loudness envelopes: the last
half second of input against the sent audio at every delay up to
:data:`MAX_DELAY_SECONDS`. A high correlation means the input is mostly echo (the session's threshold decides). When the
user really talks over the answer, their voice breaks the correlation and the guard
lets it through.
"""

from __future__ import annotations

from collections import deque

import numpy as np

HOP_SECONDS = 0.016  # half a VAD frame: a syllable spans several hops
WINDOW_HOPS = 64  # ~1 s of input compared at a time (shorter windows match by chance)
MAX_DELAY_SECONDS = 1.5  # the client's buffer, playback and the acoustic path
_SILENT_DB = -55.0


def _level_db(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if samples.size == 0:
        return _SILENT_DB
    rms = float(np.sqrt(np.mean(samples * samples))) / 32768.0
    return max(_SILENT_DB, 20.0 * float(np.log10(rms + 1e-9)))


class EchoGuard:
    """Per session: the envelope of audio sent, and of audio heard, on one time grid."""

    def __init__(self) -> None:
        self._sent: deque[tuple[float, float]] = deque()  # (wall time, level dB) per hop
        self._heard: deque[float] = deque(maxlen=WINDOW_HOPS)

    def sent(self, pcm24k: bytes, at: float) -> None:
        """Audio the server just sent, as it leaves (``at``: wall clock)."""
        hop = int(24_000 * HOP_SECONDS) * 2
        for i in range(0, len(pcm24k) - hop + 1, hop):
            self._sent.append((at + (i // hop) * HOP_SECONDS, _level_db(pcm24k[i:i + hop])))
        while self._sent and self._sent[0][0] < at - MAX_DELAY_SECONDS - 3.0:
            self._sent.popleft()

    def heard(self, frame16k: bytes, at: float) -> float:
        """Score one input frame that ended at wall time ``at``: 0 (not echo) .. 1 (echo)."""
        if not self._sent or self._sent[-1][0] < at - MAX_DELAY_SECONDS - 2.0:
            # nothing was said lately: no echo possible, and no need to measure levels
            self._heard.clear()
            return 0.0
        half = len(frame16k) // 2
        self._heard.append(_level_db(frame16k[:half]))
        self._heard.append(_level_db(frame16k[half:]))
        if len(self._heard) < WINDOW_HOPS or len(self._sent) < WINDOW_HOPS:
            return 0.0
        heard = np.array(self._heard)
        if heard.std() < 1.0:
            return 0.0  # flat input (silence or steady noise) is not echo of speech
        times = np.array([t for t, _ in self._sent])
        levels = np.array([v for _, v in self._sent])
        delays = np.arange(0.0, MAX_DELAY_SECONDS, HOP_SECONDS)
        grid = at - HOP_SECONDS * np.arange(WINDOW_HOPS)[::-1]  # times of the heard hops
        shifted = grid[None, :] - delays[:, None]
        usable = (shifted[:, 0] >= times[0]) & (shifted[:, -1] <= times[-1])
        if not usable.any():
            return 0.0
        reference = np.interp(shifted[usable], times, levels)
        reference -= reference.mean(axis=1, keepdims=True)
        spread = np.linalg.norm(reference, axis=1)
        centred = heard - heard.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = reference @ centred / (spread * np.linalg.norm(centred))
        correlation = correlation[spread > 1.0]
        return float(np.nanmax(correlation)) if correlation.size else 0.0
