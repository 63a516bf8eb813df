"""Trying an engine call again when the engine says it may work (``EngineError.retryable``).

A remote model behind a load balancer answers 503 for a moment, a connection resets: such
errors are raised with ``retryable=True``, and a second try a moment later usually works.
The driver wraps transcription, synthesis and the start of a generation in these
helpers: a bounded number of tries with a short, growing pause between them, each retry
logged, before the session hears of the failure. A stream is tried again only while it
has yielded nothing: once output reached the session, a second try would repeat it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from openlive import metrics
from openlive.errors import EngineError

_T = TypeVar("_T")

log = logging.getLogger("openlive.retry")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and after how long, a retryable engine failure is tried again."""

    attempts: int = 3  # tries in all, the first included
    backoff: float = 0.1  # seconds before the first retry; doubled before each next one

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed try."""
        return float(self.backoff * 2 ** (failures - 1))

    def gives_up(self, error: EngineError, failures: int) -> bool:
        """Whether ``error``, the ``failures``-th in a row, is the end of it."""
        return not error.retryable or failures >= self.attempts


DEFAULT_POLICY = RetryPolicy()


async def call(
    attempt: Callable[[], Awaitable[_T]], what: str, policy: RetryPolicy = DEFAULT_POLICY,
    *, engine: str | None = None,
) -> _T:
    """``await attempt()``, tried again while it raises a retryable :class:`EngineError`.

    ``what`` names the call in the log ("session abc: recognition"), ``engine`` its kind
    in ``openlive_engine_retries_total`` ("asr"). The last error is raised when the
    policy gives up; any other exception at once.
    """
    failures = 0
    while True:
        try:
            return await attempt()
        except EngineError as error:
            failures += 1
            if policy.gives_up(error, failures):
                raise
            await _pause(what, error, failures, policy, engine)


async def stream(
    open_stream: Callable[[], AsyncIterator[_T]],
    what: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    *, engine: str | None = None,
) -> AsyncIterator[_T]:
    """The items of ``open_stream()``, opened again after a retryable :class:`EngineError`
    raised before its first item; after an item, any error is raised as it is (``what``
    and ``engine`` as for :func:`call`)."""
    failures = 0
    while True:
        started = False
        try:
            async with contextlib.aclosing(_closable(open_stream())) as items:
                async for item in items:
                    started = True
                    yield item
            return
        except EngineError as error:
            failures += 1
            if started or policy.gives_up(error, failures):
                raise
            await _pause(what, error, failures, policy, engine)


async def _closable(items: AsyncIterator[_T]) -> AsyncGenerator[_T, None]:
    """``items`` as an async generator, so that leaving early closes the engine's stream."""
    try:
        async for item in items:
            yield item
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()


async def _pause(what: str, error: EngineError, failures: int, policy: RetryPolicy,
                 engine: str | None) -> None:
    delay = policy.delay(failures)
    if engine is not None:
        metrics.ENGINE_RETRIES.labels(engine=engine).inc()
    log.warning("%s failed (try %d of %d), trying again in %.2f s: %s",
                what, failures, policy.attempts, delay, error)
    await asyncio.sleep(delay)
