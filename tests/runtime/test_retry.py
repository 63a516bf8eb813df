"""Retries of retryable engine failures, and the priorities the driver asks engines for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.chat import ChatMessage, GenerationRequest
from openlive.engines.scheduler import Priority
from openlive.errors import EngineError
from openlive.runtime import retry
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.session.actions import StartGeneration
from openlive.session.machine import Session
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import SETUP, MemoryTransport, start, texts

FAST = retry.RetryPolicy(attempts=3, backoff=0.001)
BUSY = "the engine is busy"


class Flaky:
    """Fails with each of ``errors`` in turn, then answers ``"ok"``."""

    def __init__(self, *errors: EngineError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_a_retryable_failure_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(EngineError(BUSY, retryable=True))
    with caplog.at_level(logging.WARNING, logger="openlive.retry"):
        assert await retry.call(flaky, "session s: recognition", FAST) == "ok"
    assert flaky.calls == 2
    assert "session s: recognition failed (try 1 of 3)" in caplog.text


async def test_a_failure_that_is_not_retryable_is_raised_at_once() -> None:
    flaky = Flaky(EngineError("broken"))
    with pytest.raises(EngineError, match="broken"):
        await retry.call(flaky, "test", FAST)
    assert flaky.calls == 1


async def test_retries_are_bounded() -> None:
    flaky = Flaky(*[EngineError(BUSY, retryable=True)] * 5)
    with pytest.raises(EngineError, match=BUSY):
        await retry.call(flaky, "test", FAST)
    assert flaky.calls == 3


def test_the_pause_grows() -> None:
    policy = retry.RetryPolicy(attempts=4, backoff=0.1)
    assert [policy.delay(n) for n in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])


class FlakyStream:
    """Yields ``before`` items, then fails with ``error`` the first ``times`` times it is
    opened; afterwards yields every item."""

    def __init__(self, error: EngineError, *, before: int = 0, times: int = 1) -> None:
        self.error = error
        self.before = before
        self.times = times
        self.opened = 0
        self.closed = 0

    async def open(self) -> AsyncIterator[str]:
        self.opened += 1
        try:
            for index in range(3):
                if index == self.before and self.opened <= self.times:
                    raise self.error
                yield f"item{index}"
        finally:
            self.closed += 1


async def collect(items: AsyncIterator[str]) -> list[str]:
    return [item async for item in items]


async def test_a_stream_failing_before_its_first_item_is_opened_again() -> None:
    flaky = FlakyStream(EngineError(BUSY, retryable=True))
    assert await collect(retry.stream(flaky.open, "test", FAST)) == ["item0", "item1", "item2"]
    assert flaky.opened == 2


async def test_a_stream_that_already_yielded_is_never_opened_again() -> None:
    flaky = FlakyStream(EngineError(BUSY, retryable=True), before=1)
    got: list[str] = []
    with pytest.raises(EngineError, match=BUSY):
        async for item in retry.stream(flaky.open, "test", FAST):
            got.append(item)
    assert got == ["item0"] and flaky.opened == 1


async def test_leaving_a_stream_early_closes_the_engine_stream() -> None:
    flaky = FlakyStream(EngineError(BUSY, retryable=True), times=0)
    async with contextlib.aclosing(retry.stream(flaky.open, "test", FAST)) as items:
        async for _ in items:
            break
    assert flaky.closed == 1


# --- through the driver ----------------------------------------------------------------------


async def test_a_generation_failing_retryably_once_still_answers() -> None:
    model = EchoModel()
    model.failures = [EngineError(BUSY, retryable=True)]
    t, _, task = start(model)
    t.client(SETUP)
    await t.outbox.get()
    t.client({"realtimeInput": {"text": "hello there"}})
    turn = await t.until_turn_complete()
    assert texts(turn) == "[messages=1] hello there"
    assert len(model.requests) == 2 and not model.failures
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_a_generation_failing_for_good_closes_1011_without_retrying() -> None:
    model = EchoModel()
    model.failures = [EngineError("the model file is corrupt")]
    t, _, task = start(model)
    t.client(SETUP)
    await t.outbox.get()
    t.client({"realtimeInput": {"text": "hello there"}})
    await asyncio.wait_for(task, 5)
    assert t.closed is not None and t.closed[0] == 1011
    assert len(model.requests) == 1


async def test_the_driver_asks_for_the_priority_the_session_implies() -> None:
    model = EchoModel()
    t, _, task = start(model)
    t.client(SETUP)
    await t.outbox.get()
    t.client({"realtimeInput": {"text": "hello there"}})
    await t.until_turn_complete()
    assert model.priorities == [Priority.WAITING]
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_an_answer_ahead_is_generated_as_speculative_work() -> None:
    model = EchoModel()
    session = Session(session_id="s", catalog=ModelCatalog())
    driver = SessionDriver(session, MemoryTransport(), Engines({DEFAULT_BACKEND: model}))
    request = GenerationRequest(messages=(ChatMessage("user", "what time is it"),))
    driver._execute([StartGeneration(7, DEFAULT_BACKEND, request, speculative=True)])
    await asyncio.sleep(0.05)
    assert model.priorities == [Priority.SPECULATIVE]
