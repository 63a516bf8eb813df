"""The SQLite key store: secrets are hashed, revocation sticks, two handles agree."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openlive.store.base import KEY_PREFIX, digest
from openlive.store.sqlite import SqliteStore


def test_create_verify_revoke(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    key, secret = store.create_key("ci")
    assert secret.startswith(KEY_PREFIX) and len(secret) > 40
    assert store.verify_key(secret) == key
    assert store.verify_key(secret + "x") is None
    assert store.revoke_key(key.id)
    assert store.verify_key(secret) is None
    assert not store.revoke_key("nope")
    assert [k.revoked for k in store.list_keys()] == [True]


def test_secret_is_never_stored(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    _, secret = store.create_key("x")
    store.close()
    raw = (tmp_path / "db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("db-*"))
    assert secret.encode() not in raw
    rows = sqlite3.connect(tmp_path / "db").execute("SELECT secret_sha256 FROM api_keys")
    assert [r[0] for r in rows] == [digest(secret)]


def test_cli_and_server_share_the_file(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "db"), SqliteStore(tmp_path / "db")
    _, secret = a.create_key("shared")
    assert b.verify_key(secret) is not None
