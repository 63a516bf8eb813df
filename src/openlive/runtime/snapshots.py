"""One session's resumption snapshots in the store: saved in order, loaded once."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from openlive.errors import InternalError, StoreError
from openlive.session.events import SnapshotLoaded, SnapshotSaved
from openlive.store.base import SnapshotStore, new_handle

log = logging.getLogger("openlive.session")


@dataclass(frozen=True, slots=True)
class SnapshotBinding:
    """Where a session's resumption snapshots go, and whose they are."""

    store: SnapshotStore
    owner: str  # the principal that opened the session
    ttl: float  # seconds a handle stays valid


class Snapshots:
    """Saves and loads the snapshots of session ``session_id`` (store calls run off the
    event loop)."""

    def __init__(self, binding: SnapshotBinding, session_id: str) -> None:
        self._binding = binding
        self._session_id = session_id
        self._lock = asyncio.Lock()  # snapshots are saved in order

    async def save(self, data: bytes, consumed: int | None = None) -> SnapshotSaved | None:
        """Store ``data`` under a fresh handle; None (logged) when the store fails.
        ``consumed`` (the last client message it includes) goes back with the handle."""
        binding = self._binding
        async with self._lock:
            handle = new_handle()
            try:
                await asyncio.to_thread(binding.store.save_snapshot, handle, binding.owner,
                                        data, ttl_seconds=binding.ttl, now=time.time())
            except StoreError as err:
                log.error("session %s: snapshot not saved: %s", self._session_id, err)
                return None
            # Older handles stay valid until they expire (the update naming the new one
            # may never reach a client whose connection is dying).
            return SnapshotSaved(handle, consumed)

    async def load(self, handle: str) -> SnapshotLoaded:
        """The snapshot a resuming client names.

        Raises the store's :class:`~openlive.errors.ProtocolError` for an unknown,
        expired or foreign handle (1008), :class:`InternalError` when the store fails.
        """
        binding = self._binding
        try:
            data = await asyncio.to_thread(binding.store.load_snapshot, handle, binding.owner,
                                           time.time())
        except StoreError as err:
            raise InternalError(f"Internal error: {err}") from err
        log.info("session %s: resumed", self._session_id)
        return SnapshotLoaded(data)
