"""Load shedding: refuse new sessions before the ones already served degrade.

A voice session costs event-loop time for every 32 ms of audio; past a machine's
capacity every session's latency grows together and sessions start failing to open
(bench notes: ~90 sessions on 2 cores). Better to turn the next client away with the
Live API's answer to the same situation, close code 1011 and ``RESOURCE_EXHAUSTED``, so
it can retry or go to another node:

* a fixed cap (``--max-sessions``), for operators who have measured their capacity;
* the event loop's lag (``--shed-lag-ms``): a :class:`LagMonitor` wakes every 100 ms
  and records how late it woke; when the mean lag over the last second passes the
  threshold, new sessions are refused until it recovers. Sessions already open are
  never cut.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from openlive import metrics
from openlive.errors import InternalError

INTERVAL = 0.1  # seconds between lag samples
WINDOW = 10  # samples averaged (one second)


class Overloaded(InternalError):
    """The server refuses a new session to protect the ones it serves (1011)."""


class LagMonitor:
    """Measures how late the event loop runs timers, while :meth:`running` is entered."""

    def __init__(self) -> None:
        self._samples: collections.deque[float] = collections.deque(maxlen=WINDOW)

    @property
    def lag(self) -> float:
        """Mean lag in seconds over the last second (0 until measured)."""
        return sum(self._samples) / len(self._samples) if self._samples else 0.0

    def record(self, lag: float) -> None:
        self._samples.append(max(0.0, lag))
        metrics.EVENT_LOOP_LAG.observe(max(0.0, lag))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LagMonitor]:
        task = asyncio.create_task(self._sample(), name="openlive-lag-monitor")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + INTERVAL
            await asyncio.sleep(INTERVAL)
            self.record(loop.time() - due)


class Admission:
    """Decides whether one more session may open."""

    def __init__(self, max_sessions: int = 0, shed_lag: float = 0.0,
                 monitor: LagMonitor | None = None) -> None:
        self.max_sessions = max_sessions  # 0: no fixed cap
        self.shed_lag = shed_lag  # seconds; 0: never shed on lag
        self.monitor = monitor or LagMonitor()

    def check(self, active: int) -> None:
        """Raise :class:`Overloaded` when a new session would be one too many."""
        if self.max_sessions and active >= self.max_sessions:
            raise Overloaded(
                f"RESOURCE_EXHAUSTED: this server's limit of {self.max_sessions} concurrent "
                "sessions is reached; try again later."
            )
        lag = self.monitor.lag
        if self.shed_lag and lag > self.shed_lag:
            raise Overloaded(
                f"RESOURCE_EXHAUSTED: the server is overloaded ({lag * 1000:.0f} ms behind); "
                "try again later."
            )
