"""Replies that will be spoken: how a backend asks for speech, and where it ends one.

Shared by every language-model backend. A Live voice session's model is heard, not
read: lists, markdown and a page of text make poor speech, and an answer that runs on
(issue 11 met one that spoke for 30 s until the client gave up) holds the user hostage.
Google's native-audio models answer in a few spoken sentences in the user's language;
a general chat model has to be asked to, and bounded in case it does not listen:

* :func:`with_spoken_guidance` adds a short instruction to the system message;
* :class:`SentenceBound` ends the reply at the first sentence end past a length, so the
  answer stops on a whole sentence and its turn completes as usual. The request's
  ``max_tokens`` remains the hard stop for a runaway that never ends a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from openlive.catalog.languages import live_language
from openlive.chat import ChatMessage, SpokenReply
from openlive.errors import InvalidArgument

# In the second person and without "the user": the 0.5B default model, told "the user
# speaks English", answered a read-out sentence with "The user is speaking in English."
SPOKEN_GUIDANCE = (
    "Your reply is spoken aloud. Answer in one to three short sentences of plain "
    "speech, with no lists, headings, markdown, code or emoji, unless asked for more."
)


def spoken_guidance(spoken: SpokenReply) -> str:
    """The instruction for a spoken reply, naming the user's language when known, and
    how the user sounded (affective dialog) when there is something to say of it."""
    name = _language_name(spoken.language)
    if name is None:
        guidance = f"{SPOKEN_GUIDANCE} Reply in the language you are spoken to in."
    else:
        guidance = f"{SPOKEN_GUIDANCE} Reply in {name}."
    return f"{guidance} {spoken.tone}" if spoken.tone else guidance


def with_spoken_guidance(messages: Sequence[ChatMessage],
                         spoken: SpokenReply | None) -> tuple[ChatMessage, ...]:
    """``messages`` with the spoken-reply instruction after the system instruction (or
    as the system message when there is none); unchanged for a text reply.

    The user's tone goes there too, not after their words, though a prompt that changes
    at its start is evaluated again whole where one that changes at its end keeps its
    prefix in the KV cache: told after the user's words, the 0.5B default model answered
    an upset user's complaint with "I'm sorry, but I can't assist with that." (2 of 3
    sentences, 2026-12-07), and in the system message it acknowledged the feeling and
    helped. The cost falls on the turns where the tone changes, not on a tone that stays.
    """
    if spoken is None:
        return tuple(messages)
    guidance = spoken_guidance(spoken)
    if messages and messages[0].role == "system":
        first = messages[0]
        joined = f"{first.content}\n\n{guidance}" if first.content else guidance
        return (replace(first, content=joined), *messages[1:])
    return (ChatMessage("system", guidance), *messages)


def _language_name(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return live_language(code).name
    except InvalidArgument:
        return None


# A sentence ends at . ! ? … (with closing quotes or brackets) before a space, or at the
# CJK full stops, which need no space.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|[。！？]")
_OPEN_END = re.compile(r"[.!?…]+[\"'”’)\]]*$")  # an end whose next character is not here yet
# Ideographs and kana say far more per character than Latin letters: count them
# three times, so a bound means about the same length of speech in any script.
_DENSE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
DENSE_WEIGHT = 3


def spoken_length(text: str) -> int:
    """Characters of ``text``, ideographs, kana and hangul counting :data:`DENSE_WEIGHT`."""
    return len(text) + (DENSE_WEIGHT - 1) * len(_DENSE.findall(text))


class SentenceBound:
    """Ends streamed text at the first sentence end after ``chars`` characters.

    ``feed`` returns the text that may be emitted and whether the bound was reached
    (feed nothing more after that); ``flush`` returns what was held back at the end of
    the stream. A possible sentence end at the very end of a delta ("3." of "3.5") is
    held until the next delta shows what follows. ``chars=None``: no bound.
    """

    def __init__(self, chars: int | None) -> None:
        self._chars = chars
        self._length = 0  # spoken length of the text emitted so far
        self._held = ""
        self.reached = False

    def feed(self, text: str) -> tuple[str, bool]:
        if self.reached:
            return "", True
        if self._chars is None:
            return text, False
        buffer, self._held = self._held + text, ""
        for match in _SENTENCE_END.finditer(buffer):
            if self._length + spoken_length(buffer[:match.end()]) >= self._chars:
                self.reached = True
                return buffer[:match.end()], True
        if self._length + spoken_length(buffer) >= self._chars:
            tail = _OPEN_END.search(buffer)
            if tail is not None:
                buffer, self._held = buffer[:tail.start()], buffer[tail.start():]
        self._length += spoken_length(buffer)
        return buffer, False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
