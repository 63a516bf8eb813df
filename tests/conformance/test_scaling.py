"""The scaling-out example of docs/scaling.md, run as documented: two ``openlive serve``
nodes sharing one Redis store and one TLS certificate, behind HAProxy configured by
``docs/examples/haproxy.cfg``. The unmodified Python SDK talks to the proxy's address
only; the node serving the conversation is killed, and the SDK's resumption handle
continues it on the other node through the same address."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openlive.server.tls import ensure_certificates
from tests.conformance.conftest import CLIENTS, ROOT, Server, running_server
from tests.conformance.test_voice_and_realmodel import sdk_python

pytestmark = [pytest.mark.conformance]

HAPROXY_CFG = ROOT / "docs" / "examples" / "haproxy.cfg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxy_config(port: int, nodes: list[Server]) -> str:
    """docs/examples/haproxy.cfg with this test's addresses: nothing else changes."""
    text = HAPROXY_CFG.read_text()
    text, binds = re.subn(r"(?m)^(\s*bind )\S+$", rf"\g<1>127.0.0.1:{port}", text)
    servers = [f"    server node{i} 127.0.0.1:{node.port}" for i, node in enumerate(nodes, 1)]
    text, found = re.subn(r"(?m)^\s*server node\d+ \S+\n?", "", text)
    assert binds == 1 and found == len(nodes), "the example no longer has one bind, two nodes"
    return text.rstrip("\n") + "\n" + "\n".join(servers) + "\n"


def sessions(node: Server) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/health", timeout=2) as resp:
        return int(json.load(resp)["sessions"])


def wait_until_served(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"haproxy exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"haproxy did not serve /health:\n{log.read_text()}")


def haproxy() -> str:
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(exe).exists():
        if os.environ.get("CI"):
            pytest.fail("haproxy missing: scripts/test.sh installs it")
        pytest.skip("haproxy missing (apt-get install haproxy)")
    return exe


def test_the_haproxy_example_is_valid() -> None:
    exe = haproxy()
    check = subprocess.run([exe, "-c", "-f", str(HAPROXY_CFG)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture
def proxy_and_nodes(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                    redis_url: str) -> Iterator[tuple[str, Path, str, list[Server]]]:
    exe = haproxy()
    # one certificate for every node, made the way `openlive serve` makes its own
    tls = ensure_certificates(tmp_path / "tls")
    args = ("--no-voice", "--store", redis_url,
            "--tls-cert", str(tls.cert), "--tls-key", str(tls.key))
    with running_server(tmp_path_factory, "tests.fakes.llm:create", args, tls.ca_cert) as a, \
            running_server(tmp_path_factory, "tests.fakes.llm:create", args, tls.ca_cert) as b:
        port = _free_port()
        cfg, log = tmp_path / "haproxy.cfg", tmp_path / "haproxy.log"
        cfg.write_text(proxy_config(port, [a, b]))
        with log.open("wb") as out:
            proc = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdout=out,
                                    stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_served(url, proc, log)
            yield url, tls.ca_cert, a.key, [a, b]
        finally:
            proc.terminate()
            proc.wait(10)


def test_a_session_resumes_on_the_other_node_through_the_proxy(
        proxy_and_nodes: tuple[str, Path, str, list[Server]], tmp_path: Path) -> None:
    url, ca, key, nodes = proxy_and_nodes
    ready = tmp_path / "ready"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    # what a user sets: the proxy's address, a key, the CA of the nodes' one certificate
    env.update(GOOGLE_GEMINI_BASE_URL=url, GEMINI_API_KEY=key, SSL_CERT_FILE=str(ca))
    job = {"mode": "failover", "ready": str(ready), "second_url": url}
    outcome: dict[str, Any] = {}

    def client() -> None:
        proc = subprocess.run([str(sdk_python()), str(CLIENTS / "py_live.py"), json.dumps(job)],
                              env=env, capture_output=True, text=True, timeout=90,
                              check=False)
        outcome["rc"], outcome["out"], outcome["err"] = proc.returncode, proc.stdout, proc.stderr

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "the client never got a resumption handle"
    [serving] = [node for node in nodes if sessions(node) == 1]  # the proxy chose it
    assert serving.pid is not None
    os.kill(serving.pid, signal.SIGKILL)  # that node dies mid-conversation
    thread.join(90)
    assert outcome.get("rc") == 0, outcome.get("err", "")[-3000:]
    result = json.loads(outcome["out"].strip().splitlines()[-1])
    assert result["first"] == "[messages=1] My name is Ada.", result
    assert "a_died" in result, result
    # the other node restored the whole conversation from Redis: user, model, question
    assert result["second"] == "[messages=3] What is my name?", result
