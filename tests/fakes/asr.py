"""A deterministic speech recognizer for tests: it says how much audio it was given."""

from __future__ import annotations

from openlive.engines.asr.base import Transcript


class MeasuringRecognizer:
    """Transcribes any audio as ``"<N> ms of audio"``; ``calls`` keeps every request."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None]] = []  # (bytes, language) per request

    async def transcribe(self, pcm16k: bytes, *, language: str | None = None,
                         final: bool = True) -> Transcript:
        self.calls.append((len(pcm16k), language))
        return Transcript(f"{len(pcm16k) // 32} ms of audio", language)

    async def aclose(self) -> None:
        pass
