"""The embedded store: one SQLite file in the data directory.

Each call opens its own short transaction; SQLite's WAL mode lets the CLI (``openlive
keys``) and a running server use the same file at once. Calls that read and then write
(consuming a token use, overwriting a snapshot) run in ``BEGIN IMMEDIATE`` transactions,
which take the file's write lock up front: two such calls, from this object or from
another process, run one after the other (a waiting one retries for ``busy_timeout``).

A file made by an older openlive gains what it lacks when opened: the token, snapshot
and usage tables, and the cap columns of ``api_keys`` (keys it holds have no caps).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from openlive.errors import StoreError
from openlive.store.base import (
    TOKEN_PREFIX,
    ApiKey,
    ForeignHandle,
    KeyCaps,
    KeyUsage,
    Period,
    Token,
    UnknownHandle,
    UnknownToken,
    UsageWindow,
    digest,
    handle_problem,
    new_secret,
    new_token,
    token_problem,
)

BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name_sha256 TEXT NOT NULL UNIQUE,
    key_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    expire_time REAL NOT NULL,
    new_session_expire_time REAL NOT NULL,
    uses INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    setup_constraints TEXT,
    field_mask TEXT,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tokens_by_key ON tokens (key_id);
CREATE TABLE IF NOT EXISTS snapshots (
    handle_sha256 TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    saved_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_by_expiry ON snapshots (expires_at);
CREATE TABLE IF NOT EXISTS key_usage (
    key_id TEXT NOT NULL,
    window_label TEXT NOT NULL,
    ends_at REAL,
    session_seconds REAL NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, window_label)
);
"""

# Added to api_keys after 0.1, by ALTER TABLE on old and new files alike (one path).
_CAP_COLUMNS = {
    "max_session_seconds": "REAL",
    "max_tokens": "INTEGER",
    "cap_period": "TEXT NOT NULL DEFAULT 'total'",
}
_KEY_COLUMNS = "id, name, created_at, revoked, max_session_seconds, max_tokens, cap_period"

_TOKEN_COLUMNS = (
    "id, key_id, created_at, expire_time, new_session_expire_time, uses, used, "
    "setup_constraints, field_mask, revoked"
)


class SqliteStore:
    """:class:`~openlive.store.base.Store` on SQLite; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.executescript(_SCHEMA)
            self._add_cap_columns()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc

    def _add_cap_columns(self) -> None:
        # Under the write lock, so that two processes opening an old file at once do
        # not both add a column (the second would fail on a duplicate).
        with self._transaction() as db:
            have = {row[1] for row in db.execute("PRAGMA table_info(api_keys)")}
            for column, decl in _CAP_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {decl}")

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store error: {exc}") from exc

    def _change(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """Run one writing statement; return how many rows it changed."""
        try:
            with self._lock:
                return self._db.execute(sql, args).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"store error: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back if the body raises."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"store error: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store error: {exc}") from exc
                raise

    # API keys

    def create_key(self, name: str, caps: KeyCaps | None = None) -> tuple[ApiKey, str]:
        secret = new_secret()
        key = ApiKey(id=secrets.token_hex(4), name=name, created_at=time.time(),
                     caps=caps or KeyCaps())
        self._change(
            f"INSERT INTO api_keys (secret_sha256, {_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (digest(secret), key.id, key.name, key.created_at, 0, *_caps_row(key.caps)),
        )
        return key, secret

    def verify_key(self, secret: str) -> ApiKey | None:
        rows = self._query(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE secret_sha256 = ? AND revoked = 0",
            (digest(secret),),
        )
        return _key(rows[0]) if rows else None

    def get_key(self, key_id: str) -> ApiKey | None:
        rows = self._query(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return _key(rows[0]) if rows else None

    def list_keys(self) -> list[ApiKey]:
        rows = self._query(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        return [_key(r) for r in rows]

    def set_key_caps(self, key_id: str, caps: KeyCaps) -> ApiKey | None:
        with self._transaction() as db:
            db.execute(
                "UPDATE api_keys SET max_session_seconds = ?, max_tokens = ?, cap_period = ? "
                "WHERE id = ?", (*_caps_row(caps), key_id))
            rows = db.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchall()
        return _key(rows[0]) if rows else None

    def revoke_key(self, key_id: str) -> bool:
        """Revoke by id, and every token the key created; False if there is no such key."""
        with self._transaction() as db:
            cur = db.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", (key_id,))
            db.execute("UPDATE tokens SET revoked = 1 WHERE key_id = ?", (key_id,))
            return cur.rowcount > 0

    # Ephemeral tokens

    def create_token(
        self,
        key_id: str,
        *,
        now: float,
        expire_time: float,
        new_session_expire_time: float,
        uses: int,
        setup_constraints: dict[str, Any] | None,
        field_mask: list[str] | None,
    ) -> tuple[Token, str]:
        token, name = new_token(key_id, now=now, expire_time=expire_time,
                                new_session_expire_time=new_session_expire_time, uses=uses,
                                setup_constraints=setup_constraints, field_mask=field_mask)
        self._change(
            f"INSERT INTO tokens (name_sha256, {_TOKEN_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (digest(name), *_token_row(token)),
        )
        return _token(_token_row(token)), name  # a copy the caller cannot alias

    def get_token(self, name: str) -> Token | None:
        rows = self._query(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE name_sha256 = ?", (digest(name),)
        )
        return _token(rows[0]) if rows else None

    def check_token(self, name: str, now: float) -> Token:
        token = self.get_token(name)
        if token is None:
            raise UnknownToken()
        if problem := token_problem(token, now, new_session=False):
            raise problem
        return token

    def consume_token_use(self, name: str, now: float) -> Token:
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE name_sha256 = ?", (digest(name),)
            ).fetchall()
            if not rows:
                raise UnknownToken()
            token = _token(rows[0])
            if problem := token_problem(token, now, new_session=True):
                raise problem
            db.execute("UPDATE tokens SET used = used + 1 WHERE id = ?", (token.id,))
        return replace(token, used=token.used + 1)

    def list_tokens(self, key_id: str | None = None) -> list[Token]:
        if key_id is None:
            rows = self._query(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at")
        else:
            rows = self._query(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE key_id = ? ORDER BY created_at",
                (key_id,),
            )
        return [_token(r) for r in rows]

    def revoke_token(self, token: str) -> bool:
        if token.startswith(TOKEN_PREFIX):
            sql, arg = "UPDATE tokens SET revoked = 1 WHERE name_sha256 = ?", digest(token)
        else:
            sql, arg = "UPDATE tokens SET revoked = 1 WHERE id = ?", token
        return self._change(sql, (arg,)) > 0

    # Resumption snapshots

    def save_snapshot(
        self, handle: str, owner: str, data: bytes, *, ttl_seconds: float, now: float
    ) -> None:
        key = digest(handle)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT owner FROM snapshots WHERE handle_sha256 = ?", (key,)
            ).fetchall()
            if rows and rows[0][0] != owner:
                raise ForeignHandle()
            db.execute(
                "INSERT OR REPLACE INTO snapshots (handle_sha256, owner, saved_at, expires_at, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, owner, now, now + ttl_seconds, sqlite3.Binary(data)),
            )

    def load_snapshot(self, handle: str, owner: str, now: float) -> bytes:
        rows = self._query(
            "SELECT owner, expires_at, data FROM snapshots WHERE handle_sha256 = ?",
            (digest(handle),),
        )
        if not rows:
            raise UnknownHandle()
        stored_owner, expires_at, data = rows[0]
        if (problem := handle_problem(stored_owner, float(expires_at), owner, now)) is not None:
            raise problem
        return bytes(data)

    def delete_snapshot(self, handle: str) -> bool:
        return self._change(
            "DELETE FROM snapshots WHERE handle_sha256 = ?", (digest(handle),)
        ) > 0

    # Usage counters

    def add_usage(
        self, key_id: str, window: UsageWindow, *, session_seconds: float = 0.0,
        tokens: int = 0,
    ) -> KeyUsage:
        # One statement: SQLite runs it under the write lock, so concurrent adds from any
        # process all count, and RETURNING gives the totals this add produced.
        rows = self._query(
            "INSERT INTO key_usage (key_id, window_label, ends_at, session_seconds, tokens) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id, window_label) DO UPDATE SET "
            "session_seconds = session_seconds + excluded.session_seconds, "
            "tokens = tokens + excluded.tokens "
            "RETURNING session_seconds, tokens",
            (key_id, window.label, window.ends_at, float(session_seconds), int(tokens)),
        )
        seconds, total = rows[0]
        return KeyUsage(window.label, float(seconds), int(total))

    def get_usage(self, key_id: str, window: UsageWindow) -> KeyUsage:
        rows = self._query(
            "SELECT session_seconds, tokens FROM key_usage WHERE key_id = ? AND window_label = ?",
            (key_id, window.label),
        )
        if not rows:
            return KeyUsage(window.label)
        return KeyUsage(window.label, float(rows[0][0]), int(rows[0][1]))

    def purge_expired(self, now: float) -> int:
        with self._transaction() as db:
            tokens = db.execute("DELETE FROM tokens WHERE expire_time < ?", (now,)).rowcount
            snaps = db.execute("DELETE FROM snapshots WHERE expires_at < ?", (now,)).rowcount
            usage = db.execute("DELETE FROM key_usage WHERE ends_at < ?", (now,)).rowcount
        return int(tokens + snaps + usage)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(row: Sequence[Any]) -> ApiKey:
    key_id, name, created_at, revoked, max_seconds, max_tokens, period = row
    caps = KeyCaps(
        max_session_seconds=None if max_seconds is None else float(max_seconds),
        max_tokens=None if max_tokens is None else int(max_tokens),
        period=Period(period),
    )
    return ApiKey(id=str(key_id), name=str(name), created_at=float(created_at),
                  revoked=bool(revoked), caps=caps)


def _caps_row(caps: KeyCaps) -> tuple[object, ...]:
    """``caps`` as the values of max_session_seconds, max_tokens, cap_period."""
    return caps.max_session_seconds, caps.max_tokens, caps.period.value


def _token_row(token: Token) -> tuple[object, ...]:
    """``token`` as the values of ``_TOKEN_COLUMNS``."""
    return (
        token.id, token.key_id, token.created_at, token.expire_time,
        token.new_session_expire_time, token.uses, token.used,
        None if token.setup_constraints is None else json.dumps(token.setup_constraints),
        None if token.field_mask is None else json.dumps(list(token.field_mask)),
        int(token.revoked),
    )


def _token(row: Sequence[Any]) -> Token:
    (token_id, key_id, created_at, expire_time, new_session_expire_time, uses, used,
     constraints, mask, revoked) = row
    return Token(
        id=str(token_id), key_id=str(key_id), created_at=float(created_at),
        expire_time=float(expire_time), new_session_expire_time=float(new_session_expire_time),
        uses=int(uses), used=int(used),
        setup_constraints=None if constraints is None else json.loads(constraints),
        field_mask=None if mask is None else tuple(json.loads(mask)),
        revoked=bool(revoked),
    )
