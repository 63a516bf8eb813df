"""Pick the speech-synthesis backend named in the configuration.

Each backend is imported only when chosen, so the core install never imports
onnxruntime. Nothing registers itself: the names are listed here.

* ``"piper"`` (default): Piper, fast (first audio in tens of milliseconds); the 30 Live
  voice names are pitch/rate variants of one voice (the bundled male en_US "joe", or
  yours). Options: ``model_path``, ``config_path``, ``model_sha256``, ``config_sha256``,
  ``max_concurrency``, ``threads``, ``split_decoder``.
* ``"kokoro"``: Kokoro-82M, five voices (four female), English/Spanish/Italian/
  Portuguese (+ Japanese with pyopenjtalk-plus); about ten times slower than Piper.
  Options: ``model_path``, ``voices_path``, ``model_sha256``, ``voices_sha256``,
  ``cache_dir``, ``max_concurrency``, ``threads``.
* ``"auto"``: both; each voice name goes to the backend the voice table prefers
  (female names to Kokoro, male names to Piper) unless only the other one speaks the
  requested language. Options: those of both, prefixed ``piper_`` / ``kokoro_``.
* ``"openai"``: a server of the OpenAI audio API (``/v1/audio/speech``). Options: ``url``
  (required), ``model``, ``api_key``, ``voice`` (``NAME=VOICE`` words), ``response_format``
  (``pcm`` or ``wav``), ``languages``, ``concurrency``, ``timeout``.
* ``"wyoming://host:port"``: a Wyoming server (wyoming-piper...). Options: ``voice``,
  ``languages``, ``streaming``, ``concurrency``, ``timeout``.
* ``"package.module:attr"``: your own backend; ``attr`` is called with the options and
  must return a :class:`~openlive.engines.tts.base.SpeechSynthesizer`.

Options whose value is ``None`` count as not given. Call at start-up: loading blocks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from openlive.audio.delivery import Delivery
from openlive.engines.plugins import Backends, given_options
from openlive.engines.remote.wyoming import is_wyoming
from openlive.engines.scheduler import Priority
from openlive.engines.tts.base import SpeechSynthesizer
from openlive.engines.tts.voices import VOICE_NAMES, resolve_language, voice_profile
from openlive.errors import ConfigError, InvalidArgument

KNOWN_BACKENDS = ("piper", "kokoro", "auto", "openai", "wyoming://host:port")
_PIPER_OPTIONS = frozenset(
    {
        "model_path",
        "config_path",
        "model_sha256",
        "config_sha256",
        "max_concurrency",
        "threads",
        "split_decoder",
    }
)
_KOKORO_OPTIONS = frozenset(
    {
        "model_path",
        "voices_path",
        "model_sha256",
        "voices_sha256",
        "cache_dir",
        "max_concurrency",
        "threads",
    }
)
_OPENAI_OPTIONS = frozenset({"url", "model", "api_key", "voice", "response_format", "languages",
                             "concurrency", "timeout"})
_WYOMING_OPTIONS = frozenset({"voice", "languages", "streaming", "concurrency", "timeout"})
_BACKENDS: Backends[SpeechSynthesizer] = Backends(
    "TTS", KNOWN_BACKENDS, members=("voices", "synthesize", "aclose")
)


def create_speech_synthesizer(backend: str = "piper", **options: Any) -> SpeechSynthesizer:
    """Build the backend named ``backend``; raises :class:`ConfigError` for bad names/options."""
    given = given_options(options)
    if backend == "piper":
        return _piper(_BACKENDS.checked(backend, given, _PIPER_OPTIONS))
    if backend == "kokoro":
        return _kokoro(_BACKENDS.checked(backend, given, _KOKORO_OPTIONS))
    if backend == "auto":
        allowed = frozenset(f"piper_{name}" for name in _PIPER_OPTIONS) | frozenset(
            f"kokoro_{name}" for name in _KOKORO_OPTIONS
        )
        checked = _BACKENDS.checked(backend, given, allowed)
        piper = _piper(_prefixed(checked, "piper_"))
        kokoro = _kokoro(_prefixed(checked, "kokoro_"))
        return VoiceRouter({"piper": piper, "kokoro": kokoro})
    if backend == "openai":
        from openlive.engines.tts.openai_audio import OpenAISynthesizer

        return OpenAISynthesizer(**_BACKENDS.checked(backend, given, _OPENAI_OPTIONS,
                                                     required=("url",)))
    if is_wyoming(backend):
        from openlive.engines.tts.wyoming import WyomingSynthesizer

        return WyomingSynthesizer(backend, **_BACKENDS.checked(backend, given, _WYOMING_OPTIONS))
    return _BACKENDS.plugin(backend, given)


class _Multilingual(SpeechSynthesizer, Protocol):
    def languages(self) -> frozenset[str]: ...


class VoiceRouter:
    """Several backends behind one synthesizer; each voice name goes to its preferred one.

    The preferred backend (see :mod:`openlive.engines.tts.voices`) is used when it speaks
    the language; otherwise the first backend that does. Made by ``"auto"``.
    """

    def __init__(self, backends: Mapping[str, _Multilingual]) -> None:
        if not backends:
            raise ConfigError("VoiceRouter needs at least one backend")
        self._backends = dict(backends)

    def voices(self) -> Sequence[str]:
        return VOICE_NAMES

    def languages(self) -> frozenset[str]:
        return frozenset().union(*(b.languages() for b in self._backends.values()))

    def backend_for(self, voice: str, language: str | None = None) -> str:
        """The name of the backend that renders ``voice`` in ``language``."""
        preferred = voice_profile(voice).preferred
        if language is None:
            return preferred if preferred in self._backends else next(iter(self._backends))
        code = resolve_language(language).code
        names = [preferred, *(name for name in self._backends if name != preferred)]
        for name in names:
            if name in self._backends and code in self._backends[name].languages():
                return name
        raise InvalidArgument(
            f"languageCode {code} is not spoken by the local voices; "
            f"they speak {', '.join(sorted(self.languages()))}"
        )

    def synthesize(
        self,
        text: str,
        *,
        voice: str,
        language: str | None = None,
        priority: Priority = Priority.WAITING,
        delivery: Delivery | None = None,
    ) -> AsyncIterator[bytes]:
        backend = self._backends[self.backend_for(voice, language)]
        return backend.synthesize(text, voice=voice, language=language, priority=priority,
                                  delivery=delivery)

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()


def _piper(options: dict[str, Any]) -> _Multilingual:
    from openlive.engines.tts.piper import PiperSynthesizer

    return PiperSynthesizer(**options)


def _kokoro(options: dict[str, Any]) -> _Multilingual:
    from openlive.engines.tts.kokoro import KokoroSynthesizer

    return KokoroSynthesizer(**options)


def _prefixed(options: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {
        name[len(prefix) :]: value for name, value in options.items() if name.startswith(prefix)
    }
