"""Speech recognition: 16 kHz PCM in, text out; partial results while the user speaks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from openlive.audio.words import TimedWord
from openlive.engines.scheduler import Priority


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str | None = None  # BCP-47-ish code the recognizer used or detected
    final: bool = True
    # when asked for (``words=True``) and the recognizer can: each word of ``text`` with
    # its seconds from the start of the audio given; () otherwise
    words: tuple[TimedWord, ...] = ()


class SpeechRecognizer(Protocol):
    """Shared by all sessions; inference runs off the event loop with bounded concurrency."""

    async def transcribe(self, pcm16k: bytes, *, language: str | None = None,
                         expected: str | None = None, languages: Sequence[str] = (),
                         final: bool = True,
                         priority: Priority = Priority.WAITING,
                         prompt: str | None = None, words: bool = False) -> Transcript:
        """Transcribe a whole utterance (16-bit mono PCM at 16 kHz).

        ``language`` is the language to hear (no detection); without it, ``expected`` is
        the one the session has been speaking: a recognizer that detects keeps it unless
        another language is clear (one that does not detect may ignore it). ``languages``
        narrows detection to these (the transcription config's ``languageCodes``).
        ``final=False`` asks for a quick partial (may use a cheaper decode).
        ``priority`` says how urgent the call is when the recognizer is busy (see
        :mod:`openlive.engines.scheduler`); a backend without a queue may ignore it.
        ``prompt`` is the conversation just before the utterance (the model's previous
        reply, say): words and spellings to expect, never the language; a backend
        without such an input ignores it.
        ``words=True`` asks for word timings (``Transcript.words``: seconds from the
        start of ``pcm16k``); a recognizer that cannot time words returns none (the
        Wyoming protocol has no field for them). Callers pass it only when a session
        asked, so a backend written before word timings still serves every other session.
        Cancelling the awaiting task abandons the result. Raises EngineError on failure
        (``retryable=True`` when trying again may work).
        """
        ...

    async def aclose(self) -> None: ...
