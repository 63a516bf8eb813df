"""Key caps and usage counters on both backends: caps are stored with the key, counters
add up atomically across store objects (processes, nodes) and keep windows apart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from openlive.store.base import (
    KeyCaps,
    KeyUsage,
    Period,
    Store,
    UsageWindow,
    usage_window,
)

if TYPE_CHECKING:
    from tests.store.conftest import Backend

# In the future: Redis drops a counter once its window has ended (plus a grace).
DAY = UsageWindow("2999-06-01", datetime(2999, 6, 2, tzinfo=UTC).timestamp())
NEXT_DAY = UsageWindow("2999-06-02", datetime(2999, 6, 3, tzinfo=UTC).timestamp())
TOTAL = UsageWindow("total", None)


def test_a_key_has_no_caps_unless_given(store: Store) -> None:
    key, secret = store.create_key("plain")
    assert key.caps == KeyCaps()
    assert store.get_key(key.id) == key == store.verify_key(secret)


def test_caps_are_stored_with_the_key(store: Store) -> None:
    caps = KeyCaps(max_session_seconds=3600.0, max_tokens=5000, period=Period.DAY)
    key, secret = store.create_key("capped", caps)
    assert key.caps == caps
    assert store.verify_key(secret) == key
    assert store.get_key(key.id) == key
    assert store.list_keys() == [key]


def test_caps_can_change_and_be_removed(store: Store) -> None:
    key, secret = store.create_key("k", KeyCaps(max_tokens=10))
    tighter = KeyCaps(max_session_seconds=60.0, period=Period.MONTH)
    changed = store.set_key_caps(key.id, tighter)
    assert changed is not None and changed.caps == tighter and changed.id == key.id
    assert store.verify_key(secret) == changed
    cleared = store.set_key_caps(key.id, KeyCaps())
    assert cleared is not None and cleared.caps == KeyCaps()
    assert store.get_key(key.id) == cleared


def test_unknown_keys(store: Store) -> None:
    assert store.get_key("nope") is None
    assert store.set_key_caps("nope", KeyCaps(max_tokens=1)) is None
    assert store.list_keys() == []  # setting caps on no key made none


def test_revoked_keys_keep_their_caps(store: Store) -> None:
    key, _ = store.create_key("k", KeyCaps(max_tokens=7))
    assert store.revoke_key(key.id)
    got = store.get_key(key.id)
    assert got is not None and got.revoked and got.caps.max_tokens == 7


def test_caps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        KeyCaps(max_tokens=0)
    with pytest.raises(ValueError, match="max_session_seconds"):
        KeyCaps(max_session_seconds=-1.0)


def test_usage_adds_up_and_returns_the_totals(store: Store) -> None:
    assert store.get_usage("k1", DAY) == KeyUsage("2999-06-01", 0.0, 0)
    assert store.add_usage("k1", DAY, session_seconds=1.5) == KeyUsage("2999-06-01", 1.5, 0)
    assert store.add_usage("k1", DAY, tokens=40) == KeyUsage("2999-06-01", 1.5, 40)
    assert store.add_usage("k1", DAY, session_seconds=2.25, tokens=2) == KeyUsage(
        "2999-06-01", 3.75, 42)
    assert store.add_usage("k1", DAY) == KeyUsage("2999-06-01", 3.75, 42)  # a read
    assert store.get_usage("k1", DAY) == KeyUsage("2999-06-01", 3.75, 42)


def test_windows_and_keys_are_counted_apart(store: Store) -> None:
    store.add_usage("k1", DAY, tokens=5)
    store.add_usage("k1", NEXT_DAY, tokens=7)
    store.add_usage("k1", TOTAL, tokens=11)
    store.add_usage("k2", DAY, tokens=13)
    assert [store.get_usage("k1", w).tokens for w in (DAY, NEXT_DAY, TOTAL)] == [5, 7, 11]
    assert store.get_usage("k2", DAY).tokens == 13


def test_concurrent_adds_from_several_store_objects_all_count(backend: Backend) -> None:
    stores = [backend.open() for _ in range(4)]
    per_thread, threads = 40, 8
    barrier = threading.Barrier(threads)

    def add(store: Store) -> None:
        barrier.wait()
        for _ in range(per_thread):
            store.add_usage("k1", DAY, session_seconds=0.5, tokens=3)

    workers = [threading.Thread(target=add, args=(stores[i % 4],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    total = stores[0].get_usage("k1", DAY)
    assert total == KeyUsage("2999-06-01", 0.5 * per_thread * threads, 3 * per_thread * threads)


def test_usage_windows_follow_the_utc_calendar() -> None:
    t = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert usage_window(Period.DAY, t) == UsageWindow(
        "2025-12-31", datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert usage_window(Period.MONTH, t) == UsageWindow(
        "2025-12", datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert usage_window(Period.TOTAL, t) == UsageWindow("total", None)
    feb = datetime(2024, 2, 29, 0, 0, 0, tzinfo=UTC).timestamp()
    assert usage_window(Period.DAY, feb).label == "2024-02-29"
    assert usage_window(Period.MONTH, feb) == UsageWindow(
        "2024-02", datetime(2024, 3, 1, tzinfo=UTC).timestamp())


def test_purge_drops_ended_windows_only(store: Store, backend: Backend) -> None:
    store.add_usage("k1", DAY, tokens=1)
    store.add_usage("k1", NEXT_DAY, tokens=2)
    store.add_usage("k1", TOTAL, tokens=3)
    assert DAY.ends_at is not None
    purged = store.purge_expired(DAY.ends_at + 1)
    if backend.kind == "sqlite":  # Redis expires counters itself (see test_redis)
        assert purged == 1
        assert store.get_usage("k1", DAY).tokens == 0
    assert store.get_usage("k1", NEXT_DAY).tokens == 2
    assert store.get_usage("k1", TOTAL).tokens == 3
