"""Store fixtures: every behaviour test runs on SQLite and on a real ``redis-server``.

The Redis server is started once per test session on a free loopback port, with no
persistence, in a temporary directory. Without ``redis-server`` (or the ``redis``
package) the Redis half of the tests is skipped locally and fails in CI (``CI`` set).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from openlive.store.base import Store

REDIS_START_TIMEOUT_S = 20.0


def _missing(what: str) -> NoReturn:
    message = f"{what} (install: apt-get install -y redis-server; pip install redis==8.1.0)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_ping(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server did not answer PING:\n{log.read_text()}")
            time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>/0`` of a redis-server that lives as long as the session."""
    exe = shutil.which("redis-server")
    if exe is None:
        _missing("redis-server is not installed")
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing("the redis Python package is not installed")
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    log = workdir / "redis.log"
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Backend:
    """Opens stores on one backing (a SQLite file, or a Redis prefix) and closes them."""

    def __init__(self, kind: str, open_store: Callable[[], Store]) -> None:
        self.kind = kind
        self._open = open_store
        self._opened: list[Store] = []

    def open(self) -> Store:
        """A new store object (a new connection or client) on the same data."""
        store = self._open()
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        from openlive.store.sqlite import SqliteStore

        backend = Backend("sqlite", lambda: SqliteStore(tmp_path / "openlive.db"))
    else:
        from openlive.store.redis import RedisStore

        url = request.getfixturevalue("redis_url")
        prefix = f"test-{uuid.uuid4().hex[:12]}:"  # each test sees an empty store
        backend = Backend("redis", lambda: RedisStore(url, prefix=prefix))
    yield backend
    backend.close_all()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()
