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
* ``"package.module:attr"``: your own backend; ``attr`` is called with the options and
  must return a :class:`~openlive.engines.asr.base.SpeechRecognizer`.

Options whose value is ``None`` count as not given. Call at start-up: loading models blocks.
"""

from __future__ import annotations

from typing import Any

from openlive.engines.asr.base import SpeechRecognizer
from openlive.engines.plugins import Backends, given_options

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
_BACKENDS: Backends[SpeechRecognizer] = Backends(
    "ASR", KNOWN_BACKENDS, members=("transcribe", "aclose")
)


def create_speech_recognizer(backend: str = "whisper", **options: Any) -> SpeechRecognizer:
    """Build the backend named ``backend``; raises :class:`ConfigError` for bad names/options."""
    given = given_options(options)
    if backend == "whisper":
        return _whisper(_BACKENDS.checked(backend, given, _WHISPER_OPTIONS))
    return _BACKENDS.plugin(backend, given)


def _whisper(options: dict[str, Any]) -> SpeechRecognizer:
    from openlive.engines.asr.whisper import DecodeOptions, WhisperRecognizer

    decode = {name: options.pop(name) for name in _DECODE_OPTIONS if name in options}
    return WhisperRecognizer(decode=DecodeOptions(**decode), **options)
