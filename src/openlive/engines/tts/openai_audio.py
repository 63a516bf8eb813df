"""Speech synthesis by a server of the OpenAI audio API (``POST /v1/audio/speech``):
OpenAI itself, speaches, Kokoro-FastAPI, fastkokoro, local-tts-studio and others.

Each piece of the answer is one request: ``model``, ``input``, ``voice`` (the Live name
mapped by :class:`~openlive.engines.remote.voices.VoiceMap`; OpenAI's own voice names by
default) and ``response_format``. The answer is read as it streams in:

* ``pcm`` (the default): raw 16-bit mono samples at 24 kHz, as OpenAI's API defines
  them, streamed by servers that can. A server that refuses ``pcm`` (HTTP 400/422) is
  asked for ``wav`` from then on.
* ``wav``: the rate, width and channels come from the header, so it suits servers whose
  ``pcm`` is at their voice's own rate (local-tts-studio's Piper is at 22 050 Hz).

Either way the audio is resampled to 24 kHz with the project's streaming resampler and
yielded in chunks of at most 100 ms as it arrives. Cancelling the consumer closes the
response, and the server stops when it notices. At most ``concurrency`` pieces are in
flight; the rest wait by priority.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Literal

import httpx

from openlive.audio.delivery import Delivery
from openlive.catalog.voices import VOICE_NAMES
from openlive.engines.remote.audio import SpeechOutput, WavStreamReader
from openlive.engines.remote.http import auth_headers, check_status, errors_as_engine_errors
from openlive.engines.remote.voices import VoiceMap, openai_voice, spoken_languages
from openlive.engines.scheduler import Priority, Resource
from openlive.engines.tts.base import OUTPUT_RATE
from openlive.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

AudioFormat = Literal["pcm", "wav"]


class OpenAISynthesizer:
    """``/v1/audio/speech`` on ``url`` (the base URL, with or without ``/v1``).

    ``voice``: ``--tts-voice`` words (``NAME=VOICE`` pairs, at most one bare ``VOICE``).
    ``languages``: the Live language codes the server's voices speak (default: every
    one, since the server's are not known here). ``transport`` is for tests.
    """

    def __init__(self, url: str, *, model: str = "tts-1", api_key: str | None = None,
                 voice: Iterable[str] = (), response_format: AudioFormat = "pcm",
                 languages: Iterable[str] = (), concurrency: int = 2, timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if response_format not in ("pcm", "wav"):
            raise ConfigError(f"--tts-format {response_format!r}: pcm or wav")
        base = url.rstrip("/")
        self._url = f"{base}/audio/speech" if base.endswith("/v1") else f"{base}/v1/audio/speech"
        self._model = model
        self._voices = VoiceMap(voice, fallback=openai_voice)
        self._format: AudioFormat = response_format
        self._languages = spoken_languages(languages)
        self._client = httpx.AsyncClient(headers=auth_headers(api_key), transport=transport,
                                         timeout=httpx.Timeout(timeout, connect=10.0))
        self._slots = Resource("tts-openai", concurrency)

    def voices(self) -> Sequence[str]:
        return VOICE_NAMES

    def languages(self) -> frozenset[str]:
        return self._languages

    async def synthesize(self, text: str, *, voice: str, language: str | None = None,
                         priority: Priority = Priority.WAITING,
                         delivery: Delivery | None = None) -> AsyncIterator[bytes]:
        """See :class:`~openlive.engines.tts.base.SpeechSynthesizer`; ``language`` has no
        field in the API: the voice decides. Of ``delivery`` the API takes the rate
        (``speed``); pitch and expressiveness have no field."""
        body: dict[str, Any] = {"model": self._model, "input": text,
                                "voice": self._voices.remote(voice)}
        if delivery is not None and delivery.rate != 1.0:
            body["speed"] = delivery.rate
        async with self._slots.slot(priority):
            for attempt in range(2):
                body["response_format"] = self._format
                try:
                    async for chunk in self._stream(body):
                        yield chunk
                    return
                except _FormatRefused as refused:
                    if attempt or self._format == "wav":
                        raise EngineError(str(refused)) from None
                    log.warning("%s refuses response_format pcm (%s); asking for wav from now on",
                                self._url, refused)
                    self._format = "wav"

    async def _stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        output = SpeechOutput()
        wav = WavStreamReader() if body["response_format"] == "wav" else None
        async with (errors_as_engine_errors(self._url),
                    self._client.stream("POST", self._url, json=body) as response):
            if body["response_format"] == "pcm" and response.status_code in (400, 422):
                detail = (await response.aread()).decode("utf-8", errors="replace")
                raise _FormatRefused(f"{self._url} answered HTTP {response.status_code}: "
                                     f"{detail[:300]}")
            await check_status(response, self._url)
            async for data in response.aiter_bytes():
                if wav is None:
                    chunks = output.push(data, rate=OUTPUT_RATE)
                else:
                    samples = wav.feed(data)  # any samples come after the format
                    chunks = output.push(samples, rate=wav.rate or OUTPUT_RATE, width=wav.width,
                                         channels=wav.channels) if samples else []
                for chunk in chunks:
                    yield chunk
        for chunk in output.finish():
            yield chunk

    async def aclose(self) -> None:
        await self._slots.aclose(wait=False)
        await self._client.aclose()


class _FormatRefused(Exception):
    """The server answered 400/422 to a request for ``pcm``."""

