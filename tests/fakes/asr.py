"""A deterministic speech recognizer for tests: it says how much audio it was given."""

from __future__ import annotations

from collections.abc import Sequence

from openlive.audio.words import TimedWord
from openlive.engines.asr.base import Transcript
from openlive.engines.scheduler import Priority
from openlive.errors import EngineError


class MeasuringRecognizer:
    """Transcribes any audio as ``"<N> ms of audio"``; ``calls`` keeps every request.
    Asked for word timings, it spreads the four words evenly over the audio.

    ``failures``: errors the next calls raise, in order, before it answers again (to
    test retries); ``priorities`` keeps the priority of every request.
    """

    def __init__(self, failures: list[EngineError] | None = None) -> None:
        self.calls: list[tuple[int, str | None]] = []  # (bytes, language) per request
        self.priorities: list[Priority] = []
        self.word_requests: list[bool] = []  # whether each request asked for word timings
        self.failures = list(failures or [])

    async def transcribe(self, pcm16k: bytes, *, language: str | None = None,
                         expected: str | None = None, languages: Sequence[str] = (),
                         final: bool = True, prompt: str | None = None,
                         priority: Priority = Priority.WAITING,
                         words: bool = False) -> Transcript:
        self.calls.append((len(pcm16k), language))
        self.priorities.append(priority)
        self.word_requests.append(words)
        if self.failures:
            raise self.failures.pop(0)
        text = f"{len(pcm16k) // 32} ms of audio"
        quarter = len(pcm16k) / 32_000 / 4
        timed = tuple(TimedWord(word, i * quarter, (i + 1) * quarter)
                      for i, word in enumerate(text.split())) if words else ()
        return Transcript(text, language, words=timed)

    async def aclose(self) -> None:
        pass
