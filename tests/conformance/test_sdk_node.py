"""@google/genai (Node) against a real openlive server.

Parametrized over the base-URL scheme (``node_case``, see conftest.py): ``http://`` gives a
plain ``ws://`` socket, ``https://`` a ``wss://`` socket that trusts the server's CA through
``NODE_EXTRA_CA_CERTS``. The JS SDK reports a close through ``onclose(code, reason)``;
``connect()`` rejects when the close comes before ``setupComplete``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.conformance


def test_text_turn(node_case, expected):
    node_case.run("text_turn").expect_replies(*expected.text_turn)


def test_history(node_case, expected):
    node_case.run("history").expect_replies(*expected.history)


def test_system_instruction(node_case, expected):
    node_case.run("system_instruction").expect_replies(*expected.system_instruction)


def test_realtime_text(node_case, expected):
    node_case.run("realtime_text").expect_replies(*expected.realtime_text)


def test_bad_key(node_case):
    result = node_case.run_bad_key()
    result.expect_close(1008, mentions=("API key",), during_connect=True)
    if "Live connection closed before setup completed" not in result.error["message"]:
        result.fail("connect() should reject with the SDK's 'closed before setup' error")


def test_unknown_model(node_case, expected):
    node_case.run("unknown_model").expect_close(
        1008, mentions=(expected.unknown_model,), during_connect=True
    )


def test_malformed_frame(node_case):
    """A text frame that is not JSON (sent through the private session.conn)."""
    node_case.run("malformed_frame").expect_close(1007, mentions=("JSON",), during_connect=False)


def test_malformed_content(node_case):
    """Valid JSON, invalid message: clientContent.turns is not a list."""
    node_case.run("malformed_content").expect_close(1007, mentions=("turns",), during_connect=False)


def test_model_ids(node_latest, model_id, expected):
    node_latest.run_with_model(model_id).expect_replies(*expected.text_turn)


def test_api_version_env(node_latest, api_version, expected):
    node_latest.run_with_api_version(api_version).expect_replies(*expected.text_turn)
