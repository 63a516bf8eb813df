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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from openlive import metrics
from openlive.engines.llm.base import (
    Finished,
    LanguageModel,
    MalformedToolCall,
    TextDelta,
    ToolCallsRequested,
)
from openlive.engines.scheduler import Priority, set_requester
from openlive.errors import CloseCode, EngineError, InternalError, ProtocolError, StoreError
from openlive.protocol.codec import decode_client_message, encode_server_message
from openlive.runtime import retry
from openlive.runtime.audio_input import AudioInput
from openlive.runtime.engines import Engines
from openlive.runtime.frames import message_for
from openlive.runtime.synthesis import SynthesisQueue
from openlive.runtime.trace import AudioClock, GenerationMarks, TurnTrace
from openlive.session.actions import (
    Action,
    CancelGeneration,
    CancelServerTool,
    CancelSynthesis,
    Close,
    EndOfTurn,
    EndSynthesis,
    IngestAudio,
    LoadSnapshot,
    Output,
    PlayAudio,
    PlaybackFlushed,
    RunServerTool,
    SaveSnapshot,
    ScoreEndOfTurn,
    Send,
    SetupAccepted,
    StartGeneration,
    Synthesize,
    Transcribe,
    TurnComplete,
    WakeAt,
)
from openlive.session.events import (
    ClientMessageReceived,
    EndOfTurnScored,
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
    GenerationMalformedCall,
    GenerationToolCalls,
    ServerToolFinished,
    ShutdownRequested,
    SnapshotLoaded,
    SnapshotSaved,
    SpeechScored,
    SpeechSynthesized,
    Tick,
    TranscriptionFailed,
    TranscriptReady,
)
from openlive.session.machine import Session
from openlive.store.base import SnapshotStore, new_handle

END_OF_TURN_WINDOW = 8.0  # seconds of audio the end-of-turn model looks at
SERVER_TOOL_TIMEOUT = 30.0  # seconds a server-side tool may take before it counts as failed

MAX_MARKS = 8  # generations whose timestamps are kept for the latency trace

log = logging.getLogger("openlive.session")


@dataclass(frozen=True, slots=True)
class SnapshotBinding:
    """Where a session's resumption snapshots go, and whose they are."""

    store: SnapshotStore
    owner: str  # the principal that opened the session
    ttl: float  # seconds a handle stays valid


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
    ) -> None:
        self._snapshots = snapshots
        # sees what the client is told (the quota meter counts usage)
        self._observe_output = observe_output
        self._handle: str | None = None  # the latest handle given to the client
        self._save_lock = asyncio.Lock()  # snapshots are saved in order
        self._session = session
        self._transport = transport
        self._engines = engines
        self._clock = clock
        self._outbox: asyncio.Queue[bytes | Close] = asyncio.Queue()
        self._generations: dict[int, asyncio.Task[None]] = {}
        self._speech: dict[int, SynthesisQueue] = {}
        self._helpers: set[asyncio.Task[None]] = set()  # recognition, end-of-turn checks
        self._server_calls: dict[str, asyncio.Task[None]] = {}  # server-side tools running
        self._audio: AudioInput | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._closed = False  # run() has ended: late callbacks are ignored
        self._audio_clock = AudioClock()
        self._trace: TurnTrace | None = None
        self._marks: dict[int, GenerationMarks] = {}  # recent generations, for the trace
        self._closing: Close | None = None

    async def run(self) -> None:
        """Serve the session; returns when it is closed by either side."""
        writer = asyncio.create_task(self._write_loop(), name="openlive-writer")
        reader = asyncio.create_task(self._read_loop(), name="openlive-reader")
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
            await self._report_crash(reader, writer)
        finally:
            self._closed = True
            if self._audio is not None:
                self._audio.close()  # frees the VAD stream; late scores are dropped
            for timer in self._timers.values():
                timer.cancel()
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
        if self._marks or self._trace is not None:
            self._observe(event)
        self._execute(self._session.handle(event, self._clock()))

    def _observe(self, event: Event) -> None:
        """Timestamps for the latency trace of the current voice turn and generations.

        Called for every event of a voice session (VAD scores too): the clock is read
        only for the first of each kind."""
        match event:
            case TranscriptReady() if self._trace is not None:
                self._trace.transcribed = self._trace.transcribed or self._clock()
            case GenerationDelta(generation_id=gid) if (marks := self._marks.get(gid)):
                marks.first_token = marks.first_token or self._clock()
            case SpeechSynthesized(generation_id=gid) if (marks := self._marks.get(gid)):
                marks.first_chunk = marks.first_chunk or self._clock()

    def _report_trace(self, trace: TurnTrace) -> None:
        """The turn's first audio is out: log and export where its time went."""
        trace.first_audio = self._clock()
        # no TranscriptReady after the end: the speculative one was ready at once
        trace.transcribed = trace.transcribed or trace.endpointed
        voiced = [gid for gid, marks in self._marks.items() if marks.first_chunk is not None]
        if voiced:  # the newest generation with audio is the one being heard
            trace.generation = self._marks.pop(voiced[-1])
        trace.report(self._session.session_id)

    # -- actions ------------------------------------------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Send() | SetupAccepted() | PlayAudio() | PlaybackFlushed() | TurnComplete():
                    self._send(action)
                case StartGeneration():
                    self._start_generation(action)
                case CancelGeneration(generation_id=gid):
                    self._marks.pop(gid, None)
                    task = self._generations.pop(gid, None)
                    if task is not None:
                        task.cancel()
                case Close():
                    self._closing = action
                    self._outbox.put_nowait(action)
                case IngestAudio():
                    self._ingest(action)
                case Transcribe():
                    self._spawn(self._transcribe(action))
                case EndOfTurn(speech_end=speech_end):
                    self._trace = TurnTrace(speech_end=self._audio_clock.wall_at(speech_end),
                                            endpointed=self._clock())
                case ScoreEndOfTurn():
                    self._spawn(self._score_end_of_turn(action))
                case Synthesize():
                    marks = self._marks.get(action.generation_id)
                    if marks is not None and marks.first_piece is None:
                        marks.first_piece = self._clock()
                    self._synthesis(action.generation_id).put(action)
                case EndSynthesis(generation_id=gid):
                    self._synthesis(gid).end()
                case CancelSynthesis(generation_id=gid):
                    queue = self._speech.pop(gid, None)
                    if queue is not None:
                        queue.cancel()
                case SaveSnapshot(data=data):
                    self._spawn(self._save_snapshot(data))
                case LoadSnapshot(handle=handle):
                    self._spawn(self._load_snapshot(handle))
                case WakeAt(at=at, key=key):
                    self._wake_at(at, key)
                case RunServerTool():
                    self._run_server_tool(action)
                case CancelServerTool(call_id=call_id):
                    call = self._server_calls.pop(call_id, None)
                    if call is not None:
                        call.cancel()

    def _send(self, action: Output) -> None:
        """Queue the frame that tells the client of ``action``; let the observers see it."""
        self._outbox.put_nowait(encode_server_message(message_for(action)))
        if self._observe_output is not None:
            self._observe_output(action)
        match action:
            case PlayAudio(pcm=pcm):
                if self._audio is not None:
                    self._audio.echo.sent(pcm, self._clock())
                if self._trace is not None:
                    self._report_trace(self._trace)
                    self._trace = None
            case PlaybackFlushed() if self._audio is not None:
                # the client drops what it has not played: no echo of it
                self._audio.echo.flushed(self._clock())

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
            await self._transport.send(item)

    # -- listening ----------------------------------------------------------------------

    def _ingest(self, action: IngestAudio) -> None:
        if self._audio is None:
            assert self._engines.vad is not None  # the session only ingests when it can
            self._audio = AudioInput(self._engines.vad, self._scored, self._vad_failed)
        now = self._clock()
        self._audio.push(action.pcm, action.rate, now)
        self._audio_clock.arrived(self._audio.seconds, now)

    def _scored(self, at: float, probability: float, echo: float) -> None:
        try:
            self._feed(SpeechScored(at, probability, echo))
        except Exception:
            # Fed from a loop callback, not the reader: a bug here must still end the
            # session with 1011 and a traceback, as a crash of the reader does.
            log.exception("session %s: crashed", self._session.session_id)
            self._execute([Close(CloseCode.INTERNAL_ERROR, "Internal error encountered.")])

    def _vad_failed(self, error: Exception) -> None:
        log.error("session %s: voice activity detection failed: %s",
                  self._session.session_id, error)
        if not self._closed:
            self._execute(self._session.abort(
                InternalError("Internal error: voice activity detection failed.")))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def _transcribe(self, action: Transcribe) -> None:
        assert self._audio is not None and self._engines.asr is not None
        asr, sid = self._engines.asr, self._session.session_id
        set_requester(sid)
        pcm = self._audio.cut(action.start, action.end)
        # a partial at a pause may be thrown away; a final is what the user waits for
        priority = Priority.WAITING if action.kind == "final" else Priority.REVISABLE
        try:
            result = await retry.call(
                lambda: asr.transcribe(pcm, language=action.language, priority=priority),
                f"session {sid}: recognition")
        except EngineError as err:
            log.error("session %s: recognition failed: %s", self._session.session_id, err)
            self._feed(TranscriptionFailed(action.turn_id, "speech recognition failed."))
            return
        log.info("session %s: heard %r", self._session.session_id, result.text)
        self._feed(TranscriptReady(action.turn_id, result.text, result.language, action.end))

    async def _score_end_of_turn(self, action: ScoreEndOfTurn) -> None:
        assert self._audio is not None and self._engines.end_of_turn is not None
        set_requester(self._session.session_id)
        start = max(action.start, action.end - END_OF_TURN_WINDOW)
        try:
            probability = await self._engines.end_of_turn.predict(
                self._audio.cut(start, action.end))
        except EngineError as err:
            log.warning("session %s: end-of-turn model failed: %s",
                        self._session.session_id, err)
            return  # the silence window still ends the turn
        self._feed(EndOfTurnScored(action.turn_id, probability))

    # -- resumption -----------------------------------------------------------------------

    async def _save_snapshot(self, data: bytes) -> None:
        binding = self._snapshots
        assert binding is not None  # the session only asks when resumption is available
        async with self._save_lock:
            handle = new_handle()
            try:
                await asyncio.to_thread(binding.store.save_snapshot, handle, binding.owner,
                                        data, ttl_seconds=binding.ttl, now=time.time())
            except StoreError as err:
                log.error("session %s: snapshot not saved: %s", self._session.session_id, err)
                return
            # Older handles stay valid until they expire (the update naming the new one
            # may never reach a client whose connection is dying).
            self._handle = handle
            self._feed(SnapshotSaved(handle))

    async def _load_snapshot(self, handle: str) -> None:
        binding = self._snapshots
        assert binding is not None
        try:
            data = await asyncio.to_thread(binding.store.load_snapshot, handle, binding.owner,
                                           time.time())
        except ProtocolError as err:  # unknown, expired or foreign handle: 1008
            self._execute(self._session.abort(err))
            return
        except StoreError as err:
            self._execute(self._session.abort(InternalError(f"Internal error: {err}")))
            return
        self._handle = handle
        log.info("session %s: resumed", self._session.session_id)
        self._feed(SnapshotLoaded(data))

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

    def _wake_at(self, at: float, key: str) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, at - self._clock())
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._tick, key)

    def _tick(self, key: str) -> None:
        self._timers.pop(key, None)
        self._feed(Tick())

    # -- server-side tools --------------------------------------------------------------

    def _run_server_tool(self, action: RunServerTool) -> None:
        task = asyncio.create_task(self._server_tool(action), name="openlive-server-tool")
        self._server_calls[action.call_id] = task
        task.add_done_callback(lambda _t: self._server_calls.pop(action.call_id, None))

    async def _server_tool(self, action: RunServerTool) -> None:
        tool = self._engines.server_tools.get(action.tool)
        sid = self._session.session_id
        try:
            if tool is None:
                raise LookupError(f"no server-side {action.tool} is configured")
            response = await asyncio.wait_for(tool.call(action.name, action.arguments),
                                              SERVER_TOOL_TIMEOUT)
            result = orjson.dumps(dict(response)).decode()
            log.info("session %s: server tool %s.%s answered", sid, action.tool, action.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of an operator's tool
            message = "timed out" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
            log.warning("session %s: server tool %s.%s failed: %s", sid, action.tool,
                        action.name, message)
            result = orjson.dumps({"error": message}).decode()
        self._feed(ServerToolFinished(action.call_id, result))

    def go_away(self, grace: float) -> None:
        """The server is shutting down: the session tells its client (``goAway``)."""
        self._feed(ShutdownRequested(grace))

    def abort(self, error: ProtocolError) -> None:
        """End the session now with ``error``'s close code and reason (a cap is used up)."""
        if not self._closed:
            self._execute(self._session.abort(error))

    # -- generation ---------------------------------------------------------------------

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
        if self._audio is not None:  # a voice session: its turns are traced
            self._marks[action.generation_id] = GenerationMarks(started=self._clock())
            while len(self._marks) > MAX_MARKS:
                del self._marks[next(iter(self._marks))]
        task = asyncio.create_task(self._generate(model, action), name="openlive-generation")
        self._generations[action.generation_id] = task
        task.add_done_callback(lambda _t: self._generations.pop(action.generation_id, None))

    async def _generate(self, model: LanguageModel, action: StartGeneration) -> None:
        gid, started, first = action.generation_id, self._clock(), True
        set_requester(self._session.session_id)
        # an answer ahead is thrown away if the user goes on: after work someone waits for
        priority = Priority.SPECULATIVE if action.speculative else Priority.WAITING
        events = retry.stream(lambda: model.stream(action.request, priority=priority),
                              f"session {self._session.session_id}: generation")
        try:
            async for event in events:
                match event:
                    case TextDelta(text=text):
                        if first:
                            first = False
                            metrics.GENERATION_FIRST_TOKEN.labels(action.backend).observe(
                                self._clock() - started
                            )
                        self._feed(GenerationDelta(gid, text))
                    case ToolCallsRequested(calls=calls, rejected=rejected):
                        names = ", ".join(call.name for call in calls)
                        log.info("session %s: the model calls %s", self._session.session_id,
                                 names)
                        if rejected:
                            log.info("session %s: rejected call attempts: %s",
                                     self._session.session_id, "; ".join(rejected))
                        self._feed(GenerationToolCalls(gid, calls))
                    case MalformedToolCall(reasons=reasons):
                        log.warning("session %s: malformed function call: %s",
                                    self._session.session_id, "; ".join(reasons))
                        self._feed(GenerationMalformedCall(gid, reasons))
                    case Finished():
                        metrics.TOKENS_TOTAL.labels(action.backend, "prompt").inc(
                            event.prompt_tokens
                        )
                        metrics.TOKENS_TOTAL.labels(action.backend, "response").inc(
                            event.completion_tokens
                        )
                        self._feed(
                            GenerationFinished(gid, event.prompt_tokens, event.completion_tokens)
                        )
        except EngineError as err:
            log.error("session %s: generation failed: %s", self._session.session_id, err)
            self._feed(GenerationFailed(gid, "the language model failed."))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session %s: generation crashed", self._session.session_id)
            self._feed(GenerationFailed(gid, "the language model failed."))

