"""Load shedding: a fixed session cap and event-loop lag refuse new sessions with 1011."""

from __future__ import annotations

import asyncio
import time

import pytest

from openlive.errors import CloseCode
from openlive.server.admission import WINDOW, Admission, LagMonitor, Overloaded


def test_the_session_cap_refuses_one_too_many() -> None:
    admission = Admission(max_sessions=2)
    admission.check(1)
    with pytest.raises(Overloaded) as refused:
        admission.check(2)
    assert refused.value.close_code == CloseCode.INTERNAL_ERROR
    assert "RESOURCE_EXHAUSTED" in refused.value.reason and "2 concurrent" in refused.value.reason


def test_lag_over_the_threshold_refuses_until_it_recovers() -> None:
    admission = Admission(shed_lag=0.15)
    for _ in range(WINDOW):
        admission.monitor.record(0.3)
    with pytest.raises(Overloaded, match="300 ms behind"):
        admission.check(0)
    for _ in range(WINDOW):
        admission.monitor.record(0.01)
    admission.check(0)


def test_off_by_default() -> None:
    admission = Admission()
    for _ in range(WINDOW):
        admission.monitor.record(5.0)
    admission.check(10_000)


async def test_the_monitor_sees_a_blocked_loop() -> None:
    monitor = LagMonitor()
    async with monitor.running():
        await asyncio.sleep(0.25)
        assert monitor.lag < 0.05  # an idle loop is on time
        time.sleep(0.4)  # something hogs the loop  # noqa: ASYNC251
        await asyncio.sleep(0.15)
        assert monitor.lag > 0.02
