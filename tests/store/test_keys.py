"""API keys on both backends: the same behaviour the SQLite-only tests pin down."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openlive.store.base import KEY_PREFIX, Store

if TYPE_CHECKING:
    from tests.store.conftest import Backend


def test_create_verify_revoke(store: Store) -> None:
    key, secret = store.create_key("ci")
    assert secret.startswith(KEY_PREFIX) and len(secret) > 40
    assert store.verify_key(secret) == key
    assert store.verify_key(secret + "x") is None
    assert store.revoke_key(key.id)
    assert store.verify_key(secret) is None
    assert not store.revoke_key("nope")
    assert [k.revoked for k in store.list_keys()] == [True]


def test_list_in_creation_order(store: Store) -> None:
    made = [store.create_key(f"key {i}")[0] for i in range(3)]
    assert store.list_keys() == made


def test_two_handles_agree(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    key, secret = a.create_key("shared")
    assert b.verify_key(secret) == key
    assert b.revoke_key(key.id)
    assert a.verify_key(secret) is None
