"""The driver of one session: the only place where asyncio meets the session machine.

It reads frames from a :class:`Transport`, decodes them, feeds events to the
:class:`~openlive.session.machine.Session` and carries out the actions it returns:
messages go to an ordered outbox drained by one writer task (so a slow client never
reorders or blocks the session), generations run as tasks that are cancelled
explicitly, and a ``Close`` ends everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from openlive import metrics
from openlive.engines.llm.base import PrefillingModel
from openlive.errors import CloseCode, InternalError, ProtocolError
from openlive.logs import session_scope
from openlive.protocol.codec import decode_client_message, encode_server_message
from openlive.runtime import work
from openlive.runtime.audio_input import AudioInput
from openlive.runtime.engines import Engines
from openlive.runtime.frames import message_for
from openlive.runtime.snapshots import SnapshotBinding, Snapshots
from openlive.runtime.synthesis import SynthesisQueue
from openlive.runtime.timers import Timers
from openlive.runtime.trace import Tracer
from openlive.session.actions import (
    OUTPUT_TYPES,
    Action,
    BargeIn,
    CancelGeneration,
    CancelServerTool,
    CancelSynthesis,
    Close,
    EndOfTurn,
    EndSynthesis,
    IngestAudio,
    JudgeRelevance,
    LoadSnapshot,
    Output,
    PlayAudio,
    PlaybackFlushed,
    Prefill,
    RunServerTool,
    SaveSnapshot,
    ScoreEndOfTurn,
    StartGeneration,
    Synthesize,
    Transcribe,
    WakeAt,
)
from openlive.session.events import (
    ClientMessageReceived,
    Event,
    GenerationDelta,
    GenerationFailed,
    ShutdownRequested,
    SnapshotSaved,
    SpeechScored,
    SpeechSynthesized,
    Tick,
    TranscriptReady,
)
from openlive.session.machine import Session

__all__ = ["SessionDriver", "SnapshotBinding", "Transport"]

END_OF_TURN_WINDOW = 8.0  # seconds of audio the end-of-turn model looks at

log = logging.getLogger("openlive.session")


class Transport(Protocol):
    """A message-oriented connection to one client."""

    async def receive(self) -> str | bytes | None:
        """The next frame, or None once the client has gone."""
        ...

    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class SessionDriver:
    """Runs one :class:`Session` over one :class:`Transport` until either side ends it."""

    def __init__(
        self,
        session: Session,
        transport: Transport,
        engines: Engines,
        clock: Callable[[], float] = time.monotonic,
        snapshots: SnapshotBinding | None = None,
        observe_output: Callable[[Output], None] | None = None,
        observe_latency: Callable[[dict[str, float]], None] | None = None,
    ) -> None:
        self._snapshots = Snapshots(snapshots, session.session_id) if snapshots else None
        # sees what the client is told (the quota meter counts usage)
        self._observe_output = observe_output
        self._session = session
        self._transport = transport
        self._engines = engines
        self._clock = clock
        # frames in order; a Future stands for the frames a snapshot being saved ends
        # with (its sessionResumptionUpdate): what follows waits for them
        self._outbox: asyncio.Queue[bytes | Close | asyncio.Future[list[bytes]]] = (
            asyncio.Queue())
        self._generations: dict[int, asyncio.Task[None]] = {}
        self._speech: dict[int, SynthesisQueue] = {}
        self._helpers: set[asyncio.Task[None]] = set()  # recognition, end-of-turn checks
        self._prefill: asyncio.Task[None] | None = None  # the newest Prefill, running
        self._server_calls: dict[str, asyncio.Task[None]] = {}  # server-side tools running
        self._audio: AudioInput | None = None
        self._timers = Timers(clock, lambda: self._feed(Tick()))
        self._closed = False  # run() has ended: late callbacks are ignored
        # observe_latency is told each voice turn's stages (seconds by name, trace.py)
        self._tracer = Tracer(session.session_id, clock, on_report=observe_latency)
        self._closing: Close | None = None

    async def run(self) -> None:
        """Serve the session; returns when it is closed by either side."""
        with session_scope(self._session.session_id):  # its tasks copy the id for their logs
            await self._run()

    async def _run(self) -> None:
        writer = asyncio.create_task(self._write_loop(), name="openlive-writer")
        reader = asyncio.create_task(self._read_loop(), name="openlive-reader")
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
            await self._report_crash(reader, writer)
        finally:
            self._closed = True
            if self._audio is not None:
                self._audio.close()  # frees the VAD stream; late scores are dropped
            self._timers.cancel()
            tasks = [reader, writer, *self._generations.values(), *self._helpers,
                     *self._server_calls.values(),
                     *(queue.task for queue in self._speech.values())]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._generations.clear()
            self._speech.clear()

    async def _report_crash(self, reader: asyncio.Task[None], writer: asyncio.Task[None]) -> None:
        """A bug must not end a session in silence (the client would see 1006): log it
        and close with 1011."""
        sid = self._session.session_id
        if writer.done() and not writer.cancelled() and writer.exception() is not None:
            # the client vanished mid-send (or the server is stopping): nothing more can
            # reach it, and it is no fault of ours
            log.info("session %s: sending failed: %r", sid, writer.exception())
        if not reader.done() or reader.cancelled() or reader.exception() is None:
            return
        log.error("session %s: crashed", sid, exc_info=reader.exception())
        metrics.SESSIONS_CLOSED.labels(code=str(int(CloseCode.INTERNAL_ERROR))).inc()
        with contextlib.suppress(Exception):
            await self._transport.close(int(CloseCode.INTERNAL_ERROR),
                                        "Internal error encountered.")

    # -- input --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while self._closing is None:
            frame = await self._transport.receive()
            if frame is None:
                log.info("session %s: client disconnected", self._session.session_id)
                return
            try:
                message = decode_client_message(frame)
            except ProtocolError as err:
                self._execute(self._session.abort(err))
                continue
            if self._audio is not None:
                # The VAD scores on its own thread; the session must still see every
                # score of the audio before a message (audioStreamEnd flushes on them).
                await self._audio.settled()
            self._feed(ClientMessageReceived(message))
        # A Close is queued; the writer ends the session.
        await asyncio.Event().wait()

    def _feed(self, event: Event) -> None:
        if self._closed:
            return
        if self._tracer.active:
            self._observe(event)
        self._execute(self._session.handle(event, self._clock()))

    def _observe(self, event: Event) -> None:
        """Timestamps for the latency trace of the current voice turn and generations.

        Called for every event of a voice session (VAD scores too): the clock is read
        only for the first of each kind."""
        match event:
            case TranscriptReady():
                self._tracer.transcribed()
            case GenerationDelta(generation_id=gid):
                self._tracer.first_token(gid)
            case SpeechSynthesized(generation_id=gid):
                self._tracer.first_chunk(gid)

    # -- actions ------------------------------------------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, OUTPUT_TYPES):  # the one list of what the client is told
                self._send(action)
                continue
            match action:
                case StartGeneration():
                    self._start_generation(action)
                case Prefill():
                    self._start_prefill(action)
                case JudgeRelevance():
                    self._judge_relevance(action)
                case CancelGeneration(generation_id=gid):
                    self._tracer.generation_cancelled(gid)
                    task = self._generations.pop(gid, None)
                    if task is not None:
                        task.cancel()
                case Close():
                    self._closing = action
                    self._outbox.put_nowait(action)
                case IngestAudio():
                    self._ingest(action)
                case Transcribe():
                    self._transcribe(action)
                case BargeIn():
                    metrics.BARGE_INS.inc()
                case EndOfTurn(speech_end=speech_end):
                    self._tracer.turn_ended(speech_end)
                case ScoreEndOfTurn():
                    self._score_end_of_turn(action)
                case Synthesize():
                    self._tracer.piece_queued(action.generation_id)
                    self._synthesis(action.generation_id).put(action)
                case EndSynthesis(generation_id=gid):
                    self._synthesis(gid).end()
                case CancelSynthesis(generation_id=gid):
                    queue = self._speech.pop(gid, None)
                    if queue is not None:
                        queue.cancel()
                case SaveSnapshot():
                    self._save_snapshot(action)
                case LoadSnapshot(handle=handle):
                    self._spawn(self._load_snapshot(handle))
                case WakeAt(at=at, key=key):
                    self._timers.wake_at(at, key)
                case RunServerTool():
                    self._run_server_tool(action)
                case CancelServerTool(call_id=call_id):
                    call = self._server_calls.pop(call_id, None)
                    if call is not None:
                        call.cancel()

    def _send(self, action: Output) -> None:
        """Queue the frame that tells the client of ``action``; let the observers see it."""
        self._outbox.put_nowait(self._frame(action))

    def _frame(self, action: Output) -> bytes:
        """The frame that tells the client of ``action``, once the observers saw it."""
        frame = encode_server_message(message_for(action))
        if self._observe_output is not None:
            self._observe_output(action)
        match action:
            case PlayAudio(pcm=pcm):
                if self._audio is not None:
                    self._audio.echo.sent(pcm, self._clock())
                self._tracer.audio_sent()
            case PlaybackFlushed(cause=cause):
                metrics.INTERRUPTIONS.labels(cause=cause).inc()
                if self._audio is not None:
                    # the client drops what it has not played: no echo of it
                    self._audio.echo.flushed(self._clock())
        return frame

    async def _write_loop(self) -> None:
        while True:
            item = await self._outbox.get()
            if isinstance(item, Close):
                level = logging.INFO if item.code == CloseCode.NORMAL else logging.WARNING
                log.log(
                    level,
                    "session %s: closing %d: %s",
                    self._session.session_id,
                    item.code,
                    item.reason,
                )
                metrics.SESSIONS_CLOSED.labels(code=str(int(item.code))).inc()
                await self._transport.close(int(item.code), item.reason)
                return
            if isinstance(item, asyncio.Future):
                for frame in await item:
                    await self._transport.send(frame)
                continue
            await self._transport.send(item)

    # -- listening ----------------------------------------------------------------------

    def _ingest(self, action: IngestAudio) -> None:
        if self._audio is None:
            assert self._engines.vad is not None  # the session only ingests when it can
            self._audio = AudioInput(self._engines.vad, self._scored, self._vad_failed)
        now = self._clock()
        self._audio.push(action.pcm, action.rate, now)
        self._tracer.audio_clock.arrived(self._audio.seconds, now)

    def _scored(self, at: float, probability: float, echo: float) -> None:
        # The VAD's thread hands back the scores of many sessions in one loop callback,
        # outside this session's context: the work it starts is this session's.
        try:
            with session_scope(self._session.session_id):
                self._feed(SpeechScored(at, probability, echo))
        except Exception:
            # Fed from a loop callback, not the reader: a bug here must still end the
            # session with 1011 and a traceback, as a crash of the reader does.
            log.exception("session %s: crashed", self._session.session_id)
            self._execute([Close(CloseCode.INTERNAL_ERROR, "Internal error encountered.")])

    def _vad_failed(self, error: Exception) -> None:
        with session_scope(self._session.session_id):  # called back as _scored is
            log.error("session %s: voice activity detection failed: %s",
                      self._session.session_id, error)
            metrics.ENGINE_ERRORS.labels(engine="vad").inc()
            if not self._closed:
                self._execute(self._session.abort(
                    InternalError("Internal error: voice activity detection failed.")))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    def _report(self, work: Awaitable[Event | None]) -> None:
        """Run ``work`` beside the session; feed the event it ends with, if any."""
        async def run() -> None:
            event = await work
            if event is not None:
                self._feed(event)
        self._spawn(run())

    def _start_prefill(self, action: Prefill) -> None:
        """Replace the session's running prefill (its words are older) with this one."""
        model = self._engines.llms.get(action.backend)
        if not isinstance(model, PrefillingModel):
            return
        if self._prefill is not None:
            self._prefill.cancel()  # what it evaluated so far stays in the model's cache
        self._prefill = asyncio.ensure_future(
            work.prefill(model, action, session_id=self._session.session_id))
        self._helpers.add(self._prefill)
        self._prefill.add_done_callback(self._helpers.discard)

    def _transcribe(self, action: Transcribe) -> None:
        assert self._audio is not None and self._engines.asr is not None
        waiting = getattr(self._engines.asr, "waiting", None)  # WhisperRecognizer has it
        if action.kind == "interim" and isinstance(waiting, int) and waiting > 0:
            # others wait for the recognizer (turns that ended): skip it; the words come
            # with the next one, or the turn's own transcript
            self._feed(TranscriptReady(action.turn_id, "", end=action.end, start=action.start))
            return
        pcm = self._audio.cut(action.start, action.end)
        echo = 0.0
        if action.kind != "interim":  # words that may take the floor: are they echo?
            echo = self._audio.replayed(action.start, action.end)
        self._report(work.transcribe(self._engines.asr, pcm, action, self._session.session_id,
                                     max(action.start, self._audio.kept_from), echo))

    def _score_end_of_turn(self, action: ScoreEndOfTurn) -> None:
        assert self._audio is not None and self._engines.end_of_turn is not None
        start = max(action.start, action.end - END_OF_TURN_WINDOW)
        pcm = self._audio.cut(start, action.end)
        self._report(work.score_end_of_turn(self._engines.end_of_turn, pcm, action.turn_id,
                                            self._session.session_id))

    # -- resumption -----------------------------------------------------------------------

    def _save_snapshot(self, action: SaveSnapshot) -> None:
        """Save in the background, holding the output queued after it until its
        ``sessionResumptionUpdate`` is out: a client that reconnects after what follows
        (``turnComplete``) has the handle that includes the turn."""
        snapshots = self._snapshots
        assert snapshots is not None  # the session only asks when resumption is on
        slot: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait(slot)

        async def save() -> None:
            frames: list[bytes] = []
            try:
                saved = await snapshots.save(action.data, action.consumed)
                if saved is not None and not self._closed:
                    frames = self._handle_into_slot(saved)
            finally:
                if not slot.done():  # a failed save holds nothing back
                    slot.set_result(frames)
        self._spawn(save())

    def _handle_into_slot(self, event: SnapshotSaved) -> list[bytes]:
        """Feed ``event``; its output goes where the save stood in the outbox (returned
        as frames), anything else is carried out as usual."""
        actions = self._session.handle(event, self._clock())
        frames = [self._frame(a) for a in actions if isinstance(a, OUTPUT_TYPES)]
        self._execute([a for a in actions if not isinstance(a, OUTPUT_TYPES)])
        return frames

    async def _load_snapshot(self, handle: str) -> None:
        assert self._snapshots is not None
        try:
            loaded = await self._snapshots.load(handle)
        except ProtocolError as err:  # unknown, expired or foreign handle: 1008
            self._execute(self._session.abort(err))
            return
        self._feed(loaded)

    # -- speaking -------------------------------------------------------------------------

    def _synthesis(self, generation_id: int) -> SynthesisQueue:
        queue = self._speech.get(generation_id)
        if queue is None:
            assert self._engines.tts is not None  # AUDIO sessions need it (checked at setup)
            queue = SynthesisQueue(generation_id, self._engines.tts, self._feed,
                                   requester=self._session.session_id)
            self._speech[generation_id] = queue
            queue.task.add_done_callback(lambda _t: self._speech.pop(generation_id, None))
        return queue

    # -- server-side tools --------------------------------------------------------------

    def _run_server_tool(self, action: RunServerTool) -> None:
        tool = self._engines.server_tools.get(action.tool)
        called = work.call_server_tool(tool, action, self._session.session_id)

        async def run() -> None:
            self._feed(await called)
        task = asyncio.create_task(run(), name="openlive-server-tool")
        self._server_calls[action.call_id] = task
        task.add_done_callback(lambda _t: self._server_calls.pop(action.call_id, None))

    def go_away(self, grace: float) -> None:
        """The server is shutting down: the session tells its client (``goAway``)."""
        self._feed(ShutdownRequested(grace))

    def abort(self, error: ProtocolError) -> None:
        """End the session now with ``error``'s close code and reason (a cap is used up)."""
        if not self._closed:
            self._execute(self._session.abort(error))

    # -- generation ---------------------------------------------------------------------

    def _judge_relevance(self, action: JudgeRelevance) -> None:
        """Judge a user turn (proactive audio); cancelled like a generation, by its id."""
        judged = work.judge_relevance(self._engines.llms.get(action.backend), action,
                                      session_id=self._session.session_id)

        async def run() -> None:
            self._feed(await judged)
        task = asyncio.create_task(run(), name="openlive-relevance")
        self._generations[action.judge_id] = task
        task.add_done_callback(lambda _t: self._generations.pop(action.judge_id, None))

    def _start_generation(self, action: StartGeneration) -> None:
        model = self._engines.llms.get(action.backend)
        if model is None:
            self._feed(
                GenerationFailed(
                    action.generation_id, f"no language model named {action.backend!r}"
                )
            )
            return
        metrics.TURNS_TOTAL.labels(backend=action.backend).inc()
        spoken = action.request.spoken
        if spoken is not None and spoken.tone is not None:  # affective dialog
            log.info("session %s: generation %d%s is told the user's tone: %s",
                     self._session.session_id, action.generation_id,
                     " (ahead)" if action.speculative else "", spoken.tone)
        if self._audio is not None:  # a voice session: its turns are traced
            self._tracer.generation_started(action.generation_id)
        generation = work.generate(model, action, self._feed,
                                   session_id=self._session.session_id, clock=self._clock)
        task = asyncio.create_task(generation, name="openlive-generation")
        self._generations[action.generation_id] = task
        task.add_done_callback(lambda _t: self._generations.pop(action.generation_id, None))
