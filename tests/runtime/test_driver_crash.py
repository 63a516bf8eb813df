"""A bug inside a session ends it with 1011 and a logged traceback, not a silent 1006."""

from __future__ import annotations

import asyncio
import logging

import pytest

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.session.machine import Session
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import SETUP, MemoryTransport


class BrokenSession(Session):
    def handle(self, event, now):  # type: ignore[no-untyped-def]
        if self.state.value != "awaiting_setup":
            raise KeyError("a bug")
        return super().handle(event, now)


async def test_a_crash_closes_1011_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    transport = MemoryTransport()
    session = BrokenSession(session_id="t", catalog=ModelCatalog())
    driver = SessionDriver(session, transport, Engines({DEFAULT_BACKEND: EchoModel()}))
    task = asyncio.create_task(driver.run())
    transport.client(SETUP)
    assert "setupComplete" in await transport.outbox.get()
    with caplog.at_level(logging.ERROR, logger="openlive.session"):
        transport.client({"realtimeInput": {"text": "hello"}})
        await asyncio.wait_for(task, 5)
    assert transport.closed == (1011, "Internal error encountered.")
    assert "crashed" in caplog.text and "KeyError" in caplog.text
