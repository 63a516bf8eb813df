"""Two openlive nodes share one Redis store; the node serving a conversation is killed
(SIGKILL) and the unmodified SDK resumes on the other with its handle: nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import CLIENTS, running_server
from tests.conformance.test_voice_and_realmodel import sdk_python

pytestmark = [pytest.mark.conformance]


def test_resume_on_another_node_after_a_crash(tmp_path_factory: pytest.TempPathFactory,
                                              tmp_path: Path, redis_url: str) -> None:
    exe = sdk_python()
    args = ("--no-voice", "--store", redis_url)
    ready = tmp_path / "ready"
    with running_server(tmp_path_factory, "tests.fakes.llm:create", args) as a, \
            running_server(tmp_path_factory, "tests.fakes.llm:create", args) as b:
        assert a.pid is not None
        bundle = tmp_path / "cas.pem"  # each node made its own CA: trust both
        bundle.write_text(a.ca.read_text() + b.ca.read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
        env.update(GOOGLE_GEMINI_BASE_URL=a.base_url("http"), GEMINI_API_KEY=a.key,
                   SSL_CERT_FILE=str(bundle))
        job = {"mode": "failover", "ready": str(ready), "second_url": b.base_url("http")}
        outcome: dict[str, Any] = {}

        def client() -> None:
            proc = subprocess.run([str(exe), str(CLIENTS / "py_live.py"), json.dumps(job)],
                                  env=env, capture_output=True, text=True, timeout=60,
                                  check=False)
            outcome["rc"], outcome["out"], outcome["err"] = (
                proc.returncode, proc.stdout, proc.stderr)

        thread = threading.Thread(target=client)
        thread.start()
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the client never got a resumption handle"
        os.kill(a.pid, signal.SIGKILL)  # node A dies mid-conversation
        thread.join(60)
    assert outcome.get("rc") == 0, outcome.get("err", "")[-3000:]
    result = json.loads(outcome["out"].strip().splitlines()[-1])
    assert result["first"] == "[messages=1] My name is Ada.", result
    assert "a_died" in result, result
    # node B restored the whole conversation: user, model, and the new question
    assert result["second"] == "[messages=3] What is my name?", result
