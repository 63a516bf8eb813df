"""Piper speech synthesis (piper-tts), streamed in chunks of at most 100 ms of 24 kHz PCM.

Theory of operation: a Piper voice is one VITS network in one ONNX graph: text encoder,
duration predictor and flow (``enc_p``, ``dp``, ``flow``: phonemes to a latent
sequence ``z``, one frame per 256 output samples), then a HiFi-GAN decoder (``dec``:
``z`` to waveform) that costs two thirds of the time. Run whole, the graph gives
nothing until the sentence is done. So at load time the graph is cut in two where the
decoder starts (with the ``onnx`` package: all nodes named ``/dec/...`` go to the second
part). Per sentence the first part runs once; the decoder then runs on windows of
``z``, each with :data:`_PAD_FRAMES` frames of context on both sides, cropped, so the
joined audio matches the one-shot output (about 60 dB SNR) while the first window is
small enough to be heard after a few tens of milliseconds. Without ``onnx``, or with a
graph that does not look like this, the whole graph runs once per sentence.

Output is resampled from the voice's rate (22 050 Hz) to 24 kHz by a streaming soxr
resampler that lives for the whole call, so window and sentence joins do not click.
Pitch variants of a voice (see :mod:`openlive.engines.tts.voices`) use the same
resampler: the voice is synthesized ``r`` times slower and resampled as if its rate were
``r`` times higher, which raises its pitch by ``r`` at the original duration.

Synthesis runs in a thread pool of ``max_concurrency`` workers (FIFO, so sessions are
served in order), each ONNX run on ``threads`` threads; the event loop only moves bytes.
Cancelling the consuming task stops the worker before its next decoder window.

This module also holds the streaming helpers the other backends share
(:class:`PcmOutput`, :func:`stream_in_worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

from openlive.audio.delivery import Delivery
from openlive.engines.models import PIPER_JOE, PIPER_JOE_CONFIG, PIPER_JOE_MODEL
from openlive.engines.scheduler import Priority, Resource
from openlive.engines.tts.base import OUTPUT_RATE, Voice
from openlive.engines.tts.voices import (
    LANGUAGES,
    VOICE_NAMES,
    resolve_language,
    resolve_voice,
)
from openlive.engines.weights import check_user_file, ensure
from openlive.errors import ConfigError, EngineError, InvalidArgument

__all__ = [
    "CHUNK_SAMPLES",
    "PcmOutput",
    "PiperSynthesizer",
    "Sink",
    "stream_in_worker",
]

_LOG = logging.getLogger(__name__)

Audio = npt.NDArray[np.float32]

CHUNK_SAMPLES = OUTPUT_RATE // 10  # 100 ms: the largest chunk a synthesizer yields

_FIRST_WINDOW_FRAMES = 16  # decoder frames (256 samples each) in a sentence's first window
_WINDOW_FRAMES = 64  # in each later window
_PAD_FRAMES = 8  # context on each side of a window; 8 gives ~60 dB SNR against one-shot
# Piper peak-normalizes each sentence, which a stream cannot; a fixed gain instead brings
# joe (raw peaks 0.3-0.6, RMS 0.06) to about -20 dBFS RMS; PcmOutput clips the rare overs.
_GAIN = 1.6


# --- shared by the synthesizers ------------------------------------------------------


class _Stopped(Exception):
    """Raised inside a worker when its consumer has gone away."""


class Sink:
    """The worker's end of a stream: hand over chunks, and learn early when to stop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | Exception | None]
    ) -> None:
        self._loop = loop
        self._queue = queue
        self._stop = threading.Event()

    def check(self) -> None:
        """Raise (ending the worker quietly) once the consumer is gone; call between runs."""
        if self._stop.is_set():
            raise _Stopped

    def emit(self, chunk: bytes) -> None:
        """Send one chunk of PCM to the consumer, or stop if it is gone."""
        self.check()
        self.put(chunk)

    def stop(self) -> None:
        """Called by the consumer when it goes away."""
        self._stop.set()

    def put(self, item: bytes | Exception | None) -> None:
        """Queue ``item`` (a chunk, the worker's failure, or None for the end)."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._stop.set()
            raise _Stopped from None


async def stream_in_worker(
    slots: Resource, produce: Callable[[Sink], None], priority: Priority = Priority.WAITING
) -> AsyncIterator[bytes]:
    """Run ``produce(sink)`` in a slot of ``slots`` and yield what it emits, as it emits it.

    The slot is waited for by ``priority`` (see :mod:`openlive.engines.scheduler`) and
    held until the worker returns. Closing or cancelling the iteration stops the worker
    at its next ``sink.check()`` (or leaves the queue, if it was still waiting). A
    failure in the worker is raised here as :class:`EngineError`.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
    sink = Sink(loop, queue)

    def work() -> None:
        try:
            produce(sink)
            sink.put(None)
        except _Stopped:
            pass
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            _LOG.debug("synthesis failed", exc_info=True)
            with contextlib.suppress(_Stopped):
                sink.put(exc)

    future = await slots.start(work, priority=priority)
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise EngineError(f"speech synthesis failed: {item}") from item
            yield item
    finally:
        sink.stop()
        future.cancel()


class PcmOutput:
    """Float audio at a voice's rate in, 24 kHz 16-bit chunks of ≤ 100 ms out; one per call.

    ``in_rate`` is the rate the audio is *declared* to have: the voice's own rate times
    the pitch ratio (see the module docstring). One resampler serves the whole call.
    """

    def __init__(self, in_rate: float, *, gain: float = 1.0) -> None:
        self._gain = gain
        self._resampler: Any = None
        if abs(in_rate - OUTPUT_RATE) > 1e-6:
            self._resampler = soxr.ResampleStream(in_rate, OUTPUT_RATE, 1, dtype="float32")

    def push(self, audio: Audio, *, last: bool = False) -> list[bytes]:
        """Chunks for ``audio``; ``last=True`` also drains the resampler. Call in order."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if self._resampler is not None:
            audio = self._resampler.resample_chunk(audio, last=last)
        pcm = np.clip(audio * (self._gain * 32767.0), -32768, 32767).astype("<i2")
        return [pcm[i : i + CHUNK_SAMPLES].tobytes() for i in range(0, len(pcm), CHUNK_SAMPLES)]


def pitch_ratio(voice: Voice) -> float:
    """Frequency ratio of the voice's pitch shift (``2 ** (semitones / 12)``)."""
    return float(2.0 ** (voice.pitch_semitones / 12.0))


# --- Piper ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Graph:
    """The voice's ONNX graph, cut before the decoder when possible (see module doc)."""

    front: Any  # onnxruntime.InferenceSession: phonemes to decoder inputs (or whole graph)
    decoder: Any  # InferenceSession for the decoder, or None when not split
    latent: str  # name of the decoder input with a time axis (``z``)
    extras: tuple[str, ...]  # other decoder inputs, passed whole (speaker embedding)

    def audio(self, inputs: dict[str, Any], check: Callable[[], None]) -> Iterator[Audio]:
        """Waveform pieces for one sentence, the first as early as possible."""
        outputs = self.front.run(None, inputs)
        if self.decoder is None:
            yield np.asarray(outputs[0], dtype=np.float32).reshape(-1)
            return
        named = dict(zip([o.name for o in self.front.get_outputs()], outputs, strict=True))
        latent = named[self.latent]
        extras = {name: named[name] for name in self.extras}
        frames = latent.shape[-1]
        for start, end in _windows(frames):
            check()
            lo, hi = max(0, start - _PAD_FRAMES), min(frames, end + _PAD_FRAMES)
            window = self.decoder.run(None, {self.latent: latent[..., lo:hi], **extras})[0]
            samples = np.asarray(window, dtype=np.float32).reshape(-1)
            hop = len(samples) // (hi - lo)
            yield samples[(start - lo) * hop : (end - lo) * hop]


def _windows(frames: int) -> Iterator[tuple[int, int]]:
    start, size = 0, _FIRST_WINDOW_FRAMES
    while start < frames:
        end = min(frames, start + size)
        yield start, end
        start, size = end, _WINDOW_FRAMES


class PiperSynthesizer:
    """Piper voices; by default the bundled en_US "joe" voice. Load at start-up (blocks).

    ``model_path``/``config_path``: your own Piper voice (``.onnx`` and its ``.json``;
    the config defaults to ``<model>.json``), verified when ``model_sha256`` /
    ``config_sha256`` are given; the bundled voice is always verified.
    ``split_decoder``: stream inside a sentence (needs the ``onnx`` package); ``None``
    means "when possible".
    """

    backend = "piper"

    def __init__(
        self,
        model_path: str | Path | None = None,
        config_path: str | Path | None = None,
        *,
        model_sha256: str | None = None,
        config_sha256: str | None = None,
        max_concurrency: int = 2,
        threads: int = 1,
        split_decoder: bool | None = None,
    ) -> None:
        if max_concurrency < 1 or threads < 1:
            raise ConfigError("max_concurrency and threads must be at least 1")
        model, config = _voice_files(model_path, config_path, model_sha256, config_sha256)
        model_bytes = _read(model)
        config_bytes = _read(config)
        self._voice, self._graph = _load_voice(model_bytes, config_bytes, threads, split_decoder)
        self._rate = int(self._voice.config.sample_rate)
        self._language = _voice_language(self._voice.config)
        self._slots = Resource("piper", max_concurrency)
        _LOG.info(
            "piper voice %s loaded (%s Hz, %s)",
            model.name,
            self._rate,
            "streaming decoder" if self.streams_within_sentence else "whole sentences",
        )

    @property
    def streams_within_sentence(self) -> bool:
        """Whether audio comes out in decoder windows rather than whole sentences."""
        return self._graph.decoder is not None

    def voices(self) -> Sequence[str]:
        """The 30 Live API voice names; each is a pitch/rate variant of this voice."""
        return VOICE_NAMES

    def languages(self) -> frozenset[str]:
        """Live API language codes this voice speaks (its own language, any region)."""
        return self._language

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

        ``delivery``: its rate scales Piper's ``length_scale``, its pitch shifts the
        voice, its expressiveness scales the noise scales (how much intonation and
        phoneme lengths vary). Raises :class:`InvalidArgument` at once for an unknown
        voice name or a language this voice does not speak.
        """
        rendering = resolve_voice(voice, "piper").delivered(delivery)
        if language is not None and resolve_language(language).code not in self._language:
            raise InvalidArgument(
                f"languageCode {language} is not spoken by the Piper voice "
                f"(it speaks {', '.join(sorted(self._language))})"
            )
        if self._slots.closed:
            raise EngineError("the Piper synthesizer is closed")
        return stream_in_worker(
            self._slots, lambda sink: self._produce(text, rendering, sink), priority
        )

    async def aclose(self) -> None:
        """Stop taking work; running syntheses finish their current window."""
        await self._slots.aclose(wait=False)

    def _produce(self, text: str, voice: Voice, sink: Sink) -> None:
        ratio = pitch_ratio(voice)
        out = PcmOutput(self._rate * ratio, gain=_GAIN)
        config = self._voice.config
        scales = np.array(
            [
                config.noise_scale * voice.expressiveness,
                config.length_scale * voice.length_scale * ratio,
                config.noise_w_scale * voice.expressiveness,
            ],
            dtype=np.float32,
        )
        for phonemes in self._voice.phonemize(text.replace("[[", "[ [")):
            sink.check()
            ids = self._voice.phonemes_to_ids(phonemes)
            inputs = self._inputs(ids, scales, voice)
            for audio in self._graph.audio(inputs, sink.check):
                for chunk in out.push(audio):
                    sink.emit(chunk)
        for chunk in out.push(np.zeros(0, dtype=np.float32), last=True):
            sink.emit(chunk)

    def _inputs(self, ids: list[int], scales: Audio, voice: Voice) -> dict[str, Any]:
        inputs: dict[str, Any] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": scales,
        }
        if self._voice.config.num_speakers > 1:
            speaker = voice.speaker_id
            if speaker is None or not 0 <= speaker < self._voice.config.num_speakers:
                speaker = self._voice.config.default_speaker_id
            inputs["sid"] = np.array([speaker], dtype=np.int64)
        return inputs


def _voice_files(
    model_path: str | Path | None,
    config_path: str | Path | None,
    model_sha256: str | None,
    config_sha256: str | None,
) -> tuple[Path, Path]:
    if model_path is None:
        if config_path is not None or model_sha256 is not None or config_sha256 is not None:
            raise ConfigError(
                "config_path and the digests need model_path (the bundled voice is verified)"
            )
        voice = ensure(PIPER_JOE)
        return voice / PIPER_JOE_MODEL, voice / PIPER_JOE_CONFIG
    model = check_user_file(model_path, model_sha256, what="Piper voice")
    config = config_path if config_path is not None else f"{model}.json"
    return model, check_user_file(config, config_sha256, what="Piper voice config")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read Piper voice file {path}: {exc}") from exc


def _load_voice(
    model_bytes: bytes, config_bytes: bytes, threads: int, split_decoder: bool | None
) -> tuple[Any, _Graph]:
    try:
        import onnxruntime
        from piper.config import PiperConfig
        from piper.voice import PiperVoice
    except ImportError as exc:
        raise EngineError("piper-tts is not installed (pip install piper-tts==1.8.0)") from exc
    try:
        config = PiperConfig.from_dict(json.loads(config_bytes))
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"not a Piper voice config: {exc}") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    graph = _split_graph(model_bytes, options) if split_decoder is not False else None
    if graph is None:
        if split_decoder:
            raise ConfigError("split_decoder needs the onnx package and a VITS-shaped graph")
        session = _session(onnxruntime, model_bytes, options)
        graph = _Graph(front=session, decoder=None, latent="", extras=())
    return PiperVoice(session=graph.front, config=config), graph


def _session(onnxruntime: Any, model: bytes, options: Any) -> Any:
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )


def _split_graph(model_bytes: bytes, options: Any) -> _Graph | None:
    """Cut the graph before its decoder (the ``/dec/`` nodes); None when that fails."""
    try:
        import onnx
        import onnx.utils
        import onnxruntime
    except ImportError:
        _LOG.info("onnx is not installed: Piper audio comes out sentence by sentence")
        return None
    try:
        model = onnx.load_from_string(model_bytes)
        decoder_inputs, output = _decoder_boundary(model.graph)
        latent = _latent_input(model.graph, decoder_inputs)
        inputs = [i.name for i in model.graph.input]
        extractor = onnx.utils.Extractor(model)
        front = extractor.extract_model(inputs, decoder_inputs)
        decoder = extractor.extract_model(decoder_inputs, [output])
    except (ValueError, KeyError, IndexError, onnx.checker.ValidationError) as exc:
        _LOG.info("cannot split the Piper graph (%s): audio comes out sentence by sentence", exc)
        return None
    return _Graph(
        front=_session(onnxruntime, front.SerializeToString(), options),
        decoder=_session(onnxruntime, decoder.SerializeToString(), options),
        latent=latent,
        extras=tuple(name for name in decoder_inputs if name != latent),
    )


def _decoder_boundary(graph: Any) -> tuple[list[str], str]:
    """The tensors flowing into the ``/dec/`` nodes from outside, and the graph output."""
    decoder_nodes = [node for node in graph.node if node.name.startswith("/dec/")]
    if not decoder_nodes or len(graph.output) != 1:
        raise ValueError("no /dec/ nodes or not exactly one output")
    produced = {name for node in decoder_nodes for name in node.output}
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    inputs = sorted(
        {
            name
            for node in decoder_nodes
            for name in node.input
            if name and name not in produced and name not in constants
        }
    )
    if not inputs:
        raise ValueError("the decoder has no inputs")
    return inputs, graph.output[0].name


def _latent_input(graph: Any, decoder_inputs: list[str]) -> str:
    """The decoder input read by ``conv_pre`` (``z``, with a time axis)."""
    for node in graph.node:
        if node.name.startswith("/dec/conv_pre") and node.input[0] in decoder_inputs:
            return str(node.input[0])
    raise ValueError("no /dec/conv_pre node")


def _voice_language(config: Any) -> frozenset[str]:
    """Live API codes a voice speaks: any region of its language (``en_US`` → ``en-*``)."""
    family = str(getattr(config, "espeak_voice", "en")).split("-")[0].lower()
    return frozenset(code for code, lang in LANGUAGES.items() if lang.family == family)
