"""Pick the speech-recognition backend named in the configuration.

Each backend is imported only when chosen, so the core install never imports
faster-whisper. Nothing registers itself: the names are listed here.

* ``"whisper"`` (default): faster-whisper on CPU. Options: ``model_path`` (a CTranslate2
  Whisper directory for every language), ``english_model_path``,
  ``multilingual_model_path`` (replace the bundled tiny.en / base), ``cache_dir``,
  ``cpu_threads``, ``concurrency``, ``preload``, and the decoding knobs ``beam_size``,
  ``window_s``, ``silence_dbfs``, ``no_speech_threshold`` (see
  :class:`~openlive.engines.asr.whisper.DecodeOptions`).
* ``"package.module:attr"``: your own backend; ``attr`` is called with the options and
  must return a :class:`~openlive.engines.asr.base.SpeechRecognizer`.

Options whose value is ``None`` count as not given. Call at start-up: loading models blocks.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from openlive.engines.asr.base import SpeechRecognizer
from openlive.errors import ConfigError

KNOWN_BACKENDS = ("whisper",)
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
_PROTOCOL_MEMBERS = ("transcribe", "aclose")


def create_speech_recognizer(backend: str = "whisper", **options: Any) -> SpeechRecognizer:
    """Build the backend named ``backend``; raises :class:`ConfigError` for bad names/options."""
    given = {name: value for name, value in options.items() if value is not None}
    if backend == "whisper":
        return _whisper(_checked(backend, given, _WHISPER_OPTIONS))
    if ":" in backend:
        return _plugin(backend, given)
    raise ConfigError(
        f"unknown ASR backend {backend!r}; known: {', '.join(KNOWN_BACKENDS)}, "
        "or 'package.module:attr' for your own"
    )


def _whisper(options: dict[str, Any]) -> SpeechRecognizer:
    from openlive.engines.asr.whisper import DecodeOptions, WhisperRecognizer

    decode = {name: options.pop(name) for name in _DECODE_OPTIONS if name in options}
    return WhisperRecognizer(decode=DecodeOptions(**decode), **options)


def _plugin(spec: str, options: Mapping[str, Any]) -> SpeechRecognizer:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import ASR backend module {module_name!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"ASR backend {spec!r}: {module_name} has no callable {attr!r}")
    recognizer = factory(**options)
    missing = [name for name in _PROTOCOL_MEMBERS if not hasattr(recognizer, name)]
    if missing:
        raise ConfigError(
            f"ASR backend {spec!r} returned {type(recognizer).__name__}, "
            f"which lacks {', '.join(missing)}"
        )
    return recognizer  # type: ignore[no-any-return]


def _checked(backend: str, options: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown option(s) for ASR backend {backend!r}: {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return options
