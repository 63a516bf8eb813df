"""The session's timers: one per key, on the event loop, in the driver's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Timers:
    """``WakeAt`` carried out: call ``due`` at a time of ``clock``; a new time for a key
    replaces the pending one of that key."""

    def __init__(self, clock: Callable[[], float], due: Callable[[], None]) -> None:
        self._clock = clock
        self._due = due
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def wake_at(self, at: float, key: str) -> None:
        old = self._handles.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, at - self._clock())
        self._handles[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: str) -> None:
        self._handles.pop(key, None)
        self._due()

    def cancel(self) -> None:
        """No timer fires any more."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
