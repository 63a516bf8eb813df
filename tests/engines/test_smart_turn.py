"""Smart Turn v3.2: features, fetching on first use, and the real model on espeak-ng speech."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import shutil
import statistics
import subprocess
import time
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest

from openlive.audio.pcm import float32_to_pcm16, pcm16_to_float32
from openlive.audio.resample import input_resampler
from openlive.engines import weights
from openlive.engines.models import SMART_TURN, SMART_TURN_MODEL
from openlive.engines.turn.smart_turn import (
    MAX_SAMPLES,
    SmartTurn,
    last_window,
    log_mel_features,
    model_path,
)
from openlive.engines.weights import ensure
from openlive.errors import ConfigError, EngineError

# --- features: golden values from pipecat 1.14.0's compute_whisper_log_mel_features ------


def golden_signal() -> np.ndarray:
    """3 s of an amplitude-modulated chirp over a square-wave buzz (deterministic)."""
    t = np.arange(3 * 16_000) / 16_000
    chirp = np.sin(2 * np.pi * (100 * t + 600 * t**2))
    am = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))
    buzz = np.sign(np.sin(2 * np.pi * 140 * t)) * 0.05
    return (0.3 * chirp * am + buzz).astype(np.float32)


GOLDEN_SUM = 13296.031571133994
GOLDEN_SUM_OF_SQUARES = 17290.820924563708
GOLDEN_ENTRIES = {
    (0, 0): -0.12408887594938278,
    (5, 400): -0.13371554017066956,
    (20, 650): 0.67798912525177,
    (40, 700): 0.6089987754821777,
    (79, 799): 0.5886333584785461,
    (60, 520): 0.689765214920044,
    (10, 790): 1.2645822763442993,
    (33, 555): 0.8507063388824463,
}


def test_features_match_pipecats_whisper_extractor() -> None:
    features = log_mel_features(last_window(golden_signal()))
    assert features.shape == (80, 800) and features.dtype == np.float32
    as64 = features.astype(np.float64)
    assert as64.sum() == pytest.approx(GOLDEN_SUM, rel=1e-9)
    assert (as64**2).sum() == pytest.approx(GOLDEN_SUM_OF_SQUARES, rel=1e-9)
    for (mel, frame), value in GOLDEN_ENTRIES.items():
        assert features[mel, frame] == pytest.approx(value, abs=1e-6)


def test_the_window_is_the_last_8_seconds_left_padded() -> None:
    short = np.ones(16_000, dtype=np.float32)
    padded = last_window(short)
    assert padded.size == MAX_SAMPLES and padded[: MAX_SAMPLES - 16_000].max() == 0
    long = np.arange(MAX_SAMPLES + 5, dtype=np.float32)
    assert last_window(long)[0] == 5


# --- the model file -----------------------------------------------------------------------------
# How ensure() fetches and verifies it is tested in test_weights.py; here: what SmartTurn does.


def fake_wheel(directory: Path, payload: bytes, licence: bytes = b"BSD 2-Clause") -> Path:
    """A wheel laid out like pipecat-ai 1.14.0's, for the members SMART_TURN names."""
    wheel = directory / "pipecat_ai-1.14.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for file, content in zip(SMART_TURN.files, (payload, licence), strict=True):
            archive.writestr(file.pieces[0].member, content)
    return wheel


def test_a_missing_own_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Smart Turn model file not found"):
        SmartTurn(tmp_path / "nowhere.onnx")


def test_a_wrong_digest_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"junk")
    with pytest.raises(EngineError, match="SHA-256"):
        SmartTurn(bogus, sha256="0" * 64)


def test_model_path_follows_the_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENLIVE_CACHE_DIR", str(tmp_path))
    assert model_path() == tmp_path / "models" / "smart-turn-v3.2" / "smart-turn-v3.2-cpu.onnx"


def test_a_tampered_wheel_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if installed("pipecat-ai"):
        pytest.skip("pipecat-ai is installed: ensure() takes the model from it, not a wheel")
    tampered = b"x" * SMART_TURN.files[0].size  # the right size: only the digest tells
    monkeypatch.setattr(weights, "download_wheel", lambda _, d: fake_wheel(d, tampered))
    with pytest.raises(EngineError, match="SHA-256 mismatch"):
        SmartTurn(cache_dir=tmp_path)
    assert not model_path(tmp_path).exists()


def test_the_server_fetches_a_missing_model_on_first_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if installed("pipecat-ai"):
        pytest.skip("pipecat-ai is installed: ensure() takes the model from it, not a wheel")
    from openlive.server import run

    real = ensure(SMART_TURN, progress=False)  # the default cache, prepared by the installer
    model_bytes = (real / SMART_TURN_MODEL).read_bytes()
    licence = (real / "LICENSE").read_bytes()
    downloads: list[str] = []

    def download(requirement: str, directory: Path) -> Path:
        downloads.append(requirement)
        return fake_wheel(directory, model_bytes, licence)  # what pip would leave there

    monkeypatch.setattr(weights, "download_wheel", download)
    monkeypatch.setenv("OPENLIVE_CACHE_DIR", str(tmp_path / "cache"))
    model = run._smart_turn()
    fetched = tmp_path / "cache" / "models" / "smart-turn-v3.2"
    assert model.path == fetched / SMART_TURN_MODEL
    assert model.path.read_bytes() == model_bytes and downloads == ["pipecat-ai==1.14.0"]
    assert b"BSD 2-Clause License" in (fetched / "LICENSE").read_bytes()
    assert 0.0 <= model.predict_blocking(b"\x00\x00" * 16000) <= 1.0
    run._smart_turn()  # there now: no second download
    assert len(downloads) == 1


def installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


# --- the real model -------------------------------------------------------------------------------


def espeak(text: str, voice: str) -> np.ndarray:
    """``text`` spoken by espeak-ng at 16 kHz, trimmed of espeak's trailing silence."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: apt-get install -y espeak-ng")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate, pcm = reader.getframerate(), reader.readframes(reader.getnframes())
    resampler = input_resampler(rate)
    samples = pcm16_to_float32(resampler.process(pcm) + resampler.flush())
    last = np.flatnonzero(np.abs(samples) > 0.02)[-1]
    return samples[: last + 1]


def as_turn(samples: np.ndarray) -> bytes:
    """A turn as a session hands it over: 0.5 s before, 0.2 s of pause after."""
    quiet = np.zeros(16_000 // 10, dtype=np.float32)
    return float32_to_pcm16(np.concatenate([quiet] * 5 + [samples] + [quiet] * 2))


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    return SmartTurn()


PAIRS = [
    (
        "I would like to book a table for two people tomorrow evening.",
        "I would like to book a table for two people and then I",
    ),
    ("Can you tell me a joke?", "Can you tell me a, um"),
]


@pytest.mark.realmodel
@pytest.mark.parametrize("voice", ["en-us", "en-us+f3"])
@pytest.mark.parametrize(("complete", "unfinished"), PAIRS, ids=["and-then-I", "um"])
def test_a_complete_sentence_scores_higher_than_an_unfinished_one(
    smart_turn: SmartTurn, voice: str, complete: str, unfinished: str
) -> None:
    done = smart_turn.predict_blocking(as_turn(espeak(complete, voice)))
    not_done = smart_turn.predict_blocking(as_turn(espeak(unfinished, voice)))
    # The unfinished one is never taken for done; the finished statement's own score on
    # espeak's flat prosody depends on the CPU's kernels (0.39-0.46 on one 2-core machine,
    # above 0.5 on another), so only the gap between the two is asserted, not its side of
    # 0.5 (the session then waits for the silence window instead).
    assert not_done < 0.5
    assert done - not_done > 0.3


@pytest.mark.realmodel
async def test_predict_runs_off_the_event_loop(smart_turn: SmartTurn) -> None:
    turn = as_turn(espeak("What time is it?", "en-us"))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    probability = await smart_turn.predict(turn)
    task.cancel()
    assert 0.0 <= probability <= 1.0
    assert probability == pytest.approx(smart_turn.predict_blocking(turn), abs=1e-6)
    assert ticks >= 3  # the loop kept running while the model thought


@pytest.mark.realmodel
def test_latency_per_call(smart_turn: SmartTurn) -> None:
    turn = as_turn(espeak("Please turn on the lights in the kitchen.", "en-us"))
    smart_turn.predict_blocking(turn)
    wall, cpu = [], []
    for _ in range(5):
        started, started_cpu = time.perf_counter(), time.process_time()
        smart_turn.predict_blocking(turn)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(
        f"\nSmart Turn v3.2: {statistics.median(wall) * 1000:.0f} ms wall, "
        f"{statistics.median(cpu) * 1000:.0f} ms CPU per call (median of 5)"
    )
    assert statistics.median(wall) < 2.0  # generous: 80-300 ms on the shared 2-core box
