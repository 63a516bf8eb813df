"""The driver sends a turn's resumption update before the turn's turnComplete, however
slow the store is."""

from __future__ import annotations

import asyncio
import threading
import time

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.runtime.snapshots import SnapshotBinding
from openlive.session.config import ServerCapabilities
from openlive.session.machine import Session
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import MemoryTransport


class SlowStore:
    """Snapshots in memory, each save taking ``delay`` seconds (a busy disk, a far Redis)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.saved: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def save_snapshot(self, handle: str, owner: str, data: bytes, *, ttl_seconds: float,
                      now: float) -> None:
        time.sleep(self.delay)
        with self._lock:
            self.saved[handle] = data

    def load_snapshot(self, handle: str, owner: str, now: float) -> bytes:
        return self.saved[handle]


async def test_the_update_comes_before_turn_complete_even_when_saving_is_slow() -> None:
    store = SlowStore(0.3)
    transport = MemoryTransport()
    session = Session(session_id="t", catalog=ModelCatalog(),
                      capabilities=ServerCapabilities(resumption=True))
    driver = SessionDriver(session, transport, Engines({DEFAULT_BACKEND: EchoModel()}),
                           snapshots=SnapshotBinding(store, "key:1", 3600.0))  # type: ignore[arg-type]
    task = asyncio.create_task(driver.run())
    transport.client({"setup": {"model": "models/gemini-2.0-flash-live-001",
                                "generationConfig": {"responseModalities": ["TEXT"]},
                                "sessionResumption": {}}})
    assert "setupComplete" in await asyncio.wait_for(transport.outbox.get(), 5)
    first = await asyncio.wait_for(transport.outbox.get(), 5)
    assert first["sessionResumptionUpdate"]["lastConsumedClientMessageIndex"] == "0"
    transport.client({"realtimeInput": {"text": "My name is Ada Lovelace."}})
    turn = await transport.until_turn_complete()
    updates = [m["sessionResumptionUpdate"] for m in turn if "sessionResumptionUpdate" in m]
    assert len(updates) == 1, turn
    assert turn[-2] == {"sessionResumptionUpdate": updates[0]}, turn
    assert updates[0]["lastConsumedClientMessageIndex"] == "1"
    # the handle it names is stored, and holds the turn
    assert b"Ada Lovelace" in store.saved[updates[0]["newHandle"]]
    assert turn[-1]["serverContent"]["turnComplete"] is True
    transport.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)
