"""Resumption snapshots on both backends: ownership, expiry, overwrite, atomicity."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openlive.store.base import (
    ExpiredHandle,
    ForeignHandle,
    HandleRejected,
    Store,
    UnknownHandle,
    new_handle,
)

if TYPE_CHECKING:
    from tests.store.conftest import Backend

T0 = 1_900_000_000.0
TTL = 7200.0
KEY_OWNER, TOKEN_OWNER = "key:k1", "token:0123456789abcdef"


def test_round_trip(store: Store) -> None:
    handle = new_handle()
    store.save_snapshot(handle, KEY_OWNER, b"history\x00\xff", ttl_seconds=TTL, now=T0)
    assert store.load_snapshot(handle, KEY_OWNER, T0 + 1) == b"history\x00\xff"
    assert store.load_snapshot(handle, KEY_OWNER, T0 + 1) == b"history\x00\xff"  # not consumed


def test_handles_are_unguessable() -> None:
    handles = {new_handle() for _ in range(1000)}
    assert len(handles) == 1000
    assert all(len(h) >= 43 for h in handles)  # 256 random bits, URL-safe base64


def test_unknown_handle(store: Store) -> None:
    with pytest.raises(UnknownHandle, match="unknown handle"):
        store.load_snapshot(new_handle(), KEY_OWNER, T0)


def test_expiry_uses_the_given_clock(store: Store) -> None:
    handle = new_handle()
    store.save_snapshot(handle, KEY_OWNER, b"x", ttl_seconds=TTL, now=T0)
    assert store.load_snapshot(handle, KEY_OWNER, T0 + TTL - 0.001) == b"x"
    with pytest.raises(ExpiredHandle, match="expired at 2030-03-17T19:46:40Z"):
        store.load_snapshot(handle, KEY_OWNER, T0 + TTL)


def test_foreign_owner(store: Store) -> None:
    handle = new_handle()
    store.save_snapshot(handle, TOKEN_OWNER, b"mine", ttl_seconds=TTL, now=T0)
    with pytest.raises(ForeignHandle, match="another API key or token"):
        store.load_snapshot(handle, KEY_OWNER, T0)
    with pytest.raises(ForeignHandle):  # nor may another owner overwrite it
        store.save_snapshot(handle, KEY_OWNER, b"theirs", ttl_seconds=TTL, now=T0)
    assert store.load_snapshot(handle, TOKEN_OWNER, T0) == b"mine"


def test_foreign_is_checked_before_expiry(store: Store) -> None:
    handle = new_handle()
    store.save_snapshot(handle, TOKEN_OWNER, b"x", ttl_seconds=1, now=T0)
    with pytest.raises(ForeignHandle):
        store.load_snapshot(handle, KEY_OWNER, T0 + 10)


def test_rejections_carry_a_close_reason(store: Store) -> None:
    with pytest.raises(HandleRejected) as caught:
        store.load_snapshot("nope", KEY_OWNER, T0)
    assert caught.value.close_code == 1008 and caught.value.client_fault


def test_overwrite_keeps_the_latest_and_renews_the_ttl(store: Store) -> None:
    handle = new_handle()
    store.save_snapshot(handle, KEY_OWNER, b"turn 1", ttl_seconds=TTL, now=T0)
    store.save_snapshot(handle, KEY_OWNER, b"turn 1, turn 2", ttl_seconds=TTL, now=T0 + 100)
    assert store.load_snapshot(handle, KEY_OWNER, T0 + TTL + 50) == b"turn 1, turn 2"


def test_delete(store: Store) -> None:
    handle = new_handle()
    store.save_snapshot(handle, KEY_OWNER, b"x", ttl_seconds=TTL, now=T0)
    assert store.delete_snapshot(handle)
    assert not store.delete_snapshot(handle)
    with pytest.raises(UnknownHandle):
        store.load_snapshot(handle, KEY_OWNER, T0)


def test_purge_expired(store: Store, backend: Backend) -> None:
    old, new = new_handle(), new_handle()
    store.save_snapshot(old, KEY_OWNER, b"old", ttl_seconds=10, now=T0)
    store.save_snapshot(new, KEY_OWNER, b"new", ttl_seconds=TTL, now=T0)
    purged = store.purge_expired(T0 + 100)
    assert store.load_snapshot(new, KEY_OWNER, T0 + 100) == b"new"
    if backend.kind == "sqlite":  # Redis expires entries on its own clock instead
        assert purged == 1
        with pytest.raises(UnknownHandle):
            store.load_snapshot(old, KEY_OWNER, T0)


def test_snapshots_persist_across_reopening(backend: Backend) -> None:
    first = backend.open()
    handle = new_handle()
    first.save_snapshot(handle, KEY_OWNER, b"before restart", ttl_seconds=TTL, now=T0)
    first.close()
    assert backend.open().load_snapshot(handle, KEY_OWNER, T0 + 60) == b"before restart"


def test_a_large_snapshot(store: Store) -> None:
    handle = new_handle()
    data = bytes(range(256)) * 40_000  # ~10 MB
    store.save_snapshot(handle, KEY_OWNER, data, ttl_seconds=TTL, now=T0)
    assert store.load_snapshot(handle, KEY_OWNER, T0) == data


def test_readers_never_see_half_a_snapshot(backend: Backend) -> None:
    """A writer alternates two versions of different sizes; readers on other connections
    must always get one of them whole."""
    writer, reader_store = backend.open(), backend.open()
    handle = new_handle()
    versions = [b"a" * 1_000_000, b"b" * 1_500_003]
    writer.save_snapshot(handle, KEY_OWNER, versions[0], ttl_seconds=TTL, now=T0)
    done = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        while not done.is_set():
            data = reader_store.load_snapshot(handle, KEY_OWNER, T0)
            if data not in versions:
                seen.append(data[:20] + b"..." + data[-20:])

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for i in range(40):
            writer.save_snapshot(handle, KEY_OWNER, versions[i % 2], ttl_seconds=TTL, now=T0)
    finally:
        done.set()
        for r in readers:
            r.join(timeout=30)
    assert seen == []


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=70_000), ttl=st.floats(min_value=0.001, max_value=1e7))
def test_random_bytes_round_trip_exactly(store: Store, data: bytes, ttl: float) -> None:
    handle = new_handle()
    store.save_snapshot(handle, KEY_OWNER, data, ttl_seconds=ttl, now=T0)
    assert store.load_snapshot(handle, KEY_OWNER, T0) == data
    with pytest.raises(ExpiredHandle):
        store.load_snapshot(handle, KEY_OWNER, T0 + ttl)
