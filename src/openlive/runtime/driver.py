"""The driver of one session: the only place where asyncio meets the session machine.

It reads frames from a :class:`Transport`, decodes them, feeds events to the
:class:`~openlive.session.machine.Session` and carries out the actions it returns:
messages go to an ordered outbox drained by one writer task (so a slow client never
reorders or blocks the session), generations run as tasks that are cancelled
explicitly, and a ``Close`` ends everything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from openlive import metrics
from openlive.engines.llm.base import Finished, LanguageModel, TextDelta
from openlive.errors import CloseCode, EngineError, ProtocolError
from openlive.protocol.codec import decode_client_message, encode_server_message
from openlive.session.actions import Action, CancelGeneration, Close, Send, StartGeneration
from openlive.session.events import (
    ClientMessageReceived,
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
)
from openlive.session.machine import Session

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
        models: Mapping[str, LanguageModel],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._transport = transport
        self._models = models
        self._clock = clock
        self._outbox: asyncio.Queue[bytes | Close] = asyncio.Queue()
        self._generations: dict[int, asyncio.Task[None]] = {}
        self._closing: Close | None = None

    async def run(self) -> None:
        """Serve the session; returns when it is closed by either side."""
        writer = asyncio.create_task(self._write_loop(), name="openlive-writer")
        reader = asyncio.create_task(self._read_loop(), name="openlive-reader")
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer, *self._generations.values()):
                task.cancel()
            await asyncio.gather(
                reader, writer, *self._generations.values(), return_exceptions=True
            )
            self._generations.clear()

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
            self._feed(ClientMessageReceived(message))
        # A Close is queued; the writer ends the session.
        await asyncio.Event().wait()

    def _feed(self, event: Event) -> None:
        self._execute(self._session.handle(event, self._clock()))

    # -- actions ------------------------------------------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Send(message=message):
                    self._outbox.put_nowait(encode_server_message(message))
                case StartGeneration():
                    self._start_generation(action)
                case CancelGeneration(generation_id=gid):
                    task = self._generations.pop(gid, None)
                    if task is not None:
                        task.cancel()
                case Close():
                    self._closing = action
                    self._outbox.put_nowait(action)

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

    # -- generation ---------------------------------------------------------------------

    def _start_generation(self, action: StartGeneration) -> None:
        model = self._models.get(action.backend)
        if model is None:
            self._feed(
                GenerationFailed(
                    action.generation_id, f"no language model named {action.backend!r}"
                )
            )
            return
        metrics.TURNS_TOTAL.labels(backend=action.backend).inc()
        task = asyncio.create_task(self._generate(model, action), name="openlive-generation")
        self._generations[action.generation_id] = task
        task.add_done_callback(lambda _t: self._generations.pop(action.generation_id, None))

    async def _generate(self, model: LanguageModel, action: StartGeneration) -> None:
        gid, started, first = action.generation_id, self._clock(), True
        try:
            async for event in model.stream(action.request):
                match event:
                    case TextDelta(text=text):
                        if first:
                            first = False
                            metrics.GENERATION_FIRST_TOKEN.labels(action.backend).observe(
                                self._clock() - started
                            )
                        self._feed(GenerationDelta(gid, text))
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
