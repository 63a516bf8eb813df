"""Scoring transcripts: normalized words, word error rate, script and language checks.

Pure functions, shared by ``bench/understanding.py`` and its CI slice. Both sides of a
comparison go through :func:`words`, so "Mr. Dashwood" matches "mister dashwood" and
"10 meters" matches "ten metres".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# British spellings and written forms a recognizer may choose: mapped to one spelling
_SPELLING = {"mr": "mister", "mrs": "missus", "dr": "doctor", "metres": "meters",
             "metre": "meter", "favourite": "favorite", "colour": "color",
             "okay": "ok", "centre": "center", "mmhmm": "mmhm", "mhm": "mmhm"}
def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent short words per language (without accents): enough to tell which Latin-script
# language a transcript is in, never a full language identifier.
STOPWORDS = {
    "en": _set("the a an is are was of to and in it you he she that what how many do does "
               "have has this my your for on with be not"),
    "es": _set("el la los las es son de que y en un una cual cuantas cuantos tiene por con "
               "para se del lo al"),
    "it": _set("il lo la gli le e di che un una ha per con non del della quante quale qual "
               "sono"),
    "pt": _set("o a os as e de que em um uma tem qual quantas quantos para com nao do da dos "
               "das"),
    "fr": _set("le la les est de que et un une il elle en du des pour avec ne pas qui"),
    "de": _set("der die das ist und ein eine nicht zu mit von wie was ich du er sie es"),
    "nl": _set("de het een is en van dat niet met voor op zijn"),
}


def number_words(n: int) -> list[str]:
    """English cardinal words for 0 <= n < 10**6 (no "and"); digit by digit above."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        rest = number_words(n % 100) if n % 100 else []
        return [_ONES[n // 100], "hundred", *rest]
    if n < 10**6:
        rest = number_words(n % 1000) if n % 1000 else []
        return [*number_words(n // 1000), "thousand", *rest]
    return [_ONES[int(d)] for d in str(n)]


def _plain(text: str) -> str:
    """Lower case without accents (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str, language: str = "en-US") -> list[str]:
    """Normalized words: lower case, no accents or punctuation, hyphens split, English
    numbers as words ("24" -> "twenty four"), one spelling for common variants."""
    text = _plain(text).replace("-", " ").replace("'", "")
    english = language.lower().startswith("en")
    out: list[str] = []
    for token in re.findall(r"\w+", text):
        token = token.replace("_", "")
        if english and token.isdigit():
            out += number_words(int(token))
        elif english and re.fullmatch(r"\d+(st|nd|rd|th)", token):
            out += number_words(int(token[:-2]))
        elif token:
            out.append(_SPELLING.get(token, token) if english else token)
    return out


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions, deletions, insertions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def word_errors(reference: str, heard: str, language: str = "en-US") -> tuple[int, int]:
    """(errors, reference words): sum both over items, then divide, for a corpus WER."""
    ref, hyp = words(reference, language), words(heard, language)
    return edit_distance(ref, hyp), len(ref)


def wrong_script(text: str, language: str) -> bool:
    """Whether ``text`` has letters outside the script of ``language`` (Latin for the
    European languages, kana/kanji/Latin for Japanese)."""
    family = language.split("-")[0].lower()
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        if name.startswith("LATIN"):
            continue
        if family == "ja" and name.startswith(("CJK", "HIRAGANA", "KATAKANA")):
            continue
        return True
    return False


def guess_language(text: str) -> str | None:
    """The Latin-script language whose frequent words ``text`` uses most, when clear."""
    tokens = re.findall(r"\w+", _plain(text))
    hits = {lang: sum(t in stop for t in tokens) for lang, stop in STOPWORDS.items()}
    best = max(hits, key=lambda lang: hits[lang])
    ranked = sorted(hits.values(), reverse=True)
    if ranked[0] == 0 or ranked[0] == ranked[1]:
        return None
    return best


def wrong_language(text: str, language: str) -> bool:
    """A transcript in another script, or in a clearly different Latin-script language."""
    if wrong_script(text, language):
        return True
    guess = guess_language(text)
    return guess is not None and guess != language.split("-")[0].lower()


def has_answer(said: str, keywords: Sequence[str], language: str = "en-US") -> bool:
    """Whether any keyword (itself normalized, so "8" finds "eight") is in ``said``."""
    heard = words(said, language)
    for keyword in keywords:
        want = words(keyword, language)
        n = len(want)
        if n and any(heard[i:i + n] == want for i in range(len(heard) - n + 1)):
            return True
    return False
