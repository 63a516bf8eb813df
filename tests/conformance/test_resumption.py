"""Session resumption through the unmodified Python SDK."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import PY_SDK_VERSIONS, Server
from tests.conformance.test_voice_and_realmodel import run_client

pytestmark = [pytest.mark.conformance]


def test_resumed_session_keeps_its_history(openlive_server: Server) -> None:
    result = run_client(openlive_server, {"mode": "resume"}, timeout=60)
    assert result["first"] == "[messages=1] My name is Ada.", result
    assert len(result["handles"]) >= 1 and "error" not in result, result
    # the fake model counts the restored history: user, model, and the new question
    assert result["second"] == "[messages=3] What is my name?", result
    # every update carries a new unguessable handle
    assert len(set(result["handles"])) == len(result["handles"])
    assert all(len(h) >= 32 for h in result["handles"])


def test_unknown_handle_is_refused_with_1008(openlive_server: Server) -> None:
    result = run_client(openlive_server, {"mode": "resume", "handle": "x" * 43}, timeout=60)
    assert result["error"]["code"] == 1008, result
    assert "handle" in result["error"]["message"].lower(), result


def test_context_window_compression_drops_old_turns(openlive_server: Server) -> None:
    turns = [f"turn number {i} with a few more words" for i in range(6)]
    plain = run_client(openlive_server, {"mode": "chat", "turns": turns})["replies"]
    compressed = run_client(openlive_server, {"mode": "chat", "turns": turns, "config": {
        "context_window_compression": {"trigger_tokens": 40,
                                       "sliding_window": {"target_tokens": 20}}}})["replies"]
    assert plain[-1].startswith("[messages=11]"), plain  # 5 exchanges + the question
    count = int(compressed[-1].split("]")[0].split("=")[1])
    assert count < 11 and compressed[-1].endswith(turns[-1]), compressed


def test_resumption_after_a_server_side_error(openlive_server: Server) -> None:
    result = run_client(openlive_server, {"mode": "resume", "fail_first": True}, timeout=60)
    assert result["failure"]["code"] == 1011, result
    # the last snapshot before the failure restores the conversation
    assert result["second"].startswith("[messages="), result
    assert result["second"].endswith("What is my name?"), result
    assert "error" not in result, result


@pytest.mark.parametrize("sdk", PY_SDK_VERSIONS)
def test_reading_to_turn_complete_then_resuming_keeps_the_turn(openlive_server: Server,
                                                               sdk: str) -> None:
    """The seed's own pattern: read receive() until turnComplete, reconnect with the newest
    handle seen. The handle that includes the turn comes before its turnComplete, so the
    resumed session has it (it used to come after, and the turn was lost)."""
    result = run_client(openlive_server, {"mode": "resume",
                                          "first_words": "My name is Ada Lovelace."},
                        timeout=60, sdk=sdk)
    assert result["first"] == "[messages=1] My name is Ada Lovelace.", result
    # setup's handle, then the turn's, both within the one receive()
    assert result["handles_first"] == 2, result
    # the fake model counts the restored history: user, model, and the new question
    assert result["second"] == "[messages=3] What is my name?", result
    if sdk.startswith("3."):  # the SDKs that know lastConsumedClientMessageIndex
        # setup is message 0, the first turn message 1; each connection counts anew
        assert result["consumed"] == [0, 1, 0, 1], result
