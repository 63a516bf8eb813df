"""The embedded store: one SQLite file in the data directory.

Each call opens its own short transaction; SQLite's WAL mode lets the CLI (``openlive
keys``) and a running server use the same file at once.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from pathlib import Path

from openlive.errors import StoreError
from openlive.store.base import ApiKey, digest, new_secret

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
"""


class SqliteStore:
    """:class:`~openlive.store.base.KeyStore` on SQLite; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store error: {exc}") from exc

    def create_key(self, name: str) -> tuple[ApiKey, str]:
        secret = new_secret()
        key = ApiKey(id=secrets.token_hex(4), name=name, created_at=time.time())
        self._query(
            "INSERT INTO api_keys (id, name, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
            (key.id, key.name, digest(secret), key.created_at),
        )
        return key, secret

    def verify_key(self, secret: str) -> ApiKey | None:
        rows = self._query(
            "SELECT id, name, created_at, revoked FROM api_keys "
            "WHERE secret_sha256 = ? AND revoked = 0",
            (digest(secret),),
        )
        return _key(rows[0]) if rows else None

    def list_keys(self) -> list[ApiKey]:
        rows = self._query("SELECT id, name, created_at, revoked FROM api_keys ORDER BY created_at")
        return [_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self._lock:
            try:
                cur = self._db.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", (key_id,))
            except sqlite3.Error as exc:
                raise StoreError(f"store error: {exc}") from exc
            return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(row: tuple[object, ...]) -> ApiKey:
    key_id, name, created_at, revoked = row
    return ApiKey(
        id=str(key_id),
        name=str(name),
        created_at=float(created_at),  # type: ignore[arg-type]
        revoked=bool(revoked),
    )
