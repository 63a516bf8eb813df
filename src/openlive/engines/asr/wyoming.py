"""Speech recognition by a Wyoming server (Home Assistant's wyoming-faster-whisper and
its kin), at ``wyoming://host:port``.

Per utterance, on a connection of its own: ``transcribe`` (the language when the session
knows it, the model ``name`` if the operator chose one), ``audio-start``, the audio in
``audio-chunk`` events of one second, ``audio-stop``; the server answers ``transcript``
(a streaming server may send ``transcript-start``/``-chunk``/``-stop`` first: only the
final ``transcript`` counts). At most ``concurrency`` utterances are in flight, the rest
wait by priority. Cancelling the caller hangs up, which is how Wyoming stops a request.
"""

from __future__ import annotations

from collections.abc import Sequence

from openlive.audio.pcm import DEFAULT_INPUT_RATE
from openlive.engines.asr.base import Transcript
from openlive.engines.remote.wyoming import WyomingAddress, WyomingConnection
from openlive.engines.scheduler import Priority, Resource

_CHUNK_BYTES = DEFAULT_INPUT_RATE * 2  # one second of 16 kHz 16-bit mono per audio-chunk


class WyomingRecognizer:
    """A Wyoming ASR server; ``uri`` is ``wyoming://host:port``."""

    def __init__(self, uri: str, *, model: str | None = None, concurrency: int = 2,
                 timeout: float = 60.0) -> None:
        import wyoming  # noqa: F401 - refuse at start-up, not at the first utterance

        self._address = WyomingAddress.parse(uri)
        self._model = model
        self._timeout = timeout
        self._slots = Resource("asr-wyoming", concurrency)

    async def transcribe(self, pcm16k: bytes, *, language: str | None = None,
                         expected: str | None = None, languages: Sequence[str] = (),
                         final: bool = True, priority: Priority = Priority.WAITING,
                         prompt: str | None = None, words: bool = False) -> Transcript:
        """See :class:`~openlive.engines.asr.base.SpeechRecognizer`; ``expected`` and
        ``prompt`` have no Wyoming field and are not sent, and the protocol's transcript
        has no word timings (``words`` gives none)."""
        from wyoming.asr import Transcribe
        from wyoming.asr import Transcript as WyomingTranscript
        from wyoming.audio import AudioChunk, AudioStart, AudioStop

        asked = language or (languages[0] if len(languages) == 1 else None)
        code = asked.split("-")[0].lower() if asked else None
        audio = {"rate": DEFAULT_INPUT_RATE, "width": 2, "channels": 1}
        chunks = [AudioChunk(audio=pcm16k[i : i + _CHUNK_BYTES], **audio)
                  for i in range(0, len(pcm16k), _CHUNK_BYTES)]
        async with (self._slots.slot(priority),
                    WyomingConnection(self._address, timeout=self._timeout) as server):
            await server.send(Transcribe(name=self._model, language=code),
                              AudioStart(**audio), *chunks, AudioStop())
            async for event in server.events():
                if WyomingTranscript.is_type(event.type):
                    result = WyomingTranscript.from_event(event)
                    return Transcript(result.text.strip(), result.language or code, final=final)
        raise AssertionError("unreachable: events() raises when the server hangs up")

    async def aclose(self) -> None:
        await self._slots.aclose(wait=False)
