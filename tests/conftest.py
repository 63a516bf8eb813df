"""Fixtures shared by several test folders.

``redis_url``: a real ``redis-server`` started once per test session on a free loopback
port, with no persistence, in a temporary directory. Without ``redis-server`` (or the
``redis`` package) the tests that need it skip locally and fail in CI (``CI`` set).

``record_replays`` (autouse): with ``OPENLIVE_RECORD_REPLAYS=<folder>`` set, every
Session a test drives is recorded there (``tests/session/recorder.py``); otherwise a
no-op.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

REDIS_START_TIMEOUT_S = 20.0


@pytest.fixture(autouse=True)
def record_replays(request: pytest.FixtureRequest) -> Iterator[None]:
    """Record the test's sessions when ``OPENLIVE_RECORD_REPLAYS`` names a folder."""
    if not os.environ.get("OPENLIVE_RECORD_REPLAYS"):
        yield
        return
    from tests.session.recorder import record_replays as record

    yield from record(request)


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


