"""Speech recognition by a server of the OpenAI audio API (``POST /v1/audio/transcriptions``):
vLLM, speaches, faster-whisper-server, OpenAI itself.

Each utterance is uploaded as a 16 kHz WAV file (multipart ``file``) with the ``model``
name, the ``language`` when the session knows it (ISO-639-1: ``en`` for ``en-US``), the
conversation before it as ``prompt``, and ``response_format`` ``verbose_json`` (which
says the language heard) or ``json``. Word timings, when asked for, are the API's own:
``timestamp_granularities[]=word`` with ``verbose_json`` (whatever ``response_format``
says), read from the answer's ``words``; a server that sends none gives none. At most ``concurrency`` requests are in flight;
the rest wait by priority (:mod:`openlive.engines.scheduler`), so a final transcript
overtakes the partials. Cancelling the caller closes its request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import httpx

from openlive.audio.pcm import DEFAULT_INPUT_RATE
from openlive.audio.words import TimedWord, ordered
from openlive.engines.asr.base import Transcript
from openlive.engines.remote.audio import wav_file
from openlive.engines.remote.http import auth_headers, check_status, errors_as_engine_errors
from openlive.engines.scheduler import Priority, Resource
from openlive.errors import ConfigError, EngineError

ResponseFormat = Literal["json", "verbose_json"]


class OpenAIRecognizer:
    """``/v1/audio/transcriptions`` on ``url`` (the base URL, with or without ``/v1``).

    ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(self, url: str, *, model: str = "whisper-1", api_key: str | None = None,
                 response_format: ResponseFormat = "verbose_json", concurrency: int = 2,
                 timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if response_format not in ("json", "verbose_json"):
            raise ConfigError(f"ASR response_format {response_format!r}: json or verbose_json")
        self._url = _endpoint(url, "audio/transcriptions")
        self._model = model
        self._format = response_format
        self._client = httpx.AsyncClient(headers=auth_headers(api_key), transport=transport,
                                         timeout=httpx.Timeout(timeout, connect=10.0))
        self._slots = Resource("asr-openai", concurrency)

    async def transcribe(self, pcm16k: bytes, *, language: str | None = None,
                         expected: str | None = None, languages: Sequence[str] = (),
                         final: bool = True, priority: Priority = Priority.WAITING,
                         prompt: str | None = None, words: bool = False) -> Transcript:
        """See :class:`~openlive.engines.asr.base.SpeechRecognizer`. ``expected`` is not
        sent: the API has no "probably this language", only "this language"."""
        asked = language or (languages[0] if len(languages) == 1 else None)
        fields: dict[str, Any] = {"model": self._model, "response_format": self._format}
        if words:  # the API times words only in its verbose answer
            fields.update({"response_format": "verbose_json",
                           "timestamp_granularities[]": ["word"]})
        if asked:
            fields["language"] = _iso639_1(asked)
        if prompt:
            fields["prompt"] = prompt
        files = {"file": ("speech.wav", wav_file(pcm16k), "audio/wav")}
        async with self._slots.slot(priority), errors_as_engine_errors(self._url):
            response = await self._client.post(self._url, data=fields, files=files)
            await check_status(response, self._url)
        payload = _json(response, self._url)
        text = payload.get("text")
        if not isinstance(text, str):
            raise EngineError(f"{self._url} answered without a 'text': {response.text[:200]!r}")
        heard = payload.get("language")
        timed = _words(payload, len(pcm16k) / 2 / DEFAULT_INPUT_RATE) if words else ()
        return Transcript(text.strip(), _language_code(heard) or asked, final=final,
                          words=timed)

    async def aclose(self) -> None:
        await self._slots.aclose(wait=False)
        await self._client.aclose()


def _endpoint(url: str, path: str) -> str:
    """``{url}/v1/{path}``, whether or not ``url`` already ends with ``/v1``."""
    base = url.rstrip("/")
    return f"{base}/{path}" if base.endswith("/v1") else f"{base}/v1/{path}"


def _iso639_1(code: str) -> str:
    """The language part of a BCP-47 code, as the API takes it (``en-US`` -> ``en``)."""
    return code.split("-")[0].lower()


# Whisper's verbose_json says the language by name on OpenAI ("english"), by code on most
# self-hosted servers ("en"); openlive's transcripts carry codes.
_NAMES = {"english": "en", "spanish": "es", "italian": "it", "portuguese": "pt",
          "japanese": "ja", "french": "fr", "german": "de", "hindi": "hi", "dutch": "nl",
          "korean": "ko", "chinese": "zh", "polish": "pl", "russian": "ru", "turkish": "tr",
          "arabic": "ar", "indonesian": "id", "vietnamese": "vi", "thai": "th"}


def _language_code(heard: object) -> str | None:
    if not isinstance(heard, str) or not heard:
        return None
    lower = heard.strip().lower()
    return _NAMES.get(lower, lower if len(lower) <= 3 else None)


def _words(payload: dict[str, Any], duration: float) -> tuple[TimedWord, ...]:
    """The answer's ``words`` (``{"word", "start", "end"}``, seconds), those well formed."""
    given = payload.get("words")
    if not isinstance(given, list):
        return ()
    return ordered(((w["word"], w["start"], w["end"]) for w in given
                    if isinstance(w, dict) and isinstance(w.get("word"), str)
                    and isinstance(w.get("start"), int | float)
                    and isinstance(w.get("end"), int | float)), duration)


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        payload = json.loads(response.text)
    except json.JSONDecodeError as exc:
        raise EngineError(f"{url} sent invalid JSON: {response.text[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise EngineError(f"{url} sent JSON that is not an object: {response.text[:200]!r}")
    return payload
