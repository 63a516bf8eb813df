"""Per-key caps on session time and tokens, enforced on every Live session.

Theory of operation. An API key may carry :class:`~openlive.store.base.KeyCaps`: the
connected seconds and the tokens of the sessions it opens (itself, or through the
ephemeral tokens it created), per UTC day, per UTC month or in total. The counters live
in the store, so every node sharing it adds to and reads the same totals.

* At connect, :meth:`Meter.admit` reads the key's caps and usage. A key with a cap used
  up is refused with 1008 and a reason that names the cap and when it resets.
* While the session runs, the meter (:meth:`Meter.metering`, around the driver) adds to
  the counters: a turn's tokens as soon as its ``usageMetadata`` goes out (the driver
  shows the meter each message it sends, :meth:`Meter.observe`), and the seconds
  connected every ``sync`` seconds and at the end, so a crash loses at most one interval.
  Each add returns the totals of all nodes, from which the deadline is worked out again;
  each sync also re-reads the caps, so an operator's change applies within an interval.
* The time cap: once ``setupComplete`` is out, a ``goAway`` with the time left comes
  ``go_away_before`` seconds ahead (through the session's own shutdown path,
  :meth:`SessionDriver.go_away`), and the session is closed with 1008 at the deadline.
  The token cap is checked when a turn's usage has been recorded: that turn is complete,
  and the session gets ``goAway`` (``timeLeft`` 0) and the 1008 close then.

These are bounds, not exact meters: sessions of one key running at once on several nodes
may together overshoot the time cap by up to one ``sync`` interval each, and a token cap
by the turns already under way when it was reached. Once ``goAway`` is out the session
ends by the time it named, even if the cap is raised meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from openlive.errors import PolicyViolation, ProtocolError, StoreError
from openlive.protocol.server import UsageMetadata
from openlive.session.actions import Output, SetupAccepted, TurnComplete
from openlive.store.base import (
    ApiKey,
    KeyCaps,
    KeyUsage,
    Period,
    Store,
    usage_window,
)

SYNC_SECONDS = 15.0  # how often a running session adds its seconds to the store
MIN_SECONDS_LEFT = 1.0  # a key with less session time left than this is refused
# A goAway grace that reads "0s" on the wire: the session's shutdown path needs a
# positive one (0 would end the connection without sending goAway).
NO_TIME = 1e-4
REWARN_SLACK = 1.0  # a deadline that moves earlier by more than this gets a new goAway

log = logging.getLogger("openlive.quota")

_RESETS = {
    Period.DAY: " for today; the cap resets at 00:00 UTC.",
    Period.MONTH: " for this month; the cap resets on the 1st at 00:00 UTC.",
    Period.TOTAL: "; the cap does not reset (an operator can raise it).",
}


class QuotaExceeded(PolicyViolation):
    """A key's cap on session time or tokens is used up (1008); ``reason`` says which."""


def time_cap_reached(key_id: str, caps: KeyCaps) -> QuotaExceeded:
    """The error that refuses or ends a session of a key out of session time."""
    amount = describe_seconds(caps.max_session_seconds or 0.0)
    return QuotaExceeded(
        f"API key {key_id} has used its {amount} of session time{_RESETS[caps.period]}")


def token_cap_reached(key_id: str, caps: KeyCaps) -> QuotaExceeded:
    """The error that refuses or ends a session of a key out of tokens."""
    return QuotaExceeded(
        f"API key {key_id} has used its {caps.max_tokens} tokens{_RESETS[caps.period]}")


def describe_seconds(seconds: float) -> str:
    """``seconds`` for people: whole minutes as minutes, anything else as seconds."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = seconds / 60
        return f"{minutes:g} minute" + ("" if minutes == 1 else "s")
    return f"{seconds:g} second" + ("" if seconds == 1 else "s")


def seconds_left(caps: KeyCaps, usage: KeyUsage) -> float | None:
    """Session time the key has left in ``usage``'s window, or None without a time cap."""
    if caps.max_session_seconds is None:
        return None
    return caps.max_session_seconds - usage.session_seconds


def over_cap(key: ApiKey, usage: KeyUsage, *, min_seconds: float = 0.0) -> QuotaExceeded | None:
    """Why ``key`` may not go on, having used ``usage``, or None.

    With ``min_seconds``, less session time than that left counts as none (for refusing
    new sessions that could not do anything before their deadline).
    """
    caps = key.caps
    if caps.max_tokens is not None and usage.tokens >= caps.max_tokens:
        return token_cap_reached(key.id, caps)
    left = seconds_left(caps, usage)
    if left is not None and (left <= 0 or left < min_seconds):
        return time_cap_reached(key.id, caps)
    return None


def turn_tokens(usage: UsageMetadata) -> int:
    """The tokens a turn counts against the cap: prompt plus response."""
    if usage.total_token_count is not None:
        return usage.total_token_count
    return (usage.prompt_token_count or 0) + (usage.response_token_count or 0)


class MeteredSession(Protocol):
    """What the meter needs of a running session: :class:`SessionDriver` has both."""

    def go_away(self, grace: float) -> None:
        """Send ``goAway`` and end the connection ``grace`` seconds later at the latest."""
        ...

    def abort(self, error: ProtocolError) -> None:
        """End the session now with ``error``'s close code and reason."""
        ...


class Meter:
    """Meters one Live session against its API key's caps (see the module docstring).

    Make one with :meth:`admit` at connect, pass :meth:`observe` to the driver, and run
    the driver inside :meth:`metering`.
    """

    def __init__(self, store: Store, key: ApiKey, usage: KeyUsage, *, session_id: str,
                 go_away_before: float, sync: float = SYNC_SECONDS,
                 wall: Callable[[], float] = time.time) -> None:
        self._store = store
        self._key = key  # re-read at every sync: an operator may change the caps
        self._usage = usage  # the totals of every node at the last add
        self._session_id = session_id
        self._go_away_before = go_away_before
        self._sync = sync
        self._wall = wall  # for the usage window (UTC days and months)
        self._loop = asyncio.get_running_loop()
        self._counted_to = self._loop.time()  # connected seconds are recorded up to here
        self._tokens = 0  # reported to the client, not yet recorded
        self._lock = asyncio.Lock()  # one add at a time, so no interval counts twice
        self._session: MeteredSession | None = None
        self._set_up = False  # setupComplete is out: a goAway may follow it
        self._warned: float | None = None  # the deadline a goAway announced
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._done = False  # the session ended (by us or otherwise): act no more

    @classmethod
    async def admit(cls, store: Store, key_id: str, *, session_id: str, go_away_before: float,
                    sync: float = SYNC_SECONDS,
                    wall: Callable[[], float] = time.time) -> Meter | None:
        """A meter for a new session of ``key_id``; None if there is no such key.

        Call once the caller is authenticated, before the session starts. Raises
        :class:`QuotaExceeded` when a cap is used up, and
        :class:`~openlive.errors.StoreError` when the store fails.
        """
        def read() -> tuple[ApiKey | None, KeyUsage | None]:
            key = store.get_key(key_id)
            if key is None:
                return None, None
            return key, store.get_usage(key_id, usage_window(key.caps.period, wall()))

        key, usage = await asyncio.to_thread(read)
        if key is None or usage is None:
            return None
        if problem := over_cap(key, usage, min_seconds=MIN_SECONDS_LEFT):
            raise problem
        return cls(store, key, usage, session_id=session_id, go_away_before=go_away_before,
                   sync=sync, wall=wall)

    def observe(self, action: Output) -> None:
        """Give to the driver as ``observe_output``: it sees what the client is told.

        Never acts on the session from inside the call (the driver is in the middle of
        carrying out actions): the reactions are scheduled on the loop.
        """
        if isinstance(action, SetupAccepted) and not self._set_up:
            self._set_up = True
            self._loop.call_soon(self._arm)
        if isinstance(action, TurnComplete) and action.usage is not None:
            tokens = turn_tokens(action.usage)
            if tokens > 0:
                self._tokens += tokens
                task = self._loop.create_task(self._record())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                # The totals only grow: when the last ones and this session's tokens not
                # yet recorded already reach the cap, end now, not after the store's round
                # trip, during which the client may already have started another turn.
                if self._over_token_cap(self._usage.tokens + self._tokens):
                    self._loop.call_soon(self._check)

    @contextlib.asynccontextmanager
    async def metering(self, session: MeteredSession) -> AsyncIterator[None]:
        """Meter ``session`` while the body runs it; record what is left when it ends."""
        self._session = session
        sync = self._loop.create_task(self._sync_loop(), name="openlive-quota")
        try:
            yield
        finally:
            self._done = True
            self._cancel_timers()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._stopping.set()
            await asyncio.gather(sync, return_exceptions=True)

    # -- recording ------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        """Add the seconds every ``sync`` seconds, and a last time once stopping."""
        while True:
            stopping = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._sync)
                stopping = True
            await self._record(refresh=not stopping)
            if stopping:
                return

    async def _record(self, *, refresh: bool = False) -> None:
        """Add the seconds and tokens not yet recorded; then check the new totals."""
        async with self._lock:
            now = self._loop.time()
            seconds, tokens = now - self._counted_to, self._tokens
            try:
                key, usage = await asyncio.to_thread(self._add, seconds, tokens, refresh)
            except StoreError as err:  # kept, and added with the next record
                log.error("session %s: usage not recorded: %s", self._session_id, err)
                return
            self._counted_to, self._tokens = now, self._tokens - tokens
            self._key, self._usage = key, usage
        self._check()

    def _add(self, seconds: float, tokens: int, refresh: bool) -> tuple[ApiKey, KeyUsage]:
        """(In a worker thread.) The store round trips of one record."""
        key = (self._store.get_key(self._key.id) if refresh else None) or self._key
        window = usage_window(key.caps.period, self._wall())
        usage = self._store.add_usage(key.id, window, session_seconds=seconds, tokens=tokens)
        return key, usage

    # -- enforcing ------------------------------------------------------------------------

    def _check(self) -> None:
        """After an add (or a turn that crosses the token cap): end the session over its
        token cap, or re-aim the time cap."""
        if self._done or self._session is None:
            return
        if self._over_token_cap(self._usage.tokens + self._tokens):
            self._end(token_cap_reached(self._key.id, self._key.caps))
        elif self._set_up:
            self._arm()

    def _over_token_cap(self, tokens: int) -> bool:
        cap = self._key.caps.max_tokens
        return cap is not None and tokens >= cap

    def _arm(self) -> None:
        """Set the goAway and close timers for the time cap (from the latest totals)."""
        if self._done or self._session is None:
            return
        self._cancel_timers()
        left = seconds_left(self._key.caps, self._usage)
        if left is None:
            return
        now = self._loop.time()
        deadline = self._counted_to + left  # the totals include this session up to there
        if self._warned is not None:
            if deadline >= self._warned - REWARN_SLACK:
                # the client was told a time; end by then (its connection will anyway)
                deadline = min(deadline, self._warned)
            else:
                self._warned = None  # other sessions used time meanwhile: tell it again
        if deadline <= now:
            self._end(time_cap_reached(self._key.id, self._key.caps))
            return
        self._timers["close"] = self._loop.call_at(deadline, self._on_deadline)
        if self._warned is None:
            warn_at = max(now, deadline - self._go_away_before)
            self._timers["warn"] = self._loop.call_at(warn_at, self._warn, deadline)

    def _warn(self, deadline: float) -> None:
        assert self._session is not None
        self._warned = deadline
        # The session's connection now ends at clock() + grace, read after this: never
        # before our close timer, so the close carries the cap's reason.
        self._session.go_away(max(deadline - self._loop.time(), NO_TIME))

    def _on_deadline(self) -> None:
        self._end(time_cap_reached(self._key.id, self._key.caps))

    def _end(self, error: QuotaExceeded) -> None:
        assert self._session is not None
        self._done = True
        self._cancel_timers()
        if self._warned is None:
            self._session.go_away(NO_TIME)
        log.info("session %s: %s", self._session_id, error.reason)
        self._session.abort(error)

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
