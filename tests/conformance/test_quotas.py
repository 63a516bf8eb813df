"""Per-key caps through the unmodified Python SDK against a running server: caps set with
``openlive keys`` while it runs, a session ended with goAway and 1008 when it crosses
one, and new connections (with the key, or a token it creates) refused at connect."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance.conftest import (
    CLIENTS,
    ROOT,
    Server,
    _openlive_cmd,
    _server_env,
    running_server,
)
from tests.conformance.test_voice_and_realmodel import sdk_python

pytestmark = [pytest.mark.conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory, "tests.fakes.llm:create", ("--no-voice",)) as server:
        yield server


def keys(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``openlive keys ARGS`` on the running server's store (SQLite in its data dir)."""
    assert server.data_dir is not None
    done = subprocess.run([*_openlive_cmd(), "keys", *args, "--data-dir", str(server.data_dir)],
                          cwd=ROOT, env=_server_env(), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done


def key_line(server: Server, key_id: str) -> list[str]:
    lines = keys(server, "list").stdout.splitlines()
    [line] = [ln for ln in lines if ln.startswith(key_id + "\t")]
    return line.split("\t")


def run_quota_client(server: Server, key: str, turns: list[str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(GOOGLE_GEMINI_BASE_URL=server.base_url("http"), GEMINI_API_KEY=key,
               SSL_CERT_FILE=str(server.ca))
    proc = subprocess.run([str(sdk_python()), str(CLIENTS / "py_quota.py"),
                           json.dumps({"turns": turns})],
                          env=env, capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, f"client failed:\n{proc.stderr[-3000:]}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def assert_refused(outcome: dict[str, Any], reason: str) -> None:
    assert not outcome["set_up"] and outcome["replies"] == [], outcome
    assert outcome["end"]["code"] == 1008 and reason in outcome["end"]["message"], outcome


def test_a_token_cap_lets_the_turn_finish_then_ends_and_refuses(server: Server) -> None:
    sdk_python()
    [key_id] = [ln.split("\t")[0] for ln in keys(server, "list").stdout.splitlines()]
    keys(server, "limit", key_id, "--max-tokens", "12", "--period", "day")
    # the fake model counts words: 2 + 3 tokens, then 7 + 3 (history included) = 15 >= 12
    result = run_quota_client(server, server.key, ["hello there", "second turn"])
    first = result["first"]
    assert first["set_up"], result
    assert first["replies"] == [{"text": "[messages=1] hello there", "total": 5},
                                {"text": "[messages=3] second turn", "total": 10}], result
    assert first["go_away"] == 0.0, result  # goAway "0s" after the turn that crossed it
    reason = f"API key {key_id} has used its 12 tokens for today"
    assert first["end"]["code"] == 1008 and reason in first["end"]["message"], result
    assert_refused(result["again"], reason)
    assert_refused(result["via_token"], reason)  # its tokens spend the key's allowance
    assert key_line(server, key_id)[4] == "tokens 15 of 12"


def test_a_session_time_cap_sends_go_away_then_closes(server: Server) -> None:
    sdk_python()
    created = keys(server, "create", "--name", "timed", "--max-session-minutes", "0.05")
    secret = created.stdout.strip()
    key_id = created.stderr.split("created key ")[1].split()[0]
    result = run_quota_client(server, secret, [])  # 3 seconds, idle
    first = result["first"]
    assert first["set_up"], result
    # less than --go-away-before (60 s) is left: goAway at once, with all of it
    assert first["go_away"] is not None and 2.0 < first["go_away"] <= 3.0, result
    assert first["go_away_after"] < 1.5, result
    reason = f"API key {key_id} has used its 3 seconds of session time"
    assert first["end"]["code"] == 1008 and reason in first["end"]["message"], result
    assert 2.5 < first["end"]["after"] < 6, result
    assert_refused(result["again"], reason)
    assert_refused(result["via_token"], reason)
    minutes = key_line(server, key_id)[3]
    assert minutes.startswith("session 0.") and minutes.endswith(" of 0.05 min"), minutes


def test_a_token_cap_ends_and_refuses_a_node_sdk_session(server: Server) -> None:
    """The same cap through @google/genai: the turn that crosses it finishes, then 1008."""
    from dataclasses import replace

    from tests.conformance.test_voice_node import run_client as run_node

    created = keys(server, "create", "--name", "node-app", "--max-tokens", "12")
    node_key = created.stdout.strip().splitlines()[-1].strip()
    [key_id] = [ln.split("\t")[0] for ln in keys(server, "list").stdout.splitlines()
                if "\tnode-app\t" in ln]
    as_node_app = replace(server, key=node_key)
    job = {"mode": "chat", "turns": ["hello there", "second turn", "third turn"]}
    first = run_node(as_node_app, job, script="node_session.mjs", timeout=60)
    assert first["replies"] == ["[messages=1] hello there", "[messages=3] second turn"], first
    reason = f"API key {key_id} has used its 12 tokens"
    ended = first["session"]["error"]
    assert ended["code"] == 1008 and reason in ended["reason"], first
    again = run_node(as_node_app, job, script="node_session.mjs", timeout=60)
    refused = again["session"]["error"]
    assert refused["code"] == 1008 and refused["phase"] == "connect", again
    assert reason in refused["reason"], again
