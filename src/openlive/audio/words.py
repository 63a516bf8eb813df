"""Words with the time they were said: what word-level timestamps are made of.

A recognizer times the words of the audio it was given (seconds from that audio's
start); the runtime moves them onto the session's audio stream (seconds of user audio
received since the session began) with :func:`shifted`, and the session puts them on
the wire (``inputTranscription.words``). Plain data, shared by the engines and the
session, neither of which may import the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimedWord:
    """One recognised word, as written in the transcript (punctuation attached), and
    the seconds where it starts and ends."""

    word: str
    start: float
    end: float


def shifted(words: Iterable[TimedWord], seconds: float) -> tuple[TimedWord, ...]:
    """``words`` timed from a point ``seconds`` later in the stream than their own zero
    (the audio a recognizer was given started there)."""
    return tuple(TimedWord(w.word, w.start + seconds, w.end + seconds) for w in words)


def ordered(words: Iterable[tuple[str, float, float]], duration: float
            ) -> tuple[TimedWord, ...]:
    """Aligned ``(word, start, end)`` as :class:`TimedWord`, fit for a client to read:
    whitespace stripped and empty words dropped, every time within ``0..duration``
    (the audio's length), no word starting before the previous one or ending before
    it starts. Cross-attention alignment gives no such guarantee at the edges (a
    last word may end past the audio, a word may have no frames of its own)."""
    result: list[TimedWord] = []
    floor = 0.0
    for word, start, end in words:
        text = word.strip()
        if not text:
            continue
        begin = min(max(float(start), floor), duration)
        result.append(TimedWord(text, begin, min(max(float(end), begin), duration)))
        floor = begin
    return tuple(result)
