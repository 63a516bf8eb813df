"""How something was said, apart from the words: the loudness, pitch and pace of an utterance.

Plain numpy on 16 kHz 16-bit mono PCM, no model and no I/O; the runtime measures a
user turn's audio with :func:`measure_prosody` and the session judges the tone from the
result (:mod:`openlive.session.affect`).

Theory of operation. The audio is cut into 40 ms frames every 10 ms.

* Loudness: each frame's RMS level in dBFS. The frames within :data:`SPEECH_RANGE_DB` of
  the loudest ones (and above an absolute floor) are the speech; their power mean is the
  *active speech level* (in the spirit of ITU-T P.56), which pauses and breaths do not
  pull down, and their count is the seconds of speech.
* Pitch: YIN (de Cheveigné and Kawahara, 2002) on the speech frames: the difference
  function from an FFT cross-correlation, normalized by its cumulative mean, and the first
  dip below :data:`YIN_THRESHOLD` between 60 and 500 Hz, refined by a parabola. Frames
  with no such dip are unvoiced. The median is the voice's pitch; the span between the
  10th and 90th percentiles, in semitones, how much it moves (an excited voice swings
  wider; the percentiles ignore the odd octave error).
* Pace: syllable nuclei counted as peaks of the smoothed loudness, at least
  :data:`MIN_SYLLABLE_GAP` apart, voiced, risen :data:`NUCLEUS_RISE_DB` from the dip
  before them and no more than :data:`NUCLEUS_DIP_DB` below the speech level (de Jong
  and Wempe's method, simplified), per second of speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATE = 16_000
FRAME = 640  # samples: 40 ms, two periods of the lowest pitch looked for
HOP = 160  # 10 ms
HALF = FRAME // 2  # YIN's integration window, and its longest lag
FFT = 1024  # >= FRAME + HALF: the cross-correlation does not wrap
MIN_PITCH, MAX_PITCH = 60.0, 500.0
YIN_THRESHOLD = 0.2  # a dip of the normalized difference below this is a period
FLOOR_DB = -55.0  # frames quieter than this are never speech
SPEECH_RANGE_DB = 30.0  # speech frames: within this of the loudest (95th percentile)
MIN_SPEECH_SECONDS = 0.3  # less than this is not enough to judge anything
MIN_VOICED_FRAMES = 10  # for a pitch
MIN_SYLLABLE_GAP = 0.1  # seconds between two syllable nuclei, at the least
NUCLEUS_DIP_DB = 14.0  # a nucleus is at most this far below the speech level
NUCLEUS_RISE_DB = 2.0  # and rises at least this far above the dip since the last one

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Prosody:
    """The measured manner of one utterance (see the module docstring)."""

    seconds: float  # of speech: frames within the speech range, pauses left out
    level_db: float  # active speech level, dBFS
    pitch_hz: float | None  # median pitch of the voiced frames; None: too few
    pitch_range: float | None  # semitones between the 10th and 90th percentile of pitch
    syllable_rate: float | None  # syllable nuclei per second of speech; None: no pitch


def measure_prosody(pcm: bytes, rate: int = RATE) -> Prosody | None:
    """The prosody of ``pcm`` (16-bit mono at 16 kHz), or None when it holds too little
    speech to judge (under :data:`MIN_SPEECH_SECONDS`)."""
    if rate != RATE:
        raise ValueError(f"prosody is measured at {RATE} Hz, not {rate}")
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0
    if len(samples) < FRAME:
        return None
    frames = _frames(samples - samples.mean())
    level = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    speech = level >= max(FLOOR_DB, float(np.percentile(level, 95)) - SPEECH_RANGE_DB)
    seconds = float(np.count_nonzero(speech)) * HOP / RATE
    if seconds < MIN_SPEECH_SECONDS:
        return None
    level_db = float(10.0 * np.log10(np.mean(10.0 ** (level[speech] / 10.0))))
    pitch = np.full(len(frames), np.nan)
    pitch[speech] = yin_pitch(frames[speech])
    voiced = pitch[~np.isnan(pitch)]
    if len(voiced) < MIN_VOICED_FRAMES:
        return Prosody(seconds, level_db, None, None, None)
    median = float(np.median(voiced))
    low, high = np.percentile(voiced, [10, 90])
    nuclei = _syllable_nuclei(level, ~np.isnan(pitch), level_db)
    return Prosody(seconds, level_db, median, float(12.0 * np.log2(high / low)),
                   nuclei / seconds)


def yin_pitch(frames: FloatArray) -> FloatArray:
    """The pitch (Hz) of each :data:`FRAME`-sample frame, NaN where it is unvoiced."""
    if len(frames) == 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(frames, FFT)
    head = np.fft.rfft(frames[:, :HALF], FFT)
    correlation = np.fft.irfft(np.conj(head) * spectrum, FFT)[:, : HALF + 1]
    energy = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    window = energy[:, HALF : HALF + HALF + 1] - energy[:, : HALF + 1]  # from each lag on
    difference = np.maximum(window[:, :1] + window - 2.0 * correlation, 0.0)
    lags = np.arange(HALF + 1)
    running = np.cumsum(difference[:, 1:], axis=1)
    normalized = np.ones_like(difference)
    normalized[:, 1:] = difference[:, 1:] * lags[1:] / np.maximum(running, 1e-12)
    shortest, longest = int(RATE / MAX_PITCH), min(HALF - 1, int(RATE / MIN_PITCH))
    search = normalized[:, shortest : longest + 1] < YIN_THRESHOLD
    voiced = search.any(axis=1)
    rows = normalized[voiced]
    lag = shortest + np.argmax(search[voiced], axis=1)  # the first dip below the threshold
    index = np.arange(len(rows))
    while True:  # down to the bottom of each dip
        deeper = (lag < longest) & (rows[index, np.minimum(lag + 1, HALF)] < rows[index, lag])
        if not deeper.any():
            break
        lag = lag + deeper
    before, at, after = rows[index, lag - 1], rows[index, lag], rows[index, lag + 1]
    curve = before - 2.0 * at + after
    safe = np.where(curve > 0, curve, 1.0)
    shift = np.where(curve > 0, np.clip(0.5 * (before - after) / safe, -0.5, 0.5), 0.0)
    pitches = np.full(len(frames), np.nan)
    pitches[voiced] = RATE / (lag + shift)
    return pitches


def _frames(samples: FloatArray) -> FloatArray:
    count = 1 + (len(samples) - FRAME) // HOP
    index = np.arange(FRAME)[None, :] + HOP * np.arange(count)[:, None]
    frames: FloatArray = samples[index]
    return frames


def _syllable_nuclei(level: FloatArray, voiced: npt.NDArray[np.bool_], speech_db: float) -> int:
    """How many loudness peaks look like syllable nuclei (see the module docstring)."""
    smooth = np.convolve(level, np.ones(5) / 5.0, mode="same")  # 50 ms
    gap = int(MIN_SYLLABLE_GAP * RATE / HOP)
    count, last, trough = 0, -gap, float(smooth[0])
    for i in range(1, len(smooth) - 1):
        trough = min(trough, float(smooth[i]))
        if not (smooth[i] >= smooth[i - 1] and smooth[i] > smooth[i + 1]):
            continue
        if (not voiced[i] or smooth[i] < speech_db - NUCLEUS_DIP_DB
                or smooth[i] - trough < NUCLEUS_RISE_DB or i - last < gap):
            continue
        count, last, trough = count + 1, i, float(smooth[i])
    return count
