"""Admission of engine work: bounded worker slots, priorities, fairness between sessions.

Theory of operation
-------------------
Engines are loaded once per process and shared by every session, on a small CPU (2 cores
on the reference box). Each engine owns a :class:`Resource`: a number of worker slots
(llama.cpp: 1, one context; Whisper: its ``concurrency``; a synthesizer or Smart Turn:
its ``max_concurrency``) and the threads that run in them. Work enters a slot through
:meth:`Resource.run` (a blocking function on a worker thread, the slot freed when the
thread returns) or holds one for a span with :meth:`Resource.slot` (a generation that
streams). Several engines may share one ``Resource`` when the process wants a single
admission for the whole CPU; nothing here assumes one per engine.

Who goes next. When a slot frees it is handed straight to one waiter (nobody overtakes
a waiter who was already chosen), picked by, in order:

1. its *effective priority*: the caller's :class:`Priority`, raised one level for every
   ``aging`` seconds it has waited (2 s by default). ``WAITING`` work (a user waits for
   it: the final transcript, the reply's generation and its speech, the end-of-turn
   check) beats ``REVISABLE`` work (partial transcripts) beats ``SPECULATIVE`` work
   (answering ahead). Aging rather than a reserved share: llama.cpp has one slot, and a
   share of one slot can only be had by making urgent work wait; aging bounds the wait
   of low-priority work (at most ``aging`` seconds per level behind a steady stream of
   urgent work, plus the jobs already admitted) and costs nothing while the CPU is free;
2. its *requester* (the session): the one with fewest slots held now, then the one served
   least recently, so one session's burst of partials cannot starve another session;
3. arrival order: within one requester and one effective priority, first come first
   served.

The requester is ambient: the driver calls :func:`set_requester` at the top of each task
that uses an engine (asyncio gives every task its own copy of the context), so engine
interfaces only grow a ``priority`` keyword. Work of no known requester shares the
anonymous one, ``""``.

Cancellation. A caller cancelled while it waits leaves the queue at once (if a slot was
handed to it in that instant, it is passed on). A job whose thread is running cannot be
interrupted: its caller may abandon it, but the slot stays taken until the thread
returns, so the slots always bound the threads really computing. Holders of a
:meth:`Resource.slot` must likewise wait for their thread before leaving the span.

Voice activity detection does not come here. Its batcher (``runtime/vad_batcher.py``)
is its own lane, one dedicated thread: a batch costs 0.3–6 ms and decides barge-in
within a frame, and any queue shared with a 300 ms decode or a generation that holds a
slot for seconds would add their service time to every frame's delay. That thread's
round-robin over sessions (one frame of each per call) is already fair; it is the
highest priority in effect, with a slot of its own.

Use a resource from one event loop at a time (the server's); thread-safe only in that
the threads it starts report back through that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

from openlive.errors import ConfigError, EngineError

DEFAULT_AGING_S = 2.0  # seconds of waiting that raise a job one priority level

_T = TypeVar("_T")


class Priority(IntEnum):
    """How urgent a piece of engine work is; lower values are served first."""

    WAITING = 0  # a user waits for it: final transcript, the reply, its speech, end of turn
    REVISABLE = 1  # interactive but replaceable: a partial transcript at a pause
    SPECULATIVE = 2  # may be thrown away: answering ahead, prefill while the user speaks


_REQUESTER: ContextVar[str] = ContextVar("openlive_requester", default="")


def set_requester(requester: str) -> None:
    """Name who asks for the engine work started from the current task (a session id).

    Call it at the top of the task that calls the engine: the name stays with that task
    and the tasks it creates, and is used for fairness between requesters.
    """
    _REQUESTER.set(requester)


def current_requester() -> str:
    """The requester named for the current task ("" when none was)."""
    return _REQUESTER.get()


@dataclass(eq=False, slots=True)
class _Waiter:
    priority: Priority
    requester: str
    arrived: float  # the resource's clock when it started waiting
    order: int  # arrival order, for first come first served
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Requesters:
    """Per-requester counts for fairness: slots held now, and when last served."""

    held: dict[str, int] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)  # grant number of the last grant
    grants: itertools.count[int] = field(default_factory=itertools.count)

    def take(self, requester: str) -> None:
        self.held[requester] = self.held.get(requester, 0) + 1
        self.served[requester] = next(self.grants)

    def give_back(self, requester: str) -> None:
        left = self.held.get(requester, 0) - 1
        if left > 0:
            self.held[requester] = left
        else:
            self.held.pop(requester, None)
            # forget long-gone requesters, but keep the served order of the recent ones
            if len(self.served) > 4096:
                self.served.pop(requester, None)


class Resource:
    """``slots`` workers that engine jobs are admitted to by priority and fairness.

    Create one per engine (or one shared by several) at start-up; :meth:`aclose` it
    with the engine. ``aging``: seconds of waiting that raise a job one priority level.
    """

    def __init__(
        self,
        name: str,
        slots: int,
        *,
        aging: float = DEFAULT_AGING_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if slots < 1:
            raise ConfigError(f"{name}: slots must be at least 1, got {slots}")
        if aging <= 0:
            raise ConfigError(f"{name}: aging must be positive, got {aging}")
        self.name = name
        self.slots = slots
        self._aging = aging
        self._clock = clock
        self._free = slots
        self._waiters: list[_Waiter] = []
        self._arrivals = itertools.count()
        self._requesters = _Requesters()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=slots, thread_name_prefix=f"openlive-{name}"
        )
        self._error: EngineError | None = None  # set by close: refuse everyone

    @property
    def running(self) -> int:
        """Slots taken now (a job whose caller gave up counts until its thread returns)."""
        return self.slots - self._free

    @property
    def waiting(self) -> int:
        """Jobs waiting for a slot."""
        return len(self._waiters)

    async def run(self, job: Callable[[], _T], *, priority: Priority = Priority.WAITING) -> _T:
        """Wait for a slot, run ``job`` on a worker thread, return its result.

        Cancelling the caller while it waits removes it from the queue; once the job
        runs, cancelling abandons the result but the slot stays taken until it returns.
        """
        future = await self.start(job, priority=priority)
        return await asyncio.shield(future)

    async def start(
        self, job: Callable[[], _T], *, priority: Priority = Priority.WAITING
    ) -> asyncio.Future[_T]:
        """Wait for a slot, then start ``job`` on a worker thread; return its future.

        For jobs that stream their output elsewhere. The slot is freed when the thread
        returns; cancelling the returned future frees it at once only if the job had
        not started.
        """
        requester = await self._acquire(priority)
        loop = asyncio.get_running_loop()
        try:
            work = self._executor.submit(job)
        except BaseException:
            self._release(requester)
            raise

        def finished(_: concurrent.futures.Future[_T]) -> None:
            try:
                loop.call_soon_threadsafe(self._release, requester)
            except RuntimeError:
                # The loop closed before the thread returned (a caller that ran one
                # asyncio.run per call, as bench/evalset.py does): nothing runs on it any
                # more, so free the slot here, or it leaks and the next caller waits
                # forever. Waiters of that dead loop cannot be woken; skip them.
                with contextlib.suppress(RuntimeError):
                    self._release(requester)

        work.add_done_callback(finished)
        return asyncio.wrap_future(work, loop=loop)

    @contextlib.asynccontextmanager
    async def slot(self, priority: Priority = Priority.WAITING) -> AsyncIterator[None]:
        """Hold one slot for the ``async with`` block (a generation that streams).

        The block must not leave while a thread it started still computes: the slot
        is what bounds those threads.
        """
        requester = await self._acquire(priority)
        try:
            yield
        finally:
            self._release(requester)

    def close(self, error: EngineError) -> None:
        """Fail every waiting job with ``error``, and every later one; running ones finish."""
        self._error = error
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(error)

    async def aclose(self, *, wait: bool = True) -> None:
        """Refuse new work, fail the waiting, and (``wait``) let running threads return."""
        if self._error is None:
            self.close(EngineError(f"the {self.name} engine is closed"))
        if wait:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
        else:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`aclose` was called."""
        return self._error is not None

    # -- admission ----------------------------------------------------------------------

    async def _acquire(self, priority: Priority) -> str:
        """Wait for a slot; return the requester it was granted to."""
        if self._error is not None:
            raise self._error
        requester = current_requester()
        if self._free and not self._waiters:
            self._free -= 1
            self._requesters.take(requester)
            return requester
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(priority, requester, self._clock(), next(self._arrivals), future)
        self._waiters.append(waiter)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._release(requester)  # granted just as we were cancelled: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return requester

    def _release(self, requester: str) -> None:
        self._requesters.give_back(requester)
        waiter = self._next()
        if waiter is None:
            self._free += 1
            return
        self._waiters.remove(waiter)
        self._requesters.take(waiter.requester)
        waiter.future.set_result(None)

    def _next(self) -> _Waiter | None:
        """The waiter the freed slot goes to (see the module doc for the order)."""
        live = [w for w in self._waiters if not w.future.done()]
        if len(live) != len(self._waiters):
            self._waiters = live
        if not live:
            return None
        now = self._clock()
        held, served = self._requesters.held, self._requesters.served
        return min(live, key=lambda w: (
            self._effective(w, now),
            held.get(w.requester, 0),
            served.get(w.requester, -1),
            w.order,
        ))

    def _effective(self, waiter: _Waiter, now: float) -> int:
        """The waiter's priority, raised one level per ``aging`` seconds of waiting."""
        levels = int((now - waiter.arrived) / self._aging)
        return max(int(Priority.WAITING), int(waiter.priority) - levels)
