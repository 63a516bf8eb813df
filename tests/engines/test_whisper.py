"""The Whisper recognizer: language codes, model directories, the factory (no models), and
real decoding of espeak-ng speech with the bundled Whisper base (``realmodel``).

The real-model tests share ONE recognizer (1 decode at a time, 1 thread) and one event loop.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from openlive.engines.asr.base import Transcript
from openlive.engines.asr.factory import create_speech_recognizer
from openlive.engines.asr.whisper import (
    WHISPER_LANGUAGES,
    LanguageRule,
    check_model_dir,
    level_dbfs,
    previous_text_tokens,
    whisper_language,
)
from openlive.engines.scheduler import Priority
from openlive.errors import ConfigError, EngineError, InvalidArgument

# --- language codes ----------------------------------------------------------------------

LIVE_API_LANGUAGES = [
    "de-DE", "en-AU", "en-GB", "en-IN", "en-US", "es-US", "fr-FR", "hi-IN", "pt-BR", "ar-XA",
    "es-ES", "fr-CA", "id-ID", "it-IT", "ja-JP", "tr-TR", "vi-VN", "bn-IN", "gu-IN", "kn-IN",
    "ml-IN", "mr-IN", "ta-IN", "te-IN", "nl-NL", "ko-KR", "cmn-CN", "pl-PL", "ru-RU", "th-TH",
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en-US", "en"),
        ("cmn-CN", "zh"),
        ("pt-BR", "pt"),
        ("ar-XA", "ar"),
        ("de", "de"),
        (" EN_gb ", "en"),
        ("yue-HK", "zh"),
        ("fil-PH", "tl"),
        ("iw-IL", "he"),
        ("nb-NO", "no"),
        ("haw", "haw"),
        ("xx-YY", None),
        ("klingon", None),
        ("", None),
    ],
)
def test_language_codes_map_to_whisper(code: str, expected: str | None) -> None:
    assert whisper_language(code) == expected


def test_every_live_api_language_is_recognized() -> None:
    assert all(whisper_language(code) for code in LIVE_API_LANGUAGES)


def test_language_list_matches_faster_whisper() -> None:
    tokenizer = pytest.importorskip("faster_whisper.tokenizer")
    assert set(tokenizer._LANGUAGE_CODES) - {"yue"} == WHISPER_LANGUAGES


# --- a user's own model directory (the bundled ones: tests/engines/test_weights.py) --


def test_users_model_directory_needs_the_tokenizer(tmp_path: Path) -> None:
    for name in ("model.bin", "config.json"):
        (tmp_path / name).write_bytes(b"{}")
    with pytest.raises(ConfigError, match="tokenizer.json missing"):
        check_model_dir(tmp_path)
    (tmp_path / "tokenizer.json").write_bytes(b"{}")
    assert check_model_dir(tmp_path) == tmp_path
    with pytest.raises(ConfigError, match="not found"):
        check_model_dir(tmp_path / "nope")


# --- PCM helpers and the factory ---------------------------------------------------------


def test_level_in_dbfs() -> None:
    assert level_dbfs(np.full(100, 0.1, dtype=np.float32)) == pytest.approx(-20.0)
    assert level_dbfs(np.zeros(10, dtype=np.float32)) == float("-inf")
    assert level_dbfs(np.zeros(0, dtype=np.float32)) == float("-inf")


class CharTokenizer:
    """A stand-in tokenizer: one token per character (its code point)."""

    def encode(self, text: str) -> list[int]:
        return [ord(ch) for ch in text]


def test_previous_text_is_whisper_tokens_of_its_last_words() -> None:
    tokenizer = CharTokenizer()
    assert previous_text_tokens(tokenizer, None) == []
    assert previous_text_tokens(tokenizer, "  \n ") == []
    # a leading space, as Whisper saw earlier text in training; the text's own ends trimmed
    assert previous_text_tokens(tokenizer, " Paris.\n") == [ord(c) for c in " Paris."]
    long = "x" * 300 + "the end"
    kept = previous_text_tokens(tokenizer, long)
    assert len(kept) == 223  # Whisper's room for previous text: half its context, less one
    assert "".join(map(chr, kept)) == long[-223:]  # the words nearest the utterance


class EchoRecognizer:
    """A third-party backend, loaded as 'tests.engines.test_whisper:EchoRecognizer'."""

    def __init__(self, reply: str = "hello") -> None:
        self.reply = reply

    async def transcribe(
        self,
        pcm16k: bytes,
        *,
        language: str | None = None,
        expected: str | None = None,
        final: bool = True,
        priority: Priority = Priority.WAITING,
    ) -> Transcript:
        return Transcript(self.reply, language, final)

    async def aclose(self) -> None:
        return None


def not_a_recognizer(**_: Any) -> object:
    return object()


async def test_factory_loads_a_plugin_with_its_options() -> None:
    recognizer = create_speech_recognizer(
        "tests.engines.test_whisper:EchoRecognizer", reply="hi", ignored=None
    )
    assert await recognizer.transcribe(b"", language="de") == Transcript("hi", "de", True)


def test_factory_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="known: whisper, openai, wyoming://host:port, or"):
        create_speech_recognizer("wav2vec")
    with pytest.raises(ConfigError, match="unknown option.*temperature"):
        create_speech_recognizer("whisper", temperature=0.2)
    with pytest.raises(ConfigError, match="cannot import"):
        create_speech_recognizer("no_such_module_xyz:Thing")
    with pytest.raises(ConfigError, match="no callable 'Nope'"):
        create_speech_recognizer("tests.engines.test_whisper:Nope")
    with pytest.raises(ConfigError, match="lacks transcribe, aclose"):
        create_speech_recognizer("tests.engines.test_whisper:not_a_recognizer")
    with pytest.raises(ConfigError, match="Whisper model directory not found"):
        create_speech_recognizer("whisper", model_path=tmp_path / "missing")
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        create_speech_recognizer("whisper", model_path=tmp_path, concurrency=0)


@pytest.fixture
def broken_model_dir(tmp_path: Path) -> Path:
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes(b"not a model")
    return tmp_path


async def test_a_model_that_fails_to_load_later_is_an_engine_error(broken_model_dir) -> None:
    pytest.importorskip("faster_whisper")
    recognizer = create_speech_recognizer("whisper", model_path=broken_model_dir, preload=False)
    speechlike = np.random.default_rng(1).normal(0, 3000, 16_000).astype("<i2").tobytes()

    with pytest.raises(EngineError, match="cannot load the Whisper model"):
        await recognizer.transcribe(speechlike, language="en")
    await recognizer.aclose()


async def test_closed_recognizer_refuses_calls(broken_model_dir) -> None:
    recognizer = create_speech_recognizer("whisper", model_path=broken_model_dir, preload=False)
    await recognizer.aclose()
    await recognizer.aclose()  # twice is fine

    with pytest.raises(EngineError, match="closed"):
        await recognizer.transcribe(bytes(320))


# --- real models ----------------------------------------------------------------------------

ENGLISH = (
    "Please tell me the weather in Paris tomorrow.",
    "I would like to book a table for two people at seven tonight.",
    "Can you remind me to call my mother on Sunday afternoon?",
    "Turn off the lights in the kitchen and lock the front door.",
)
SPANISH = "Buenos días, me gustaría reservar una mesa para dos personas esta noche."
GERMAN = "Guten Morgen, ich möchte gern einen Kaffee bestellen."
LONG = "How many minutes does it take to boil an egg, and should the water be salted?"


def words(text: str) -> list[str]:
    return re.sub(r"[^\w' ]", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           diagonal + (ref_word != hyp_word))  # fmt: skip
    return row[-1]


def wer(reference: str, hypothesis: str) -> float:
    ref = words(reference)
    return edit_distance(ref, words(hypothesis)) / len(ref)


@pytest.fixture(scope="module")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., bytes]:
    """Text → 16 kHz 16-bit mono PCM, spoken by espeak-ng and resampled with soxr."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    soxr = pytest.importorskip("soxr")
    folder = tmp_path_factory.mktemp("speech")
    cache: dict[tuple[str, str], bytes] = {}

    def speak(text: str, voice: str = "en-us") -> bytes:
        if (text, voice) not in cache:
            path = folder / f"{len(cache)}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(path), text],
                           check=True)  # fmt: skip
            with wave.open(str(path)) as wav:
                rate = wav.getframerate()
                samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            cache[text, voice] = soxr.resample(samples, rate, 16_000).astype("<i2").tobytes()
        return cache[text, voice]

    return speak


def microphone(seconds: float) -> bytes:
    """A quiet microphone's white noise (about -70 dBFS), 16 kHz 16-bit."""
    samples = np.random.default_rng(5).normal(0.0, 10.0, int(seconds * 16_000))
    return samples.astype("<i2").tobytes()


def speech_bounds(pcm: bytes) -> tuple[float, float]:
    """Where speech starts and ends in 16 kHz PCM: the first and last 10 ms frames
    within 35 dB of the loudest."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9)
    loud = np.nonzero(level >= level.max() - 35)[0]
    return int(loud[0]) / 100, (int(loud[-1]) + 1) / 100


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recognizer() -> AsyncIterator[Any]:
    pytest.importorskip("faster_whisper")
    from openlive.engines.asr.whisper import WhisperRecognizer

    loaded = WhisperRecognizer(cpu_threads=1, concurrency=1)
    yield loaded
    await loaded.aclose()


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.mark.realmodel
@pytest.mark.asyncio(loop_scope="module")
class TestRealModels:
    async def test_english_sentences(self, recognizer, speak) -> None:
        transcripts = [await recognizer.transcribe(speak(s), language="en-US") for s in ENGLISH]

        pairs = zip(ENGLISH, transcripts, strict=True)
        errors = sum(edit_distance(words(s), words(t.text)) for s, t in pairs)
        total = sum(len(words(s)) for s in ENGLISH)
        assert errors / total < 0.25, [t.text for t in transcripts]
        assert all(t.language == "en" and t.final for t in transcripts)

    async def test_spanish_given_and_detected(self, recognizer, speak) -> None:
        audio = speak(SPANISH, "es")
        given = await recognizer.transcribe(audio, language="es-ES")
        detected = await recognizer.transcribe(audio)

        assert given.language == detected.language == "es"
        assert wer(SPANISH, given.text) < 0.35, given.text
        assert wer(SPANISH, detected.text) < 0.35, detected.text

    async def test_german_given(self, recognizer, speak) -> None:
        transcript = await recognizer.transcribe(speak(GERMAN, "de"), language="de-DE")
        assert transcript.language == "de"
        assert {"morgen", "kaffee"} <= set(words(transcript.text)), transcript.text

    async def test_partial_of_the_first_half_is_a_prefix(self, recognizer, speak) -> None:
        audio = speak(ENGLISH[1])
        half = audio[: len(audio) // 4 * 2]
        partial = await recognizer.transcribe(half, language="en", final=False)

        got = words(partial.text)[:-1]  # the last word may be cut in two
        assert not partial.final
        assert 2 <= len(got) < len(words(ENGLISH[1]))
        prefix = words(ENGLISH[1])[: len(got)]
        assert edit_distance(prefix, got) / len(got) <= 0.34, partial.text

    async def test_silence_and_quiet_noise_are_empty(self, recognizer) -> None:
        silence = bytes(2 * 32_000)
        noise = np.random.default_rng(7).normal(0, 300, 32_000).astype("<i2").tobytes()

        assert await recognizer.transcribe(silence) == Transcript("", None, True)
        assert await recognizer.transcribe(silence, language="en", final=False) == Transcript(
            "", "en", False
        )
        assert (await recognizer.transcribe(noise, language="en")).text == ""

    async def test_bad_input_is_refused(self, recognizer, speak) -> None:
        with pytest.raises(EngineError, match="does not support the language 'tlh'"):
            await recognizer.transcribe(speak(ENGLISH[0]), language="tlh")
        with pytest.raises(InvalidArgument, match="odd length"):
            await recognizer.transcribe(speak(ENGLISH[0]) + b"\x00")

    async def test_concurrent_calls_all_complete(self, recognizer, speak) -> None:
        calls = [
            recognizer.transcribe(speak(s), language="en", final=i % 2 == 0)
            for i, s in enumerate(ENGLISH)
        ]
        calls.append(recognizer.transcribe(speak(SPANISH, "es"), language="es"))
        results = await asyncio.gather(*calls)

        for sentence, result in zip(ENGLISH, results[:-1], strict=True):
            assert wer(sentence, result.text) < 0.4, result.text
        assert results[-1].language == "es"
        assert recognizer.running == recognizer.waiting == 0

    async def test_finals_overtake_waiting_partials(self, recognizer, speak) -> None:
        order: list[str] = []

        async def call(name: str, final: bool) -> None:
            await recognizer.transcribe(speak(ENGLISH[2]), language="en", final=final)
            order.append(name)

        first = asyncio.create_task(call("first", True))
        await until(lambda: recognizer.running == 1)
        partial = asyncio.create_task(call("partial", False))
        await until(lambda: recognizer.waiting == 1)
        final = asyncio.create_task(call("final", True))
        await asyncio.gather(first, partial, final)

        assert order == ["first", "final", "partial"]

    async def test_cancelling_a_waiting_call(self, recognizer, speak) -> None:
        audio = speak(ENGLISH[3])
        running = asyncio.create_task(recognizer.transcribe(audio, language="en"))
        await until(lambda: recognizer.running == 1)
        doomed = asyncio.create_task(recognizer.transcribe(audio, language="en"))
        after = asyncio.create_task(recognizer.transcribe(audio, language="en", final=False))
        await until(lambda: recognizer.waiting == 2)

        doomed.cancel()
        await until(lambda: recognizer.waiting == 1)
        first, last = await asyncio.gather(running, after)

        assert doomed.cancelled()
        assert wer(ENGLISH[3], first.text) < 0.4 and wer(ENGLISH[3], last.text) < 0.4
        assert recognizer.running == recognizer.waiting == 0

    async def test_cancelling_a_running_call(self, recognizer, speak) -> None:
        audio = speak(ENGLISH[0])
        doomed = asyncio.create_task(recognizer.transcribe(audio, language="en"))
        await until(lambda: recognizer.running == 1)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed

        assert recognizer.running == 1  # the decode runs on; its slot stays taken
        later = await recognizer.transcribe(audio, language="en")
        assert wer(ENGLISH[0], later.text) < 0.25, later.text
        assert recognizer.running == recognizer.waiting == 0

    async def test_the_prompt_carries_the_conversations_spelling(self, recognizer, speak
                                                                 ) -> None:
        audio = speak("Please call Siobhan tomorrow.")
        for language in ("en", None):  # given, and detected
            plain = await recognizer.transcribe(audio, language=language)
            prompted = await recognizer.transcribe(
                audio, language=language, prompt="Shall I remind you to call Siobhan?")

            assert "siobhan" not in words(plain.text), plain.text  # Shivon, Chavonne…
            assert "siobhan" in words(prompted.text), prompted.text
            assert prompted.language == "en"

    async def test_utterance_longer_than_one_window(self, recognizer, speak) -> None:
        audio = speak(LONG)
        pause = bytes(2 * 16_000 * 12)
        transcript = await recognizer.transcribe(audio + pause + audio + pause + audio,
                                                 language="en", words=True)  # fmt: skip
        assert len(audio + pause + audio + pause + audio) > 2 * 16_000 * 30
        assert wer(" ".join([LONG] * 3), transcript.text) < 0.3, transcript.text
        # faster-whisper's own word timings over its windows: the second saying starts
        # after the first pause
        second = (len(audio) + len(pause)) / 32_000
        starts = [w.start for w in transcript.words]
        assert starts == sorted(starts) and len(starts) >= len(words(LONG)) * 2
        assert min(abs(start - second) for start in starts) < 0.5, transcript.words

    async def test_words_are_timed_where_they_are_said(self, recognizer, speak) -> None:
        speech = speak(ENGLISH[0])
        lead, trail = 0.8, 0.3
        audio = microphone(lead) + speech + microphone(trail)
        plain = await recognizer.transcribe(audio, language="en")
        timed = await recognizer.transcribe(audio, language="en", words=True)

        assert plain.words == () and timed.text == plain.text  # only when asked
        assert words(" ".join(w.word for w in timed.words)) == words(timed.text)
        starts = [w.start for w in timed.words]
        assert starts == sorted(starts) and all(w.end >= w.start for w in timed.words)
        onset, offset = speech_bounds(speech)
        # measured on words with known times (docs/asr.md "Word timings"): the first
        # word's start within 14 ms on average, the worst 90 ms; the last word's end
        # within 24 ms on average (the alignment alone: 295 and 132 ms)
        assert timed.words[0].start == pytest.approx(lead + onset, abs=0.15), timed.words
        assert timed.words[-1].end == pytest.approx(lead + offset, abs=0.25), timed.words
        assert timed.words[-1].end <= len(audio) / 32_000


def test_the_language_rule_prefers_english_then_what_the_session_speaks() -> None:
    rule = LanguageRule()
    kokoro_english = {"ja": 0.85, "en": 0.11, "nn": 0.02}  # measured (docs/asr.md)
    assert rule.choose(kokoro_english) == "en"
    assert rule.choose({"es": 0.99, "pt": 0.005, "en": 0.005}) == "es"
    assert rule.choose({"th": 0.3, "vi": 0.2, "en": 0.01}) == "en"  # nobody is sure: English
    assert rule.choose({"it": 0.48, "es": 0.30, "en": 0.0}) == "it"
    # a Spanish session keeps Spanish on a doubtful utterance, switches on a sure one
    assert rule.choose({"pt": 0.6, "es": 0.2, "en": 0.1}, expected="es") == "es"
    assert rule.choose({"pt": 0.85, "en": 0.1, "es": 0.01}, expected="es") == "es"
    assert rule.choose({"en": 0.95, "es": 0.01}, expected="es") == "en"
    assert rule.choose(kokoro_english, expected="en") == "en"



def test_the_language_rule_chooses_among_the_allowed_languages() -> None:
    rule = LanguageRule()
    # languageCodes [es, pt]: Thai is out of the question; detection between the two decides
    assert rule.choose({"th": 0.6, "pt": 0.3, "es": 0.1}, allowed=frozenset({"es", "pt"})) == "pt"
    # English allowed: it keeps its floor as without narrowing
    assert rule.choose({"ja": 0.85, "en": 0.11}, allowed=frozenset({"en", "ja"})) == "en"
    # a session speaking Spanish keeps it within the allowed ones
    assert rule.choose({"pt": 0.6, "es": 0.3}, "es", frozenset({"es", "pt"})) == "es"
    # detection gave none of the allowed languages a score: the first of them
    assert rule.choose({"th": 1.0}, allowed=frozenset({"fr", "de"})) == "de"


def test_english_decodes_on_base_unless_given_another_model() -> None:
    """bench/recognition.py: base heard the human recordings with 4.3 % WER, tiny.en 12.5 %."""
    pytest.importorskip("faster_whisper")
    from openlive.engines.asr.whisper import WhisperRecognizer
    from openlive.engines.models import WHISPER_TINY_EN
    from openlive.engines.weights import ensure

    default = WhisperRecognizer(preload=False)
    assert default._english is default._multilingual  # one model serves every language
    assert default._english.path.name == "whisper-base-ct2"

    tiny = ensure(WHISPER_TINY_EN)
    chosen = WhisperRecognizer(preload=False, english_model_path=tiny)
    assert chosen._english.path == tiny
    assert chosen._multilingual.path.name == "whisper-base-ct2"


def test_a_decode_that_loops_compresses_too_well() -> None:
    from openlive.engines.asr.whisper import LOOP_COMPRESSION_RATIO, compression_ratio

    loop = "10分間、10分間、10分間、10分間、10分間、10分間、10分間、"  # heard on Kokoro's English
    assert compression_ratio(loop) > LOOP_COMPRESSION_RATIO
    for speech in ("Please set a timer for ten minutes.",
                   "and mister john dashwood had then leisure to consider how much there",
                   "¿Cuántas patas tiene una araña?", "東京は日本の首都です。"):
        assert compression_ratio(speech) < LOOP_COMPRESSION_RATIO, speech
    assert compression_ratio("") == 0.0


def test_a_short_loop_is_a_loop_too() -> None:
    from openlive.engines.asr.whisper import loops

    assert loops("Message is equals 1-1-1-1-1-1-1-1-1-1-1-1-1")  # base on Piper's "one"
    assert loops("10分間、10分間、10分間、10分間、10分間、10分間、10分間、")
    assert not loops("Messages equals 1 what is the capital on France.")
    assert not loops("No, no, no, that is not what I said.")  # three is speech
    assert not loops("")
