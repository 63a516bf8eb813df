"""Session management through the unmodified @google/genai (Node) SDK: ephemeral tokens,
session resumption and goAway (``clients/node_session.mjs``).

The Node counterpart of test_tokens.py, test_resumption.py and test_lifetime.py. The fake
model answers ``[messages=N] <last user text>`` and counts whitespace words as tokens, so N
proves how much history a session has, and the prompt token count which system instruction
it used.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.conformance.conftest import Server, running_server
from tests.conformance.test_voice_node import run_client

pytestmark = [pytest.mark.conformance]
SCRIPT = "node_session.mjs"
TIMEOUT = 40.0
# what the server logs for each session it opens
OPENED = re.compile(r"session \w+: opened by key (\S+) on (\S+)")


def run(server: Server, job: dict[str, Any], transport: str = "http") -> dict[str, Any]:
    result = run_client(server, job, transport, script=SCRIPT, timeout=TIMEOUT)
    assert result["error"] is None, f"the client program failed: {result['error']}\n{result}"
    return result


def refused(part: dict[str, Any], *mentions: str) -> None:
    """``part`` was refused at connect time with 1008 and a reason naming ``mentions``."""
    err = part["error"]
    assert err is not None, f"expected a 1008 refusal, the session worked: {part}"
    assert err["code"] == 1008, part
    reason = err["reason"] or ""
    for needle in mentions:
        assert needle.lower() in reason.lower(), f"{reason!r} does not mention {needle!r}"
    assert not part["setup_complete"] and err["phase"] == "connect", part
    assert "Live connection closed before setup completed" in err["message"], part


def answered(part: dict[str, Any], text: str) -> None:
    assert part["error"] is None, f"the session failed: {part['error']}"
    assert part["setup_complete"] and part["text"] == text, part


# -- ephemeral tokens ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens(openlive_server: Server) -> dict[str, Any]:
    """One run of the ``tokens`` job, with the server log lines it caused."""
    log = openlive_server.log
    before = len(log.read_text(errors="replace").splitlines())
    result = run(openlive_server, {"mode": "tokens"})
    result["log"] = log.read_text(errors="replace").splitlines()[before:]
    return result


def test_token_sessions_use_the_constrained_endpoint(openlive_server: Server,
                                                     tokens: dict[str, Any]) -> None:
    assert tokens["name"].startswith("auth_tokens/") and tokens["uses"] == 1, tokens
    if openlive_server.data_dir is None:
        pytest.skip("an external server: its log is not here")
    opened = [m.groups() for m in map(OPENED.search, tokens["log"]) if m]
    by_token = [endpoint for owner, endpoint in opened if owner.startswith("token:")]
    # the SDK switched to v1alpha BidiGenerateContentConstrained (?access_token=) by itself
    assert by_token and set(by_token) == {"v1alpha/BidiGenerateContentConstrained"}, opened


def test_token_stays_out_of_the_server_log(openlive_server: Server,
                                           tokens: dict[str, Any]) -> None:
    """The JS SDK sends the token as ``?access_token=``; the log must not keep it."""
    if openlive_server.data_dir is None:
        pytest.skip("an external server: its log is not here")
    secret = tokens["name"].removeprefix("auth_tokens/")
    leaks = [line for line in tokens["log"] if secret in line]
    assert not leaks, leaks[:3]


def test_locked_fields_win_over_the_client(tokens: dict[str, Any]) -> None:
    """The token locks model, systemInstruction and maxOutputTokens; the client asks for an
    unknown model, a 9-word instruction and 100 tokens."""
    locked = tokens["locked"]
    # the locked instruction is a message ("[messages=2]") and maxOutputTokens 2 cut the reply
    answered(locked, "[messages=2] one")
    usage = locked["usage"]
    # prompt: "Be brief." (2) + "one two three four five" (5); the client's would make it 14
    assert (usage["promptTokenCount"], usage["responseTokenCount"]) == (7, 2), locked


def test_used_up_token_is_refused(tokens: dict[str, Any]) -> None:
    refused(tokens["used_up"], "no uses left")


def test_tampered_token_is_refused(tokens: dict[str, Any]) -> None:
    refused(tokens["tampered"], "unknown auth token")


def test_expired_token_is_refused(tokens: dict[str, Any]) -> None:
    refused(tokens["expired"], "token expired at")


def test_token_past_new_session_expire_time_is_refused(tokens: dict[str, Any]) -> None:
    refused(tokens["closed_to_new"], "not valid for new sessions after")


def test_tokens_need_a_valid_api_key(tokens: dict[str, Any]) -> None:
    err = tokens["bad_key"]
    assert err is not None and err["status"] == 401, tokens
    assert "API key not valid" in err["message"], err


def test_session_ends_at_the_token_expire_time(tokens: dict[str, Any]) -> None:
    part = tokens["open_past_expiry"]
    assert part["setup_complete"], part  # opened in time
    err = part["error"]
    assert err is not None, f"a turn after expireTime was answered: {part}"
    assert err["code"] == 1008 and "expired" in (err["reason"] or ""), part


# -- session resumption ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def resumed(openlive_server: Server) -> dict[str, Any]:
    return run(openlive_server, {"mode": "resume"}, transport="https")


def test_resumed_session_keeps_its_history(resumed: dict[str, Any]) -> None:
    first = resumed["first"]
    answered(first, "[messages=1] My name is Ada.")
    handles = first["handles"]
    assert len(handles) == len(set(handles)) >= 2, first  # after setup, after the turn
    assert all(len(h) >= 32 for h in handles), handles
    # the fake model counts the restored history: user, model, and the new question
    answered(resumed["second"], "[messages=3] What is my name?")
    assert not set(resumed["second"]["handles"]) & set(handles), resumed


def test_foreign_handle_is_refused(resumed: dict[str, Any]) -> None:
    """The key's handle, presented by a token the same key made."""
    refused(resumed["foreign"], "handle", "another API key or token")


def test_unknown_handle_is_refused(openlive_server: Server) -> None:
    result = run(openlive_server, {"mode": "resume", "handle": "x" * 43})
    answered(result["first"], "[messages=1] My name is Ada.")
    refused(result["second"], "handle", "unknown")


def test_resuming_with_a_token_does_not_use_it_up(openlive_server: Server) -> None:
    """A 2-use token: a session, its resumption, then a second new session."""
    result = run(openlive_server, {"mode": "token_resume"})
    answered(result["first"], "[messages=1] My name is Ada.")
    answered(result["second"], "[messages=3] What is my name?")
    answered(result["fresh"], "[messages=1] hello")


# -- goAway ----------------------------------------------------------------------------------


def test_go_away_then_resume_with_the_handle(tmp_path_factory: pytest.TempPathFactory) -> None:
    args = ("--no-voice", "--connection-lifetime", "4", "--go-away-before", "2")
    with running_server(tmp_path_factory, "tests.fakes.llm:create", args) as server:
        started = time.monotonic()
        result = run(server, {"mode": "go_away"})
        elapsed = time.monotonic() - started
    answered(result["first"], "[messages=1] My name is Ada.")
    go_away = result["go_away"]
    assert go_away is not None, result
    time_left = go_away["timeLeft"]  # a google.protobuf.Duration: "1.999s"
    assert re.fullmatch(r"\d+(\.\d+)?s", time_left), go_away
    assert 0 < float(time_left[:-1]) <= 2.0, go_away
    assert 1.5 < go_away["after_s"] < 3.5, go_away  # lifetime 4 s, goAway 2 s before
    closed = result["closed"]
    assert closed["code"] == 1000 and "reconnect" in closed["reason"], closed
    assert go_away["after_s"] < closed["after_s"] < 7, result
    answered(result["second"], "[messages=3] What is my name?")
    assert elapsed < 15, elapsed


# -- context window compression --------------------------------------------------------------


def test_context_window_compression_drops_old_turns(openlive_server: Server) -> None:
    """The same conversation with and without a small sliding window (the fake model
    reports how many messages it was given)."""
    turns = [f"turn number {i} with a few more words" for i in range(6)]
    plain = run(openlive_server, {"mode": "chat", "turns": turns})["replies"]
    window = {"contextWindowCompression": {"triggerTokens": "40",
                                           "slidingWindow": {"targetTokens": "20"}}}
    compressed = run(openlive_server, {"mode": "chat", "turns": turns,
                                       "config": window})["replies"]
    assert plain[-1] == f"[messages=11] {turns[-1]}", plain  # 5 exchanges + the question
    count = int(compressed[-1].split("]")[0].split("=")[1])
    assert count < 11 and compressed[-1].endswith(turns[-1]), compressed
