"""Recognizing while the user speaks: which words of repeated decodes are settled.

Pure and I/O-free: no model, no clock. The caller decodes the utterance's audio so far
(every 0.5–1 s while the user speaks) and hands each decode's words to
:class:`LocalAgreement`, which says which words are now *committed* (will not change)
and which are the still-revisable *tail*.

Theory of operation
-------------------
Whisper has no incremental decoding: each decode reads the whole audio buffer again and
may change its mind about the last words ("for" → "four" once the next word is heard).
LocalAgreement-n (Macháček et al., 2023, the policy of ufal/whisper_streaming) commits a
word once ``n`` consecutive decodes agree on it: the committed words grow by the longest
common prefix of the last ``n`` hypotheses, each taken after what is already committed.
Committed words are never taken back; the caller may send them on (to the language
model's prefill, to the client) at once.

Each decode repeats the committed words it covers, not always identically (punctuation,
case, a revised word). So a decode is first *aligned* with the committed words that lie
in its audio (a word-level edit distance; the committed words are matched to the
decode's shortest-cost prefix) and only the words after that prefix count. Words are
compared normalized (case and punctuation ignored).

Trimming. A decode costs about as much as the audio it covers, so without trimming the
last decode at the end of speech is a whole-utterance decode again. With word timestamps
the caller may :meth:`~LocalAgreement.trim` the audio buffer at the end of a committed
word: later decodes cover only the audio after it, with the committed text as Whisper's
prompt (:meth:`~LocalAgreement.prompt`), and their word times are relative to the new
start. A decode of trimmed audio no longer repeats the committed words, except at the
cut, where Whisper's word times are only good to about 0.1 s: up to ``overlap`` words
that repeat the end of the committed text are dropped.

At the end of the utterance :meth:`~LocalAgreement.flush` commits the final decode's
words (or, without one, the last tail).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

_NOT_WORD = re.compile(r"[^\w']+")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognized word; times in seconds from the start of the utterance, if known.

    Words handed to :meth:`LocalAgreement.update` are timed from the start of the audio
    buffer the decode covered; those the policy returns are timed from the utterance's
    start (the buffer's offset added).
    """

    text: str
    start: float | None = None
    end: float | None = None

    @property
    def key(self) -> str:
        """What must agree between decodes: lower case, no punctuation."""
        return _NOT_WORD.sub("", self.text.casefold())

    def shifted(self, offset: float) -> Word:
        if offset == 0 or self.start is None or self.end is None:
            return self
        return Word(self.text, self.start + offset, self.end + offset)


def words_of(text: str) -> tuple[Word, ...]:
    """A transcript without timestamps as words (split at white space)."""
    return tuple(Word(piece) for piece in text.split())


def join(words: Sequence[Word]) -> str:
    """The words as text, one space between them."""
    return " ".join(w.text.strip() for w in words if w.text.strip())


@dataclass(frozen=True, slots=True)
class Update:
    """What one decode changed.

    ``committed``: the words settled by this decode, in order (append them to what was
    committed before; they never change). ``tail``: the newest decode's words after
    everything committed, which later decodes may still revise (empty after a flush).
    """

    committed: tuple[Word, ...]
    tail: tuple[Word, ...]


class LocalAgreement:
    """The LocalAgreement-``agreement`` policy for one growing utterance.

    Call :meth:`update` with each decode of the audio buffer (in order), :meth:`trim`
    when the buffer is cut at a committed word, and :meth:`flush` once at the end. One
    instance per utterance. ``overlap``: how many words at a cut may repeat the end of
    the committed text and be dropped as such.
    """

    def __init__(self, agreement: int = 2, *, overlap: int = 5) -> None:
        if agreement < 1:
            raise ValueError(f"agreement must be at least 1, got {agreement}")
        self.agreement = agreement
        self.overlap = overlap
        self._committed: list[Word] = []
        self._in_buffer = 0  # index of the first committed word inside the audio buffer
        self._offset = 0.0  # where the audio buffer starts in the utterance, seconds
        # the last ``agreement`` decodes' words after the committed ones
        self._recent: deque[tuple[Word, ...]] = deque(maxlen=agreement)
        self._flushed = False

    # -- reading --------------------------------------------------------------------------

    @property
    def committed(self) -> tuple[Word, ...]:
        """Every word committed so far, in order."""
        return tuple(self._committed)

    @property
    def tail(self) -> tuple[Word, ...]:
        """The newest decode's words after the committed ones (revisable)."""
        return self._recent[-1] if self._recent else ()

    @property
    def offset(self) -> float:
        """Where the audio buffer starts, in seconds from the utterance's start."""
        return self._offset

    @property
    def text(self) -> str:
        """The committed words as text."""
        return join(self._committed)

    def prompt(self, max_chars: int = 600) -> str:
        """The committed text before the audio buffer, for Whisper's prompt after a trim
        (its end, at most ``max_chars``; Whisper keeps 223 prompt tokens)."""
        text = join(self._committed[: self._in_buffer])
        return text[-max_chars:].lstrip() if len(text) > max_chars else text

    def trim_point(self) -> float | None:
        """The end of the last committed word, if it is timed and after the buffer's
        start: where :meth:`trim` may cut. None when there is no such point."""
        if len(self._committed) <= self._in_buffer:
            return None
        end = self._committed[-1].end
        return end if end is not None and end > self._offset else None

    # -- feeding --------------------------------------------------------------------------

    def update(self, words: Sequence[Word]) -> Update:
        """One decode of the whole audio buffer: commit what the last decodes agree on."""
        self._check_open()
        fresh = self._after_committed(tuple(w.shifted(self._offset) for w in words))
        self._recent.append(fresh)
        if len(self._recent) < self.agreement:
            return Update((), fresh)
        settled = _common_prefix(list(self._recent))
        agreed = fresh[:settled]
        if agreed:
            self._committed += agreed
            self._recent = deque((h[settled:] for h in self._recent), maxlen=self.agreement)
        return Update(agreed, fresh[settled:])

    def trim(self, at: float) -> None:
        """The audio buffer now starts at ``at`` (utterance time): later decodes cover
        only what follows, and their word times count from ``at``.

        ``at`` must not be before the current start nor after the end of the last
        committed word (see :meth:`trim_point`); committed words that end by ``at`` are
        outside the buffer from now on.
        """
        self._check_open()
        if at < self._offset:
            raise ValueError(f"cannot trim at {at:.3f} s, before the buffer's start")
        last = self._committed[-1].end if self._committed else None
        if last is None or at > last + 1e-9:
            raise ValueError(f"cannot trim at {at:.3f} s, after the committed words")
        self._offset = at
        while (self._in_buffer < len(self._committed)
               and _ends_by(self._committed[self._in_buffer], at)):
            self._in_buffer += 1

    def flush(self, words: Sequence[Word] | None = None) -> Update:
        """The utterance ended: commit the final decode's words after the committed ones
        (``words``, a decode of the buffer to its end), or without one the last tail.
        No call is accepted afterwards."""
        self._check_open()
        if words is None:
            rest = self.tail
        else:
            rest = self._after_committed(tuple(w.shifted(self._offset) for w in words))
        self._committed += rest
        self._recent.clear()
        self._flushed = True
        return Update(tuple(rest), ())

    # -- helpers --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._flushed:
            raise ValueError("this utterance was flushed; start a new LocalAgreement")

    def _after_committed(self, words: tuple[Word, ...]) -> tuple[Word, ...]:
        """``words`` without the part that repeats committed words (see the module doc)."""
        inside = [w.key for w in self._committed[self._in_buffer:]]
        keys = [w.key for w in words]
        if inside:
            return words[_aligned_end(inside, keys):]
        if self._committed:  # the buffer was cut: drop a repeat of the text before it
            before = [w.key for w in self._committed[-self.overlap:]]
            return words[_repeated(before, keys, self.overlap):]
        return words


def _ends_by(word: Word, at: float) -> bool:
    return word.end is None or word.end <= at + 1e-9


def _common_prefix(hypotheses: list[tuple[Word, ...]]) -> int:
    """How many leading words all ``hypotheses`` share (by key)."""
    count = min(len(h) for h in hypotheses)
    for i in range(count):
        key = hypotheses[0][i].key
        if any(h[i].key != key for h in hypotheses[1:]):
            return i
    return count


def _aligned_end(committed: list[str], keys: list[str]) -> int:
    """The length of the prefix of ``keys`` that best matches all of ``committed``
    (fewest substitutions, insertions and deletions; on a tie, the longer prefix: a
    decode more often revises a committed word than drops one)."""
    previous = list(range(len(keys) + 1))  # row for no committed word
    for i, word in enumerate(committed, 1):
        row = [i] + [0] * len(keys)
        for j, key in enumerate(keys, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != key))
        previous = row
    best = min(previous)
    return max(j for j, cost in enumerate(previous) if cost == best)


def _repeated(before: list[str], keys: list[str], limit: int) -> int:
    """How many leading ``keys`` repeat the last words of ``before`` (at most ``limit``)."""
    for n in range(min(limit, len(before), len(keys)), 0, -1):
        if before[-n:] == keys[:n]:
            return n
    return 0
