"""Per-key caps: the reasons and checks (pure), the meter against a fake session and a
real SQLite store, and the meter driving a real SessionDriver with the fake model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.errors import MAX_REASON_BYTES, CloseCode, ProtocolError, StoreError
from openlive.protocol.server import (
    UsageMetadata,
)
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.server.quota import (
    MIN_SECONDS_LEFT,
    NO_TIME,
    Meter,
    QuotaExceeded,
    describe_seconds,
    over_cap,
    time_cap_reached,
    token_cap_reached,
    turn_tokens,
)
from openlive.session.actions import SetupAccepted, TurnComplete
from openlive.session.machine import Session
from openlive.store.base import ApiKey, KeyCaps, KeyUsage, Period, usage_window
from openlive.store.sqlite import SqliteStore
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import SETUP, MemoryTransport

SET_UP = SetupAccepted(session_id="s")


def turn_done(tokens: int) -> TurnComplete:
    return TurnComplete(usage=UsageMetadata(total_token_count=tokens))


def key(**caps: Any) -> ApiKey:
    return ApiKey(id="1a2b3c4d", name="k", created_at=0.0, caps=KeyCaps(**caps))


# -- pure ------------------------------------------------------------------------------------


def test_amounts_read_naturally() -> None:
    assert describe_seconds(3600) == "60 minutes"
    assert describe_seconds(60) == "1 minute"
    assert describe_seconds(90) == "90 seconds"
    assert describe_seconds(0.05 * 60) == "3 seconds"
    assert describe_seconds(1) == "1 second"


@pytest.mark.parametrize("period", list(Period))
def test_reasons_name_the_key_the_cap_and_the_reset(period: Period) -> None:
    caps = KeyCaps(max_session_seconds=3600.0, max_tokens=1_000_000_000, period=period)
    for error in (time_cap_reached("1a2b3c4d", caps), token_cap_reached("1a2b3c4d", caps)):
        assert error.close_code == CloseCode.POLICY_VIOLATION
        assert len(str(error.reason).encode()) < MAX_REASON_BYTES  # never cut short
        assert error.reason.startswith("API key 1a2b3c4d has used its ")


def test_reasons_read_naturally() -> None:
    day = KeyCaps(max_session_seconds=3600.0, period=Period.DAY)
    assert time_cap_reached("k", day).reason == (
        "API key k has used its 60 minutes of session time for today; "
        "the cap resets at 00:00 UTC.")
    month = KeyCaps(max_tokens=5000, period=Period.MONTH)
    assert token_cap_reached("k", month).reason == (
        "API key k has used its 5000 tokens for this month; "
        "the cap resets on the 1st at 00:00 UTC.")
    assert token_cap_reached("k", KeyCaps(max_tokens=5)).reason == (
        "API key k has used its 5 tokens; the cap does not reset (an operator can raise it).")


def test_over_cap() -> None:
    usage = KeyUsage("total", session_seconds=50.0, tokens=100)
    assert over_cap(key(), usage) is None
    assert over_cap(key(max_tokens=101, max_session_seconds=51.0), usage) is None
    assert isinstance(over_cap(key(max_tokens=100), usage), QuotaExceeded)
    assert "tokens" in str(over_cap(key(max_tokens=100), usage))
    assert "session time" in str(over_cap(key(max_session_seconds=50.0), usage))
    # new sessions need a little time to be worth opening
    assert over_cap(key(max_session_seconds=50.5), usage) is None
    assert over_cap(key(max_session_seconds=50.5), usage, min_seconds=1.0) is not None


def test_turn_tokens_are_prompt_plus_response() -> None:
    assert turn_tokens(UsageMetadata(total_token_count=9, prompt_token_count=1)) == 9
    assert turn_tokens(UsageMetadata(prompt_token_count=4, response_token_count=3)) == 7
    assert turn_tokens(UsageMetadata()) == 0


# -- the meter against a fake session ---------------------------------------------------------


class FakeSession:
    """Records what the meter asks of the session, with the loop time of each call."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.calls: list[tuple[str, Any, float]] = []
        self.aborted = asyncio.Event()
        self.warned = asyncio.Event()

    def go_away(self, grace: float) -> None:
        self.calls.append(("go_away", grace, self.loop.time()))
        self.warned.set()

    def abort(self, error: ProtocolError) -> None:
        self.calls.append(("abort", error, self.loop.time()))
        self.aborted.set()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "openlive.db")
    yield store
    store.close()


async def admit(store: SqliteStore, key_id: str, *, go_away_before: float = 60.0,
                sync: float = 60.0) -> Meter:
    meter = await Meter.admit(store, key_id, session_id="s", go_away_before=go_away_before,
                              sync=sync)
    assert meter is not None
    return meter


def total(store: SqliteStore, key_id: str) -> KeyUsage:
    key = store.get_key(key_id)
    assert key is not None
    return store.get_usage(key_id, usage_window(key.caps.period, time.time()))


async def test_admission(store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_tokens=10, max_session_seconds=60.0,
                                         period=Period.DAY))
    assert await Meter.admit(store, "no-such-key", session_id="s", go_away_before=1) is None
    await admit(store, k.id)
    window = usage_window(Period.DAY, time.time())
    store.add_usage(k.id, window, session_seconds=60.0 - MIN_SECONDS_LEFT / 2)
    with pytest.raises(QuotaExceeded, match="1 minute of session time"):
        await admit(store, k.id)
    store.set_key_caps(k.id, KeyCaps(max_tokens=10, period=Period.DAY))
    await admit(store, k.id)
    store.add_usage(k.id, window, tokens=10)
    with pytest.raises(QuotaExceeded, match=f"API key {k.id} has used its 10 tokens for today"):
        await admit(store, k.id)
    store.set_key_caps(k.id, KeyCaps(max_tokens=10, period=Period.MONTH))
    await admit(store, k.id)  # a new period starts from zero


async def test_the_token_cap_ends_the_session_after_the_turn_that_crosses_it(
        store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_tokens=8))
    meter = await admit(store, k.id)
    session = FakeSession()
    async with meter.metering(session):
        meter.observe(SET_UP)
        meter.observe(turn_done(5))
        await asyncio.sleep(0.2)
        assert session.calls == [] and total(store, k.id).tokens == 5  # recorded at once
        meter.observe(turn_done(5))
        await asyncio.wait_for(session.aborted.wait(), 5)
    (kind, grace, _), (kind2, error, _) = session.calls
    assert kind == "go_away" and grace == NO_TIME  # goAway "0s", then the close
    assert kind2 == "abort" and isinstance(error, QuotaExceeded)
    assert error.reason.startswith(f"API key {k.id} has used its 8 tokens")
    assert total(store, k.id).tokens == 10


async def test_the_time_cap_warns_then_closes_at_the_deadline(store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_session_seconds=1.2))
    meter = await admit(store, k.id, go_away_before=0.6)
    session = FakeSession()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with meter.metering(session):
        meter.observe(SET_UP)
        await asyncio.wait_for(session.aborted.wait(), 5)
    (kind, grace, warned_at), (kind2, error, closed_at) = session.calls
    assert kind == "go_away" and 0.4 < grace <= 0.6 + 1e-6
    assert warned_at - started == pytest.approx(0.6, abs=0.3)
    assert closed_at == pytest.approx(warned_at + grace, abs=0.2)  # as the goAway said
    assert kind2 == "abort" and "1.2 seconds of session time" in error.reason
    assert total(store, k.id).session_seconds == pytest.approx(1.2, abs=0.3)


async def test_little_time_left_warns_at_once(store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_session_seconds=60.0))
    store.add_usage(k.id, usage_window(Period.TOTAL, 0), session_seconds=59.0)
    meter = await admit(store, k.id, go_away_before=30.0)
    session = FakeSession()
    async with meter.metering(session):
        meter.observe(SET_UP)
        await asyncio.wait_for(session.warned.wait(), 5)
        assert session.calls[0][1] == pytest.approx(1.0, abs=0.2)
        await asyncio.wait_for(session.aborted.wait(), 5)


async def test_seconds_are_recorded_periodically_and_at_the_end(store: SqliteStore) -> None:
    k, _ = store.create_key("k")  # no caps: usage is still counted, for operators
    meter = await admit(store, k.id, sync=0.1)
    session = FakeSession()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with meter.metering(session):
        meter.observe(SET_UP)
        await asyncio.sleep(0.45)
        assert total(store, k.id).session_seconds >= 0.25  # a crash now loses little
        meter.observe(turn_done(3))
        await asyncio.sleep(0.05)
    elapsed = loop.time() - started
    final = total(store, k.id)
    assert final.session_seconds == pytest.approx(elapsed, abs=0.2)
    assert final.tokens == 3 and session.calls == []


async def test_another_nodes_usage_brings_the_deadline_forward(store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_session_seconds=30.0))
    meter = await admit(store, k.id, go_away_before=1.0, sync=0.1)
    session = FakeSession()
    async with meter.metering(session):
        meter.observe(SET_UP)
        await asyncio.sleep(0.2)
        assert session.calls == []
        store.add_usage(k.id, usage_window(Period.TOTAL, 0), session_seconds=29.0)
        await asyncio.wait_for(session.aborted.wait(), 5)
    assert [c[0] for c in session.calls] == ["go_away", "abort"]


async def test_an_operator_raising_the_cap_keeps_the_session_going(store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_session_seconds=2.0))
    meter = await admit(store, k.id, go_away_before=0.5, sync=0.1)
    session = FakeSession()
    async with meter.metering(session):
        meter.observe(SET_UP)
        store.set_key_caps(k.id, KeyCaps(max_session_seconds=3600.0))
        await asyncio.sleep(2.5)
    assert session.calls == []


class SlowStore(SqliteStore):
    """Takes a while to add usage, as a busy disk or a distant Redis does."""

    def add_usage(self, *args: Any, **kwargs: Any) -> KeyUsage:
        time.sleep(0.5)
        return super().add_usage(*args, **kwargs)


async def test_the_token_cap_ends_the_session_without_waiting_for_the_store(
        tmp_path: Path) -> None:
    store = SlowStore(tmp_path / "openlive.db")
    try:
        k, _ = store.create_key("k", KeyCaps(max_tokens=8))
        meter = await admit(store, k.id)
        session = FakeSession()
        async with meter.metering(session):
            meter.observe(SET_UP)
            meter.observe(turn_done(5))
            await asyncio.sleep(0.05)
            assert session.calls == []  # under the cap
            started = session.loop.time()
            meter.observe(turn_done(5))  # the turn that crosses it
            await asyncio.wait_for(session.aborted.wait(), 5)
            assert session.loop.time() - started < 0.25  # before any add came back
        kind, error, _ = session.calls[-1]
        assert kind == "abort" and isinstance(error, QuotaExceeded)
        assert error.reason.startswith(f"API key {k.id} has used its 8 tokens")
        assert [c[0] for c in session.calls] == ["go_away", "abort"]  # once, not twice
        assert total(store, k.id).tokens == 10  # and all of it recorded
    finally:
        store.close()


class FlakyStore(SqliteStore):
    """Fails the first ``failures`` adds, as a store that is briefly unreachable."""

    failures = 1

    def add_usage(self, *args: Any, **kwargs: Any) -> KeyUsage:
        if self.failures:
            self.failures -= 1
            raise StoreError("store error: unreachable")
        return super().add_usage(*args, **kwargs)


async def test_usage_a_failed_write_missed_is_added_with_the_next(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "db")
    k, _ = store.create_key("k", KeyCaps(max_tokens=100))
    meter = await admit(store, k.id)
    session = FakeSession()
    async with meter.metering(session):
        meter.observe(SET_UP)
        meter.observe(turn_done(4))
        await asyncio.sleep(0.1)
        meter.observe(turn_done(6))
        await asyncio.sleep(0.1)
    assert total(store, k.id).tokens == 10
    store.close()


# -- the meter driving the real driver ---------------------------------------------------------


async def run_metered(store: SqliteStore, key_id: str, *,
                      go_away_before: float) -> tuple[MemoryTransport, asyncio.Task[None]]:
    meter = await admit(store, key_id, go_away_before=go_away_before)
    transport = MemoryTransport()
    session = Session(session_id="t", catalog=ModelCatalog())
    driver = SessionDriver(session, transport, Engines({DEFAULT_BACKEND: EchoModel()}),
                           observe_output=meter.observe)

    async def run() -> None:
        async with meter.metering(driver):
            await driver.run()

    return transport, asyncio.create_task(run())


async def drain(transport: MemoryTransport) -> list[dict[str, Any]]:
    frames = []
    while not transport.outbox.empty():
        frames.append(transport.outbox.get_nowait())
    return frames


async def test_driver_token_cap_go_away_then_close_1008(store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_tokens=6))
    t, task = await run_metered(store, k.id, go_away_before=60.0)
    t.client(SETUP)
    assert await asyncio.wait_for(t.outbox.get(), 5) == {"setupComplete": {"sessionId": "t"}}
    t.client({"realtimeInput": {"text": "hello there"}})  # 2 + 3 tokens
    turn = await t.until_turn_complete()
    assert turn[-1]["usageMetadata"]["totalTokenCount"] == 5
    await asyncio.sleep(0.2)
    assert t.closed is None  # under the cap
    t.client({"realtimeInput": {"text": "again"}})  # crosses it
    turn = await t.until_turn_complete()
    assert "[messages=3] again" in "".join(
        p.get("text", "") for m in turn
        for p in m.get("serverContent", {}).get("modelTurn", {}).get("parts", []))
    await asyncio.wait_for(task, 5)
    assert await drain(t) == [{"goAway": {"timeLeft": "0s"}}]
    assert t.closed is not None and t.closed[0] == 1008
    assert t.closed[1].startswith(f"API key {k.id} has used its 6 tokens")
    with pytest.raises(QuotaExceeded):  # the next connection is refused
        await admit(store, k.id)


async def test_driver_time_cap_go_away_then_close_1008(store: SqliteStore) -> None:
    k, _ = store.create_key("k", KeyCaps(max_session_seconds=1.5))
    t, task = await run_metered(store, k.id, go_away_before=0.8)
    t.client(SETUP)
    assert await asyncio.wait_for(t.outbox.get(), 5) == {"setupComplete": {"sessionId": "t"}}
    go_away = await asyncio.wait_for(t.outbox.get(), 5)
    left = float(go_away["goAway"]["timeLeft"].rstrip("s"))
    assert 0.5 < left <= 0.8
    await asyncio.wait_for(task, 5)
    assert t.closed is not None and t.closed[0] == 1008, t.closed
    assert "1.5 seconds of session time" in t.closed[1]
    with pytest.raises(QuotaExceeded):
        await admit(store, k.id)


async def test_two_nodes_share_one_allowance(redis_url: str) -> None:
    import uuid

    from openlive.store.redis import RedisStore

    prefix = f"quota-{uuid.uuid4().hex[:8]}:"
    node_a, node_b = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    k, _ = node_a.create_key("k", KeyCaps(max_tokens=10, period=Period.DAY))
    meter_a = await Meter.admit(node_a, k.id, session_id="a", go_away_before=60.0)
    meter_b = await Meter.admit(node_b, k.id, session_id="b", go_away_before=60.0)
    assert meter_a is not None and meter_b is not None
    session_a, session_b = FakeSession(), FakeSession()
    async with meter_a.metering(session_a), meter_b.metering(session_b):
        meter_a.observe(SET_UP)
        meter_b.observe(SET_UP)
        meter_a.observe(turn_done(6))
        await asyncio.sleep(0.2)
        meter_b.observe(turn_done(5))  # 6 on node A + 5 here: over
        await asyncio.wait_for(session_b.aborted.wait(), 5)
    assert session_a.calls == []  # A's own last turn was under the cap when recorded
    with pytest.raises(QuotaExceeded, match="10 tokens for today"):
        await Meter.admit(node_a, k.id, session_id="c", go_away_before=60.0)
    node_a.close()
    node_b.close()
