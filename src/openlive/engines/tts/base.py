"""Speech synthesis: text in, 24 kHz 16-bit mono PCM out, streamed in small chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from openlive.audio.delivery import Delivery
from openlive.engines.scheduler import Priority

OUTPUT_RATE = 24_000


@dataclass(frozen=True, slots=True)
class Voice:
    """How one of the Live API's prebuilt voice names is rendered locally."""

    name: str  # the Live API name, e.g. "Puck"
    backend_voice: str  # the local voice/speaker id
    speaker_id: int | None = None
    length_scale: float = 1.0  # >1 slower, <1 faster
    pitch_semitones: float = 0.0
    # how much intonation and timing vary (Piper's noise scales): <1 flatter, steadier
    expressiveness: float = 1.0

    def delivered(self, delivery: Delivery | None) -> Voice:
        """This voice spoken with ``delivery``'s pace, pitch and liveliness."""
        if delivery is None:
            return self
        return replace(self, length_scale=self.length_scale / delivery.rate,
                       pitch_semitones=self.pitch_semitones + delivery.pitch_semitones,
                       expressiveness=self.expressiveness * delivery.expressiveness)


class SpeechSynthesizer(Protocol):
    """Shared by all sessions; synthesis runs off the event loop."""

    def voices(self) -> Sequence[str]:
        """The Live API voice names this synthesizer renders."""
        ...

    def languages(self) -> frozenset[str]:
        """The Live API language codes it speaks (a session asking for another is
        refused at setup)."""
        ...

    def synthesize(self, text: str, *, voice: str, language: str | None = None,
                   priority: Priority = Priority.WAITING,
                   delivery: Delivery | None = None) -> AsyncIterator[bytes]:
        """Stream 24 kHz PCM for ``text`` in chunks of at most ~100 ms, first chunk ASAP.

        ``delivery`` changes the voice's pace, pitch and liveliness (affective dialog):
        honoured as far as the synthesizer can, never refused.

        ``priority`` orders the pieces waiting for a busy synthesizer (see
        :mod:`openlive.engines.scheduler`). Cancelling the iterating task stops
        synthesis within one chunk. Raises EngineError on failure (``retryable=True``
        when trying again may work).
        """
        ...

    async def aclose(self) -> None: ...
