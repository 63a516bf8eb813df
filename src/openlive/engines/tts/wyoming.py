"""Speech synthesis by a Wyoming server (Home Assistant's wyoming-piper and its kin), at
``wyoming://host:port``.

Per piece of the answer, on a connection of its own: ``synthesize`` with the voice
(the Live name mapped by ``--tts-voice``; unmapped names get the server's default
voice); the server answers ``audio-start``, ``audio-chunk``... , ``audio-stop``. A
server whose ``info`` says it streams (``supports_synthesize_streaming``) is sent
``synthesize-start``, the text as ``synthesize-chunk``, ``synthesize`` (for servers that
ignore the stream) and ``synthesize-stop``; it speaks each sentence as soon as it has it
and ends with ``synthesize-stopped``. The first request asks ``describe`` to learn which.

Audio comes at the server's rate and width (Piper: 22 050 Hz, 16-bit) and is resampled
to 24 kHz as it arrives, in chunks of at most 100 ms. Cancelling the consumer hangs up,
which stops the server at its next write. At most ``concurrency`` pieces are in flight.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from openlive.audio.delivery import Delivery
from openlive.catalog.voices import VOICE_NAMES
from openlive.engines.remote.audio import SpeechOutput
from openlive.engines.remote.voices import VoiceMap, spoken_languages
from openlive.engines.remote.wyoming import WyomingAddress, WyomingConnection
from openlive.engines.scheduler import Priority, Resource
from openlive.errors import EngineError

log = logging.getLogger(__name__)


class WyomingSynthesizer:
    """A Wyoming TTS server; ``uri`` is ``wyoming://host:port``.

    ``voice``: ``--tts-voice`` words; ``languages``: the Live codes its voices speak
    (default: every one). ``streaming``: use the streaming messages (None: if the
    server's ``info`` says it can).
    """

    def __init__(self, uri: str, *, voice: Iterable[str] = (), languages: Iterable[str] = (),
                 streaming: bool | None = None, concurrency: int = 2,
                 timeout: float = 30.0) -> None:
        import wyoming  # noqa: F401 - refuse at start-up, not at the first answer

        self._address = WyomingAddress.parse(uri)
        self._voices = VoiceMap(voice)
        self._languages = spoken_languages(languages)
        self._streaming = streaming
        self._timeout = timeout
        self._slots = Resource("tts-wyoming", concurrency)

    def voices(self) -> Sequence[str]:
        return VOICE_NAMES

    def languages(self) -> frozenset[str]:
        return self._languages

    async def synthesize(self, text: str, *, voice: str, language: str | None = None,
                         priority: Priority = Priority.WAITING,
                         delivery: Delivery | None = None) -> AsyncIterator[bytes]:
        """See :class:`~openlive.engines.tts.base.SpeechSynthesizer`. ``language`` is not
        sent: a Wyoming server picks (and may try to download) a voice for it; the
        protocol has no field for ``delivery``, which is ignored."""
        from wyoming.audio import AudioChunk, AudioStop
        from wyoming.tts import SynthesizeStopped

        async with self._slots.slot(priority):
            streaming = await self._streams()
            output = SpeechOutput()
            async with WyomingConnection(self._address, timeout=self._timeout) as server:
                await server.send(*self._request(text, self._voices.remote(voice), streaming))
                async for event in server.events():
                    if AudioChunk.is_type(event.type):
                        chunk = AudioChunk.from_event(event)
                        for piece in output.push(chunk.audio, rate=chunk.rate,
                                                 width=chunk.width, channels=chunk.channels):
                            yield piece
                    elif (SynthesizeStopped.is_type(event.type) if streaming
                          else AudioStop.is_type(event.type)):
                        break
            for piece in output.finish():
                yield piece

    async def aclose(self) -> None:
        await self._slots.aclose(wait=False)

    @staticmethod
    def _request(text: str, voice: str | None, streaming: bool) -> list[Any]:
        from wyoming.tts import (
            Synthesize,
            SynthesizeChunk,
            SynthesizeStart,
            SynthesizeStop,
            SynthesizeVoice,
        )

        chosen = SynthesizeVoice(name=voice) if voice else None
        if not streaming:
            return [Synthesize(text=text, voice=chosen)]
        return [SynthesizeStart(voice=chosen), SynthesizeChunk(text=text),
                Synthesize(text=text, voice=chosen), SynthesizeStop()]

    async def _streams(self) -> bool:
        """Whether the server takes streaming requests (asked once, with ``describe``)."""
        if self._streaming is None:
            self._streaming = await self._describe()
        return self._streaming

    async def _describe(self) -> bool:
        from wyoming.info import Describe, Info

        async with WyomingConnection(self._address, timeout=self._timeout) as server:
            await server.send(Describe())
            async for event in server.events():
                if Info.is_type(event.type):
                    info = Info.from_event(event)
                    if not info.tts:
                        raise EngineError(f"{self._address} is not a speech synthesizer "
                                          "(its info lists no tts program)")
                    streams = any(p.supports_synthesize_streaming for p in info.tts)
                    log.info("%s: %s, %s", self._address, info.tts[0].name,
                             "streaming" if streams else "one request per piece")
                    return streams
        raise AssertionError("unreachable: events() raises when the server hangs up")
