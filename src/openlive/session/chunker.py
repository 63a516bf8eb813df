"""Cut a streamed language-model reply into pieces worth speaking, as early as sensible.

Theory of operation: the language model sends text deltas of a few characters. Speech
synthesis needs whole phrases (it cannot pronounce half a word, and a phrase cut in the
wrong place sounds wrong), but every character we wait for is latency. So:

* the **first** piece is cut at the first clause boundary (comma, semicolon, colon,
  dash, ellipsis) once it holds at least ``first_clause_words`` words: "Sure, here is
  what I found:" starts speaking while the model is still writing the sentence. Without
  one, it is cut at the first phrase boundary after ``first_phrase_words`` words: before
  a preposition or conjunction that opens a phrase ("There are seven days | in a
  week."). A small model on two cores writes about 20 tokens a second, so a sentence of
  eight words costs half a second before synthesis can start; the phrase costs a quarter.
  Where that first cut falls a listener hears at most a slight break, as a speaker
  taking a breath; later pieces stay whole sentences;
* later pieces end at sentence ends (``.`` ``!`` ``?`` ``…`` and their CJK forms), at
  line breaks (list items, headings, paragraphs), or, in a run-on sentence, at a
  clause boundary once the piece holds ``max_words`` words, and at the last space
  once it holds ``hard_max_words``.

A period only ends a sentence when whitespace follows it, so ``3.5``, ``1,000``,
``10:30`` and ``example.com`` never cut; abbreviations (``Mr.``, ``e.g.``, ``U.S.``,
initials) do not cut either. Where the next word decides (``etc.``), the chunker waits
for it.

Markdown is written for eyes, not ears: code fences are dropped whole, headings, list
markers, quotes, emphasis, backticks and HTML tags are stripped, links are read as their
text, bare URLs as their host name, images and emoji not at all. A cut never falls
inside an unfinished link, inline code span or parenthesis.

The chunker is pure: no I/O, no clock. Make one per model turn, call :meth:`feed`
with each delta and speak what it returns, then call :meth:`flush` when the turn's text
is complete. :func:`split_text` does both for a whole text, :func:`speakable` cleans one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TextChunker", "speakable", "split_text"]

# Words after which a period is not a sentence end (compared lower-case, without the dot).
_ABBREVIATIONS = frozenset(
    re.findall(
        r"\S+",
        """
        mr mrs ms mx dr prof sr jr st mt ft rev gen col capt lt sgt gov sen rep pres hon
        vs cf approx dept est fig figs vol vols ch sec no nos pp inc ltd co corp
        jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
        ave blvd rd e.g i.e a.k.a etc u.s u.k a.m p.m ph.d min max misc ref resp
        """,
    )
)
# Abbreviations that often end a sentence too: a cut when the next word is capitalized.
_DOTTED = re.compile(r"[^\W\d_]{1,3}(?:\.[^\W\d_]{1,3})+")  # "u.n", "ph.d": letters only
_MAYBE_FINAL = frozenset(re.findall(r"\S+", "etc u.s u.k a.m p.m inc ltd co corp"))

_CLOSERS = "\"'”’)]»」』"
_CLOSE = f"[{re.escape(_CLOSERS)}]*"
# A sentence mark counts once whitespace follows it ("3.5" is no sentence end); "!" and "?"
# count at once, at the end of the text received so far.
_SENTENCE = re.compile(rf"(?:[.!?]+|…+){_CLOSE}(?=\s)|[!?]+{_CLOSE}$|[。！？]+{_CLOSE}")
_CLAUSE = re.compile(r"(?:[,;:]|\.\.\.|…)(?=\s)|[—、，；：]|\s[–-](?=\s)")
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
# English words that open a phrase: a first piece may end just before one (lower-case).
_PHRASE_OPENERS = frozenset(re.findall(r"\S+", """
    in on at of for with from by about into onto during after before since until through
    across over under between among around near and but or because that which who when
    where while if so as than
"""))
_WORD_AHEAD = re.compile(r"\s+([^\W\d_]+)(?=[\s,.;:!?])")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

# Block-level Markdown at the start of a line: heading, quote, list item.
_LINE_PREFIX = re.compile(r"[ \t]*(?:(?:#{1,6}|>|[-*+•]|\d{1,3}[.)])(?=[ \t]|$)[ \t]*)*")
_PARTIAL_PREFIX = re.compile(r"#{0,6}|>|[-*+•]|\d{0,3}[.)]?")  # may still become one
_RULE_LINE = re.compile(
    r"[ \t]*(?:(?:[-*_][ \t]*){3,}|\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?)$"
)
_RULE_CHARS = frozenset("-*_|: \t")
_FENCES = ("```", "~~~")

_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]]+")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<![\w\\])(_{1,2})(?=\S)(.+?)(?<=\S)\1(?!\w)")
_HASH = re.compile(r"(?<!\w)#+(?=\w)")
_TIMES = re.compile(r"(?<=\d) \* (?=\d)")
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\ufe0e\ufe0f\u200d\u20e3"
    "\U000e0020-\U000e007f]"
)
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?…])")
_ALNUM = re.compile(r"[^\W_]")


def speakable(text: str) -> str:
    """Markdown-free, emoji-free, single-spaced text to hand to a synthesizer.

    Use on a complete piece (block-level Markdown is handled by :class:`TextChunker`;
    here a ``# heading`` marker is merely dropped). Returns ``""`` when nothing in
    ``text`` can be pronounced.
    """
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(lambda m: _host(m.group(1)), text)
    text = _URL.sub(_say_url, text)
    text = _HTML_TAG.sub(" ", text)
    text = _TIMES.sub(" times ", text)
    text = text.replace("`", "").replace("**", "").replace("~~", "").replace("*", "")
    text = _UNDERSCORE_EMPHASIS.sub(r"\2", text)
    text = _HASH.sub("", text)
    text = _EMOJI.sub("", text).replace("|", " ")
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip()
    return text if _ALNUM.search(text) else ""


def split_text(text: str, **options: int) -> list[str]:
    """All speakable pieces of a complete text (a :class:`TextChunker` fed once, flushed)."""
    chunker = TextChunker(**options)
    return chunker.feed(text) + chunker.flush()


@dataclass(slots=True)
class _Lines:
    """Block-level Markdown, line by line, on a stream: what is left is inline text."""

    pending: str = ""  # received, not yet classified (the start of an undecided line)
    at_line_start: bool = True
    skipping_line: bool = False  # the rest of this line is a fence marker or a rule
    fence: str | None = None  # the marker of the code fence we are inside, if any

    def take(self, delta: str, *, final: bool) -> str:
        """Inline text (lines end with ``\\n``) made available by ``delta``."""
        self.pending += delta
        out: list[str] = []
        while self.pending:
            if self.at_line_start:
                if not self._start_line(final, out):
                    break
                continue
            newline = self.pending.find("\n")
            body = self.pending if newline < 0 else self.pending[:newline]
            if self.fence is None and not self.skipping_line:
                out.append(body)
            if newline < 0:
                self.pending = ""
                break
            self.pending = self.pending[newline + 1 :]
            self.at_line_start, self.skipping_line = True, False
            out.append("\n")
        return "".join(out)

    def _start_line(self, final: bool, out: list[str]) -> bool:
        """Classify the line starting ``pending``; False when more text must arrive first."""
        newline = self.pending.find("\n")
        complete = final or newline >= 0
        head = self.pending if newline < 0 else self.pending[:newline]
        marker = head.lstrip(" ")
        if not complete and len(marker) < 3 and any(f.startswith(marker) for f in _FENCES):
            return False
        if self.fence is not None:
            if marker.startswith(self.fence):
                self.fence, self.skipping_line = None, True
            self.at_line_start = False
            return True
        if marker[:3] in _FENCES:
            self.fence, self.skipping_line, self.at_line_start = marker[:3], True, False
            return True
        if set(head) <= _RULE_CHARS and head.strip():
            if not complete:
                return False
            if _RULE_LINE.match(head):
                self.skipping_line, self.at_line_start = True, False
                return True
        prefix = _LINE_PREFIX.match(head)
        end = prefix.end() if prefix else 0
        if not complete and _PARTIAL_PREFIX.fullmatch(head, end):
            return False
        self.pending = self.pending[end:]
        self.at_line_start = False
        return True


class TextChunker:
    """Streamed text deltas in, speakable pieces out; one instance per model turn.

    ``first_clause_words``: the first piece may end at a clause boundary once it has
    this many words. ``max_words``: any piece may end at a clause boundary past this
    many words. ``hard_max_words``: past this, cut at the last space whatever it is.
    """

    def __init__(
        self, *, first_clause_words: int = 4, first_phrase_words: int = 4, max_words: int = 30,
        hard_max_words: int = 60
    ) -> None:
        if not 1 <= first_clause_words <= max_words < hard_max_words:
            raise ValueError("need 1 <= first_clause_words <= max_words < hard_max_words")
        if first_phrase_words < 0:
            raise ValueError("first_phrase_words must be 0 (off) or more")
        self._first_clause_words = first_clause_words
        self._first_phrase_words = first_phrase_words
        self._max_words = max_words
        self._hard_max_words = hard_max_words
        self._lines = _Lines()
        self._text = ""  # inline text not yet cut into a piece
        self._pieces = 0  # pieces returned so far

    def feed(self, delta: str) -> list[str]:
        """Take the next delta; return the pieces it completed (often none). Call per delta."""
        self._text += self._lines.take(delta, final=False)
        return self._cut(final=False)

    def flush(self) -> list[str]:
        """The text is complete: return what is left, cut into pieces. Call once, at the end."""
        self._text += self._lines.take("", final=True)
        pieces = self._cut(final=True)
        rest, self._text = speakable(self._text), ""
        if rest:
            pieces.append(rest)
        return pieces

    def _cut(self, *, final: bool) -> list[str]:
        pieces: list[str] = []
        while (end := self._boundary(final)) is not None:
            piece = speakable(self._text[:end])
            self._text = self._text[end:].lstrip()
            if piece:
                pieces.append(piece)
                self._pieces += 1
        return pieces

    def _boundary(self, final: bool) -> int | None:
        """End index of the first piece in ``self._text``, or None to wait for more."""
        text = self._text
        newline = text.find("\n")
        scope = text if newline < 0 else text[:newline]
        sentence = next(
            (
                m.end()
                for m in _SENTENCE.finditer(scope)
                if self._is_sentence_end(text, m, final) and _cuttable(text, m.end())
            ),
            None,
        )
        clause_words = self._first_clause_words if self._pieces == 0 else self._max_words
        clause = next(
            (
                m.end()
                for m in _CLAUSE.finditer(scope, 0, sentence or len(scope))
                if _word_count(text[: m.end()]) >= clause_words and _cuttable(text, m.end())
            ),
            None,
        )
        if clause is not None or sentence is not None:
            return min(end for end in (clause, sentence) if end is not None)
        if self._pieces == 0 and self._first_phrase_words:
            phrase = self._phrase_boundary(scope)
            if phrase is not None:
                return phrase
        if newline >= 0:
            return newline + 1
        if _word_count(text) > self._hard_max_words:
            space = text.rstrip().rfind(" ")
            return space + 1 if space > 0 else None
        return None

    def _phrase_boundary(self, scope: str) -> int | None:
        """Where a phrase opens after enough words (the start of its opening word)."""
        for match in _WORD_AHEAD.finditer(scope):
            if (match.group(1).lower() in _PHRASE_OPENERS
                    and _word_count(scope[: match.start()]) >= self._first_phrase_words
                    and _cuttable(scope, match.start())):
                return match.start(1)
        return None

    def _is_sentence_end(self, text: str, match: re.Match[str], final: bool) -> bool:
        mark = match.group(0).rstrip(_CLOSERS)
        if not _ALNUM.search(text[: match.start()]):
            return False  # nothing to say before it ("...", a lone "1.")
        if mark.startswith("…") or (mark.startswith(".") and len(mark) > 1):
            # "I see... Then" ends a sentence, "Well... maybe" is a clause (see _CLAUSE)
            return self._next_is_capital(text, match.end(), final) is True
        if mark != ".":
            return True
        word = _word_before(text, match.start())
        if len(word) == 1 and word.isupper():
            return False  # an initial: "J. K. Rowling"
        key = word.lower()
        if key not in _ABBREVIATIONS and not _DOTTED.fullmatch(key):
            return True
        if key in _MAYBE_FINAL:
            return self._next_is_capital(text, match.end(), final) is True
        return False

    @staticmethod
    def _next_is_capital(text: str, start: int, final: bool) -> bool | None:
        """Whether the next word starts with a capital; None when it has not arrived."""
        rest = text[start:].lstrip()
        if not rest:
            return True if final else None
        return rest[0].isupper() or not rest[0].isalpha()


def _word_before(text: str, end: int) -> str:
    """The word (dots inside allowed, as in ``e.g``) that ends at ``end``."""
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "."):
        start -= 1
    return text[start:end].strip(".")


def _word_count(text: str) -> int:
    return len(_WORD.findall(text)) + len(_CJK.findall(text)) // 2


def _cuttable(text: str, end: int) -> bool:
    """Whether ``text[:end]`` closes every link, code span and parenthesis it opens."""
    head = text[:end]
    if head.count("`") % 2 or head.count("[") > head.count("]"):
        return False
    return head.count("(") <= head.count(")")


def _say_url(match: re.Match[str]) -> str:
    """A bare URL is read as its host; punctuation after it stays."""
    url = match.group(0)
    bare = url.rstrip(".,;:!?")
    return _host(bare) + url[len(bare) :]


def _host(url: str) -> str:
    """``https://www.example.com/a?b`` → ``example.com``."""
    host = re.sub(r"^(?:https?://)?(?:www\.)?", "", url).split("/", 1)[0]
    return host.rstrip(".,;:!?")
