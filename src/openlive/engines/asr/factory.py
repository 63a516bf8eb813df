"""Pick the speech-recognition backend named in the configuration.

Each backend is imported only when chosen, so the core install never imports
faster-whisper. Nothing registers itself: the names are listed here.

* ``"whisper"`` (default): faster-whisper on CPU. Options: ``model_path`` (a CTranslate2
  Whisper directory for every language), ``english_model_path``,
  ``multilingual_model_path`` (replace the bundled base; e.g. the bundled tiny.en for
  English), ``cache_dir``,
  ``cpu_threads``, ``concurrency``, ``preload``, and the decoding knobs ``beam_size``,
  ``window_s``, ``silence_dbfs``, ``no_speech_threshold`` (see
  :class:`~openlive.engines.asr.whisper.DecodeOptions`).
* ``"openai"``: a server of the OpenAI audio API (``/v1/audio/transcriptions``). Options:
  ``url`` (required), ``model``, ``api_key``, ``response_format`` (``json`` or
  ``verbose_json``), ``concurrency``, ``timeout``.
* ``"wyoming://host:port"``: a Wyoming server (wyoming-faster-whisper...). Options:
  ``model``, ``concurrency``, ``timeout``.
* ``"package.module:attr"``: your own backend; ``attr`` is called with the options and
  must return a :class:`~openlive.engines.asr.base.SpeechRecognizer`.

Options whose value is ``None`` count as not given. Call at start-up: loading models blocks.
"""

from __future__ import annotations

from typing import Any

from openlive.engines.asr.base import SpeechRecognizer
from openlive.engines.plugins import Backends, given_options
from openlive.engines.remote.wyoming import is_wyoming

KNOWN_BACKENDS = ("whisper", "openai", "wyoming://host:port")
_DECODE_OPTIONS = frozenset({"beam_size", "window_s", "silence_dbfs", "no_speech_threshold"})
_WHISPER_OPTIONS = _DECODE_OPTIONS | {
    "model_path",
    "english_model_path",
    "multilingual_model_path",
    "cache_dir",
    "cpu_threads",
    "concurrency",
    "preload",
}
_OPENAI_OPTIONS = frozenset({"url", "model", "api_key", "response_format", "concurrency",
                             "timeout"})
_WYOMING_OPTIONS = frozenset({"model", "concurrency", "timeout"})
_BACKENDS: Backends[SpeechRecognizer] = Backends(
    "ASR", KNOWN_BACKENDS, members=("transcribe", "aclose")
)


def create_speech_recognizer(backend: str = "whisper", **options: Any) -> SpeechRecognizer:
    """Build the backend named ``backend``; raises :class:`ConfigError` for bad names/options."""
    given = given_options(options)
    if backend == "whisper":
        return _whisper(_BACKENDS.checked(backend, given, _WHISPER_OPTIONS))
    if backend == "openai":
        from openlive.engines.asr.openai_audio import OpenAIRecognizer

        return OpenAIRecognizer(**_BACKENDS.checked(backend, given, _OPENAI_OPTIONS,
                                                    required=("url",)))
    if is_wyoming(backend):
        from openlive.engines.asr.wyoming import WyomingRecognizer

        return WyomingRecognizer(backend, **_BACKENDS.checked(backend, given, _WYOMING_OPTIONS))
    return _BACKENDS.plugin(backend, given)


def _whisper(options: dict[str, Any]) -> SpeechRecognizer:
    from openlive.engines.asr.whisper import DecodeOptions, WhisperRecognizer

    decode = {name: options.pop(name) for name in _DECODE_OPTIONS if name in options}
    return WhisperRecognizer(decode=DecodeOptions(**decode), **options)
