"""Speech synthesis: text in, 24 kHz 16-bit mono PCM out, streamed in small chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

OUTPUT_RATE = 24_000


@dataclass(frozen=True, slots=True)
class Voice:
    """How one of the Live API's prebuilt voice names is rendered locally."""

    name: str  # the Live API name, e.g. "Puck"
    backend_voice: str  # the local voice/speaker id
    speaker_id: int | None = None
    length_scale: float = 1.0  # >1 slower, <1 faster
    pitch_semitones: float = 0.0


class SpeechSynthesizer(Protocol):
    """Shared by all sessions; synthesis runs off the event loop."""

    def voices(self) -> Sequence[str]:
        """The Live API voice names this synthesizer renders."""
        ...

    def languages(self) -> frozenset[str]:
        """The Live API language codes it speaks (a session asking for another is
        refused at setup)."""
        ...

    def synthesize(self, text: str, *, voice: str, language: str | None = None
                   ) -> AsyncIterator[bytes]:
        """Stream 24 kHz PCM for ``text`` in chunks of at most ~100 ms, first chunk ASAP.

        Cancelling the iterating task stops synthesis within one chunk.
        """
        ...

    async def aclose(self) -> None: ...
