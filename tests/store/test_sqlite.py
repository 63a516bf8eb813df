"""What only the SQLite store does: one file, migration, WAL, crash safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openlive.store.base import KEY_PREFIX, KeyCaps, Period, digest, new_handle, usage_window
from openlive.store.sqlite import BUSY_TIMEOUT_MS, SqliteStore


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


OLD_SCHEMA = """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
"""


def test_a_keys_only_file_gains_tokens_and_snapshots(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "db")
    old.executescript(OLD_SCHEMA)
    old.execute(
        "INSERT INTO api_keys (id, name, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
        ("abcd1234", "from 0.1", digest("ol_old-secret"), 1.0),
    )
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "db")
    key = store.verify_key("ol_old-secret")
    assert key is not None and key.name == "from 0.1"
    _, name = store.create_token(key.id, now=0.0, expire_time=10.0, new_session_expire_time=5.0,
                                 uses=1, setup_constraints=None, field_mask=None)
    assert store.consume_token_use(name, 1.0).used == 1
    handle = new_handle()
    store.save_snapshot(handle, "key:" + key.id, b"x", ttl_seconds=10, now=0.0)
    assert store.load_snapshot(handle, "key:" + key.id, 1.0) == b"x"
    store.close()
    SqliteStore(tmp_path / "db").close()  # opening again changes nothing


# What 0.2 wrote: keys, tokens and snapshots, but no caps and no usage.
KEYS_TOKENS_SNAPSHOTS_SCHEMA = OLD_SCHEMA + """
CREATE TABLE tokens (id TEXT PRIMARY KEY, name_sha256 TEXT NOT NULL UNIQUE,
    key_id TEXT NOT NULL, created_at REAL NOT NULL, expire_time REAL NOT NULL,
    new_session_expire_time REAL NOT NULL, uses INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, setup_constraints TEXT, field_mask TEXT,
    revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE snapshots (handle_sha256 TEXT PRIMARY KEY, owner TEXT NOT NULL,
    saved_at REAL NOT NULL, expires_at REAL NOT NULL, data BLOB NOT NULL);
"""


@pytest.mark.parametrize("schema", [OLD_SCHEMA, KEYS_TOKENS_SNAPSHOTS_SCHEMA])
def test_an_older_file_gains_caps_and_usage(tmp_path: Path, schema: str) -> None:
    old = sqlite3.connect(tmp_path / "db")
    old.executescript(schema)
    old.execute(
        "INSERT INTO api_keys (id, name, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
        ("abcd1234", "from 0.2", digest("ol_old-secret"), 1.0),
    )
    old.commit()
    old.close()
    store = SqliteStore(tmp_path / "db")
    key = store.verify_key("ol_old-secret")
    assert key is not None and key.caps == KeyCaps()
    caps = KeyCaps(max_session_seconds=60.0, max_tokens=100, period=Period.DAY)
    changed = store.set_key_caps(key.id, caps)
    assert changed is not None and changed.caps == caps
    window = usage_window(Period.DAY, 0.0)
    assert store.add_usage(key.id, window, tokens=3).tokens == 3
    store.close()
    again = SqliteStore(tmp_path / "db")  # opening again changes nothing
    assert again.verify_key("ol_old-secret") == changed
    assert again.get_usage(key.id, window).tokens == 3
    again.close()


def test_two_processes_opening_an_old_file_at_once(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "db")
    old.executescript(OLD_SCHEMA)
    old.close()
    opener = "import sys; from openlive.store.sqlite import SqliteStore; SqliteStore(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", opener, str(tmp_path / "db")],
                              stderr=subprocess.PIPE) for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    columns = {r[1] for r in sqlite3.connect(tmp_path / "db").execute(
        "PRAGMA table_info(api_keys)")}
    assert {"max_session_seconds", "max_tokens", "cap_period"} <= columns


def test_wal_and_busy_timeout(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    assert store._query("PRAGMA journal_mode") == [("wal",)]
    assert store._query("PRAGMA busy_timeout") == [(BUSY_TIMEOUT_MS,)]


# A writer process that saves ever-new versions of one snapshot until it is killed.
# Version i is SIZES[i % 3] bytes, each the byte i % 256: whole or not is visible.
WRITER = """
import sys
from pathlib import Path
from openlive.store.sqlite import SqliteStore
SIZES = (3_000_000, 5_000_001, 700_007)
store = SqliteStore(Path(sys.argv[1]))
for i in range(1_000_000):
    store.save_snapshot(sys.argv[2], "key:k1", bytes([i % 256]) * SIZES[i % 3],
                        ttl_seconds=3600, now=0.0)
    if i == 1:
        print("writing", flush=True)
"""
SIZES = (3_000_000, 5_000_001, 700_007)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.13, 0.3])
def test_a_crash_mid_write_leaves_a_whole_snapshot(tmp_path: Path, delay: float) -> None:
    handle = new_handle()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "db"), handle],
                              stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"writing\n"
        time.sleep(delay)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    store = SqliteStore(tmp_path / "db")
    data = store.load_snapshot(handle, "key:k1", 1.0)
    assert store._query("PRAGMA integrity_check") == [("ok",)]
    version = data[0]
    assert len(data) in SIZES and data == bytes([version]) * len(data)
    assert len(data) == SIZES[version % 3]  # holds while fewer than 256 versions get written
