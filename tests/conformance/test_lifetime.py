"""goAway through the unmodified Python SDK: before the connection lifetime ends, and when
the server shuts down gracefully (SIGTERM)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import running_server
from tests.conformance.test_voice_and_realmodel import run_client, sdk_python

pytestmark = [pytest.mark.conformance]
FAST = ("--no-voice",)


def test_go_away_then_close_at_the_connection_lifetime(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    sdk_python()
    args = (*FAST, "--connection-lifetime", "4", "--go-away-before", "2")
    with running_server(tmp_path_factory, "tests.fakes.llm:create", args) as server:
        started = time.monotonic()
        result = run_client(server, {"mode": "go_away"}, timeout=30)
        elapsed = time.monotonic() - started
    assert result["go_away"] is not None and 0 < result["go_away"] <= 2.0, result
    assert result["close_code"] == 1000 and "reconnect" in result["error"], result
    assert 3.5 < elapsed < 15, elapsed


def test_graceful_shutdown_sends_go_away(tmp_path_factory: pytest.TempPathFactory,
                                         tmp_path: Path) -> None:
    sdk_python()
    ready = tmp_path / "ready"
    args = (*FAST, "--shutdown-grace", "2")
    with running_server(tmp_path_factory, "tests.fakes.llm:create", args) as server:
        assert server.pid is not None
        outcome: dict[str, Any] = {}
        client = threading.Thread(target=lambda: outcome.update(run_client(
            server, {"mode": "go_away", "ready": str(ready)}, timeout=30)))
        client.start()
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGTERM)
        client.join(30)
    assert outcome.get("go_away") == pytest.approx(2.0, abs=0.5), outcome
    assert outcome.get("close_code") in (1000, 1001, 1012), outcome
