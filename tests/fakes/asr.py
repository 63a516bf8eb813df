"""A deterministic speech recognizer for tests: it says how much audio it was given."""

from __future__ import annotations

from collections.abc import Sequence

from openlive.engines.asr.base import Transcript
from openlive.engines.scheduler import Priority
from openlive.errors import EngineError


class MeasuringRecognizer:
    """Transcribes any audio as ``"<N> ms of audio"``; ``calls`` keeps every request.

    ``failures``: errors the next calls raise, in order, before it answers again (to
    test retries); ``priorities`` keeps the priority of every request.
    """

    def __init__(self, failures: list[EngineError] | None = None) -> None:
        self.calls: list[tuple[int, str | None]] = []  # (bytes, language) per request
        self.priorities: list[Priority] = []
        self.failures = list(failures or [])

    async def transcribe(self, pcm16k: bytes, *, language: str | None = None,
                         expected: str | None = None, languages: Sequence[str] = (),
                         final: bool = True, prompt: str | None = None,
                         priority: Priority = Priority.WAITING) -> Transcript:
        self.calls.append((len(pcm16k), language))
        self.priorities.append(priority)
        if self.failures:
            raise self.failures.pop(0)
        return Transcript(f"{len(pcm16k) // 32} ms of audio", language)

    async def aclose(self) -> None:
        pass
