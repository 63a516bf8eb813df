"""The VAD batcher on the real Silero model: scores equal scoring each stream alone, in
order; closed streams hear nothing and are forgotten; shutdown stops the worker; and a
session through the driver still sees its scores before its next message."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.engines.scheduler import Priority
from openlive.engines.vad.silero import FrameSplitter, SharedSileroModel, SileroStream
from openlive.errors import EngineError
from openlive.runtime.audio_input import AudioInput
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.runtime.vad_batcher import InlineVad, VadBatcher, VadScorer, VadStream
from openlive.session.bargein import ECHO_THRESHOLD
from openlive.session.config import ServerCapabilities
from openlive.session.events import SpeechScored
from openlive.session.machine import Session
from tests.engines.test_silero_vad import espeak, silence, white_noise
from tests.fakes.asr import MeasuringRecognizer
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import MemoryTransport
from tests.runtime.test_echo import played_back, speech

WAIT = 10.0  # seconds any single wait may take before the test fails


class GatedModel:
    """The real shared model, wrapped: each call waits for ``gate`` (so a test can let
    frames pile up behind the call in progress) and records its batch size."""

    def __init__(self, model: SharedSileroModel) -> None:
        self.model = model
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a call has started
        self.sizes: list[int] = []
        self.fail = False

    def stream(self) -> SileroStream:
        return self.model.stream()

    def score_batch(self, streams: Sequence[SileroStream], frames: Sequence[bytes]
                    ) -> list[float]:
        self.entered.set()
        if not self.gate.wait(WAIT):
            raise TimeoutError("the test never opened the gate")
        self.sizes.append(len(streams))
        if self.fail:
            raise RuntimeError("the model broke")
        return self.model.score_batch(streams, frames)

    def hold(self) -> None:
        """The next call blocks until :meth:`release`."""
        self.entered.clear()
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()


class Sink:
    """A session's end of a stream: the scores, and a wake-up once it has enough."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.scores: list[float] = []
        self.failures: list[Exception] = []
        self.done = asyncio.Event()

    def score(self, probability: float) -> None:
        self.scores.append(probability)
        if len(self.scores) >= self.expected:
            self.done.set()

    def fail(self, error: Exception) -> None:
        self.failures.append(error)
        self.done.set()


@pytest.fixture(scope="module")
def model() -> SharedSileroModel:
    return SharedSileroModel()


@pytest.fixture
def gated(model: SharedSileroModel) -> GatedModel:
    return GatedModel(model)


@pytest.fixture
def batcher(gated: GatedModel) -> Iterator[VadBatcher]:
    batcher = VadBatcher(gated)  # type: ignore[arg-type]  # duck-typed like the real one
    yield batcher
    gated.release()
    batcher.close()


@pytest.fixture(scope="module")
def clips() -> list[list[bytes]]:
    """Frames of three different streams: two voices and noise, of different lengths."""
    audio = [silence(0.2) + espeak("Good morning, how are you?"),
             white_noise(0.8, 0.1),
             espeak("Turn it off please", "en-us+f3") + silence(0.3)]
    return [FrameSplitter().push(pcm) for pcm in audio]


def alone(model: SharedSileroModel, frames: list[bytes]) -> list[float]:
    stream = model.stream()
    return [stream.score(frame) for frame in frames]


async def until_entered(gated: GatedModel) -> None:
    assert await asyncio.to_thread(gated.entered.wait, WAIT), "the worker never called"


# --- the batcher ---------------------------------------------------------------------------


async def test_streams_scored_together_equal_each_scored_alone_in_order(
        batcher: VadBatcher, gated: GatedModel, model: SharedSileroModel,
        clips: list[list[bytes]]) -> None:
    sinks = [Sink(len(frames)) for frames in clips]
    streams = [batcher.open(s.score, s.fail) for s in sinks]
    gated.hold()
    streams[0].submit(clips[0][:1])
    await until_entered(gated)  # frames now pile up behind this call
    sent = [1, 0, 0]
    sizes = [3, 1, 5, 2, 4]  # chunks of uneven length, interleaved across the streams
    while any(n < len(c) for n, c in zip(sent, clips, strict=True)):
        for i, frames in enumerate(clips):
            step = sizes[(sent[i] + i) % len(sizes)]
            streams[i].submit(frames[sent[i]:sent[i] + step])
            sent[i] += step
    gated.release()
    await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in sinks)), WAIT)

    for sink, frames in zip(sinks, clips, strict=True):
        assert len(sink.scores) == len(frames)
        assert np.allclose(sink.scores, alone(model, frames), atol=1e-5, rtol=0)
    assert max(gated.sizes) == len(clips)  # one call did hold a frame of every stream
    assert len(gated.sizes) < sum(len(c) for c in clips)
    assert batcher.pending == 0


async def test_a_busy_stream_takes_several_calls_one_frame_each(
        batcher: VadBatcher, gated: GatedModel, model: SharedSileroModel,
        clips: list[list[bytes]]) -> None:
    sink = Sink(len(clips[0]))
    batcher.open(sink.score, sink.fail).submit(clips[0])  # one chunk of many frames
    await asyncio.wait_for(sink.done.wait(), WAIT)
    assert gated.sizes == [1] * len(clips[0])  # its state carries from frame to frame
    assert np.allclose(sink.scores, alone(model, clips[0]), atol=1e-5, rtol=0)


async def test_a_closed_stream_hears_nothing_more_and_is_forgotten(
        batcher: VadBatcher, gated: GatedModel, clips: list[list[bytes]]) -> None:
    ended, other = Sink(1), Sink(len(clips[1]))
    ended_ref = weakref.ref(ended)
    closing = batcher.open(ended.score, ended.fail)
    staying = batcher.open(other.score, other.fail)
    gated.hold()
    closing.submit(clips[0][:1])
    await until_entered(gated)  # this frame's score is on its way …
    closing.submit(clips[0][1:])  # … and these wait
    staying.submit(clips[1])
    closing.close()  # the session ends
    assert batcher.pending == len(clips[1])
    gated.release()
    await asyncio.wait_for(other.done.wait(), WAIT)
    await asyncio.sleep(0.05)  # anything still in flight has landed by now
    assert ended.scores == []
    assert len(other.scores) == len(clips[1])
    del closing, ended
    gc.collect()
    assert ended_ref() is None  # the batcher kept no reference to the ended session


async def test_close_stops_the_worker_and_drops_waiting_frames(
        batcher: VadBatcher, gated: GatedModel, clips: list[list[bytes]]) -> None:
    sink = Sink(len(clips[0]))
    stream = batcher.open(sink.score, sink.fail)
    gated.hold()
    stream.submit(clips[0])
    await until_entered(gated)
    closing = asyncio.create_task(asyncio.to_thread(batcher.close))
    while batcher.pending:  # close() drops the waiting frames first
        await asyncio.sleep(0.005)
    gated.release()  # the call in progress ends; nothing after it runs
    await asyncio.wait_for(closing, WAIT)
    await asyncio.sleep(0.05)
    assert not batcher.running
    assert len(sink.scores) <= 1 and batcher.pending == 0
    with pytest.raises(RuntimeError):
        stream.submit(clips[0][:1])
    with pytest.raises(RuntimeError):
        batcher.open(sink.score, sink.fail)


async def test_a_model_failure_reaches_the_streams_of_that_call_and_the_worker_goes_on(
        batcher: VadBatcher, gated: GatedModel, clips: list[list[bytes]]) -> None:
    broken = Sink(1)
    gated.fail = True
    batcher.open(broken.score, broken.fail).submit(clips[0][:3])
    await asyncio.wait_for(broken.done.wait(), WAIT)
    await asyncio.sleep(0.05)
    assert len(broken.failures) == 1 and broken.scores == []
    gated.fail = False
    healthy = Sink(len(clips[1]))
    batcher.open(healthy.score, healthy.fail).submit(clips[1])
    await asyncio.wait_for(healthy.done.wait(), WAIT)
    assert healthy.failures == [] and batcher.running


async def test_streams_of_a_closed_event_loop_are_dropped(
        batcher: VadBatcher, clips: list[list[bytes]]) -> None:
    lost = Sink(1)

    async def open_there() -> VadStream:
        return batcher.open(lost.score, lost.fail)

    # another thread's loop, closed once the stream is open (asyncio.run closes it)
    orphan = await asyncio.to_thread(asyncio.run, open_there())
    orphan.submit(clips[0])
    here = Sink(len(clips[1]))
    batcher.open(here.score, here.fail).submit(clips[1])
    await asyncio.wait_for(here.done.wait(), WAIT)
    await asyncio.sleep(0.05)
    assert lost.scores == [] and batcher.pending == 0 and batcher.running


# --- a session's audio input ----------------------------------------------------------------


def feed_chunks(audio: AudioInput, pcm16k: np.ndarray, start: float) -> None:
    """100 ms chunks, each arriving (wall time) when its last sample was spoken."""
    data = np.clip(pcm16k, -32768, 32767).astype("<i2").tobytes()
    chunk = 3200
    for k, i in enumerate(range(0, len(data), chunk)):
        audio.push(data[i:i + chunk], 16_000, start + (k + 1) * 0.1)


async def scored_by(vad: VadScorer, answer24k: np.ndarray, heard: np.ndarray
                    ) -> list[tuple[float, float, float]]:
    got: list[tuple[float, float, float]] = []
    failures: list[Exception] = []
    audio = AudioInput(vad, lambda *score: got.append(score), failures.append)
    pcm = answer24k.astype("<i2").tobytes()
    for i in range(0, len(pcm), 4800):  # the server said this, 100 ms at a time
        audio.echo.sent(pcm[i:i + 4800], 10.0 + i // 4800 * 0.1)
    feed_chunks(audio, heard, 10.0)
    await asyncio.wait_for(audio.settled(), WAIT)
    audio.close()
    assert not failures
    return got


async def test_audio_input_reports_the_same_scores_and_echo_as_scoring_inline(
        model: SharedSileroModel, tmp_path: Path) -> None:
    answer = speech(tmp_path, "The capital of France is Paris, a city on the river Seine.",
                    24000)
    heard = played_back(answer, 0.3, 0.3)  # a speakerphone hears the answer come back
    batcher = VadBatcher(model)
    try:
        batched = await scored_by(batcher, answer, heard)
    finally:
        batcher.close()
    inline = await scored_by(InlineVad(model), answer, heard)
    assert [at for at, _, _ in batched] == [at for at, _, _ in inline]
    assert np.allclose([p for _, p, _ in batched], [p for _, p, _ in inline], atol=1e-5)
    assert np.allclose([e for _, _, e in batched], [e for _, _, e in inline], atol=1e-5)
    assert max(e for _, _, e in batched) >= ECHO_THRESHOLD  # the guard did its job


# --- through the driver ---------------------------------------------------------------------


VOICE_SETUP = {"setup": {
    "model": "models/gemini-2.0-flash-live-001",
    "generationConfig": {"responseModalities": ["TEXT"]},
    "inputAudioTranscription": {},
    "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 800}},
}}


def audio_message(pcm: bytes) -> dict[str, Any]:
    return {"realtimeInput": {"audio": {"data": base64.b64encode(pcm).decode(),
                                        "mimeType": "audio/pcm;rate=16000"}}}


async def start_voice(session: Session, batcher: VadBatcher,
                      asr: MeasuringRecognizer | None = None,
                      ) -> tuple[MemoryTransport, asyncio.Task[None]]:
    transport = MemoryTransport()
    engines = Engines({DEFAULT_BACKEND: EchoModel()}, vad=batcher,
                      asr=asr or MeasuringRecognizer())
    task = asyncio.create_task(SessionDriver(session, transport, engines).run())
    transport.client(VOICE_SETUP)
    assert "setupComplete" in await asyncio.wait_for(transport.outbox.get(), WAIT)
    return transport, task


CAPABILITIES = ServerCapabilities(audio_input=True)


async def test_audio_stream_end_right_after_speech_ends_the_turn(
        model: SharedSileroModel) -> None:
    """``audioStreamEnd`` arrives before the silence window has passed, and before the
    batcher has scored the speech: the session must see the scores first, or it would
    find no utterance to flush."""
    batcher = VadBatcher(model)
    session = Session(session_id="v", catalog=ModelCatalog(), capabilities=CAPABILITIES)
    transport, task = await start_voice(session, batcher)
    try:
        pcm = silence(0.3) + espeak("Could you book me a table for two?") + silence(0.1)
        for i in range(0, len(pcm), 3200):  # all at once, faster than real time
            transport.client(audio_message(pcm[i:i + 3200]))
        transport.client({"realtimeInput": {"audioStreamEnd": True}})
        turn = await transport.until_turn_complete()
        heard = [m["serverContent"]["inputTranscription"]["text"] for m in turn
                 if "inputTranscription" in m.get("serverContent", {})]
        assert heard and heard[0].endswith("ms of audio")
    finally:
        transport.inbox.put_nowait(None)
        await asyncio.wait_for(task, WAIT)
        batcher.close()


async def test_recognition_failing_retryably_once_is_tried_again(
        model: SharedSileroModel) -> None:
    batcher = VadBatcher(model)
    asr = MeasuringRecognizer(failures=[EngineError("busy", retryable=True)])
    session = Session(session_id="r", catalog=ModelCatalog(), capabilities=CAPABILITIES)
    transport, task = await start_voice(session, batcher, asr)
    try:
        pcm = silence(0.3) + espeak("Could you book me a table for two?") + silence(0.1)
        transport.client(audio_message(pcm))
        transport.client({"realtimeInput": {"audioStreamEnd": True}})
        turn = await transport.until_turn_complete()
        assert any("inputTranscription" in m.get("serverContent", {}) for m in turn)
        assert len(asr.calls) == 2 and not asr.failures
        # tried again as urgently: a pause's partial (revisable) or the turn's final
        assert asr.priorities[0] == asr.priorities[1]
        assert asr.priorities[0] in (Priority.WAITING, Priority.REVISABLE)
    finally:
        transport.inbox.put_nowait(None)
        await asyncio.wait_for(task, WAIT)
        batcher.close()


async def test_recognition_failing_for_good_closes_1011_without_retrying(
        model: SharedSileroModel) -> None:
    batcher = VadBatcher(model)
    asr = MeasuringRecognizer(failures=[EngineError("the model is broken")])
    session = Session(session_id="r", catalog=ModelCatalog(), capabilities=CAPABILITIES)
    transport, task = await start_voice(session, batcher, asr)
    try:
        pcm = silence(0.3) + espeak("Could you book me a table for two?") + silence(0.1)
        transport.client(audio_message(pcm))
        transport.client({"realtimeInput": {"audioStreamEnd": True}})
        await asyncio.wait_for(task, WAIT)
        assert transport.closed is not None and transport.closed[0] == 1011
        assert len(asr.calls) == 1
    finally:
        batcher.close()


class BrokenOnScores(Session):
    def handle(self, event, now):  # type: ignore[no-untyped-def]
        if isinstance(event, SpeechScored):
            raise KeyError("a bug")
        return super().handle(event, now)


async def test_a_bug_handling_a_score_closes_1011_and_is_logged(
        model: SharedSileroModel, caplog: pytest.LogCaptureFixture) -> None:
    batcher = VadBatcher(model)
    session = BrokenOnScores(session_id="b", catalog=ModelCatalog(), capabilities=CAPABILITIES)
    transport, task = await start_voice(session, batcher)
    try:
        with caplog.at_level(logging.ERROR, logger="openlive.session"):
            transport.client(audio_message(silence(0.1)))
            await asyncio.wait_for(task, WAIT)
        assert transport.closed == (1011, "Internal error encountered.")
        assert "crashed" in caplog.text and "KeyError" in caplog.text
    finally:
        batcher.close()
