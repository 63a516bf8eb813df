"""When each word of a Whisper decode was said: cross-attention alignment on CTranslate2.

Whisper's decode gives text, not times. CTranslate2's ``Whisper.align`` takes the
encoder's output and the decoded tokens, reads the cross-attention of the model's
alignment heads (``alignment_heads`` in its config.json) and finds, by dynamic time
warping, the 20 ms encoder frame where each token begins. faster-whisper wraps it with
the reference implementation's rules (tokens grouped into words, punctuation merged into
its word, a word at a pause no longer than twice the median word):
``WhisperModel.add_word_timestamps``, used here as is on one segment that covers the
utterance. It costs one decoder pass over the tokens, on the encoder output the decode
already made (docs/asr.md "Word timings" has the measurements).

Pauses. The alignment has no notion of silence: each word ends where the next begins,
a pause goes to the word after it, and the boundaries come out about 0.1 s early. On
words spoken with known gaps between them (``bench/word_timings.py``) the starts were
off by 265 ms on average, and the first word often started at the audio's first sample,
in the silence before the speech. So the words are then fitted to the pauses the audio
itself shows (:func:`fit_to_pauses`): a stretch of at least :data:`MIN_PAUSE` whose 10
ms frames are all near the noise floor holds no word; a word whose span runs over such
a pause starts after it, and the word before it ends where the pause begins. Within
continuous speech nothing moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from openlive.audio.pcm import FloatArray
from openlive.audio.words import TimedWord, ordered

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

# faster-whisper's own defaults (``WhisperModel.transcribe``): punctuation that belongs
# to the word after it, and to the word before it
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
HOP_SAMPLES = 160  # Whisper's log-mel hop: 100 feature frames per second at 16 kHz
SAMPLE_RATE = 16_000
FRAME_S = 0.01  # the level is measured on 10 ms frames
# A pause: this long with every frame near the noise floor. Stop consonants close the
# mouth for 50-100 ms inside a word; a pause this long is between words.
MIN_PAUSE = 0.15
# A frame this far above the noise floor (the 5th percentile of the frames' levels) may
# be speech; a third of the way up to the loud frames (95th percentile) in noisy audio.
ABOVE_FLOOR_DB = 10.0
# Below this much between the loud frames and the noise floor the audio is too noisy,
# or has no silence, to tell pauses apart: nothing is fitted.
MIN_RANGE_DB = 15.0
# frames quieter than one step of 16-bit PCM (about -90 dBFS) come from a synthesizer
# (exact zeros, a resampler's rounding), not from a microphone
DIGITAL_SILENCE_DB = -90.0


def align_words(whisper: WhisperModel, tokenizer: Any, tokens: list[int], encoded: Any,
                samples: FloatArray, frames: int) -> tuple[TimedWord, ...]:
    """The words of ``tokens`` (a decode of ``samples``, 16 kHz, padded to ``frames``
    feature frames before encoding into ``encoded``), each with the seconds where it
    starts and ends in that audio. ``tokenizer`` is the decode's (its start sequence
    names the language). Blocking: run it where the decode ran."""
    if not tokens:
        return ()
    duration = len(samples) / SAMPLE_RATE
    # the frames that hold audio: the DTW must not wander into the padding
    content = max(1, min(len(samples) // HOP_SAMPLES, frames))
    segment: list[dict[str, Any]] = [{"tokens": tokens, "seek": 0, "start": 0.0,
                                      "end": duration}]
    whisper.add_word_timestamps([segment], tokenizer, encoded, content,
                                PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS, 0.0)
    aligned = ordered(((w["word"], w["start"], w["end"]) for w in segment[0]["words"]),
                      duration)
    return fit_to_pauses(aligned, pauses(samples), duration)


def pauses(samples: FloatArray) -> list[tuple[float, float]]:
    """The stretches of ``samples`` (16 kHz) with no speech: at least :data:`MIN_PAUSE`
    of 10 ms frames within :data:`ABOVE_FLOOR_DB` of the noise floor, as (start, end)
    seconds; none when the audio is too noisy to tell (:data:`MIN_RANGE_DB`)."""
    size = int(FRAME_S * SAMPLE_RATE)
    count = len(samples) // size
    if count == 0:
        return []
    frames = np.asarray(samples[: count * size], dtype=np.float64).reshape(count, size)
    level = 10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-12)
    # digital silence (synthesized speech has runs of exact zeros) is no noise floor
    audible = level[level > DIGITAL_SILENCE_DB]
    if len(audible) == 0:
        return []
    floor, loud = np.percentile(audible, 5), np.percentile(audible, 95)
    if loud - floor < MIN_RANGE_DB:
        return []
    quiet = level < floor + min(ABOVE_FLOOR_DB, (loud - floor) / 3)
    found, start = [], None
    for i, still in enumerate([*quiet.tolist(), False]):  # a sentinel ends a last run
        if still and start is None:
            start = i
        elif not still and start is not None:
            if (i - start) * FRAME_S >= MIN_PAUSE - 1e-9:
                found.append((start * FRAME_S, i * FRAME_S))
            start = None
    return found


def fit_to_pauses(words: tuple[TimedWord, ...], gaps: list[tuple[float, float]],
                  duration: float) -> tuple[TimedWord, ...]:
    """``words`` (in order, from the alignment of ``duration`` seconds of audio) moved
    out of the pauses ``gaps`` (in order): a word that starts in a pause, or whose span
    runs over the end of one, starts where the pause ends (the alignment is early, not
    late: a word it puts in a pause is said after it), and no word starts before the
    one ahead of it; a word followed by a pause before the next word ends where that
    pause begins. The last word, when no pause follows it, runs to the end of the
    audio: the speech goes on to there. Without ``gaps`` (the audio too noisy to tell)
    the words stay as they are."""
    if not gaps:
        return words
    starts: list[float] = []
    for word in words:
        start = word.start
        for begin, end in gaps:
            if begin <= start < end or start < end < word.end:
                start = end
        starts.append(max(start, starts[-1]) if starts else start)
    fitted = []
    for i, word in enumerate(words):
        start = starts[i]
        last = i + 1 == len(words)
        following = duration if last else starts[i + 1]
        end = duration if last else min(word.end, following)
        for begin, pause_end in gaps:
            if start < begin <= following and (last or pause_end <= following):
                end = begin  # speech stops here; the next word comes after the pause
                break
        fitted.append(TimedWord(word.word, start, max(start, end)))
    return tuple(fitted)


def segment_words(segments: list[Any], duration: float) -> tuple[TimedWord, ...]:
    """The words of faster-whisper's own segments (``transcribe(word_timestamps=True)``,
    for audio longer than one window), in the same form."""
    return ordered(((w.word, w.start, w.end) for s in segments for w in s.words or ()),
                   duration)
