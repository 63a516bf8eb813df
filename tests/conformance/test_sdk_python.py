"""google-genai (Python) 3.6.1 / 2.19.0 / 1.20.0 against a real openlive server.

Each test is parametrized over SDK version x base-URL scheme (``py_case``, see conftest.py):
``http://`` (REST would be plain, the Live socket is TLS on the same port: the server sniffs the
first byte) and ``https://``. Python always opens the Live socket as ``wss://`` and trusts the
server's CA through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.conformance

APIERROR = "google.genai.errors.APIError"
# What the SDK raises when the server closes the socket. google-genai 1.20 does not wrap the
# websockets exception (its live.py never catches ConnectionClosed); 2.19 and 3.6.1 raise
# errors.APIError(code, reason).
CLOSE_ERROR_TYPE = {"1.20.0": "websockets.exceptions.ConnectionClosedError"}


def close_error_type(version: str) -> str:
    return CLOSE_ERROR_TYPE.get(version, APIERROR)


def test_text_turn(py_case, expected):
    """Two client_content turns; the second sees the first reply in its context."""
    py_case.run("text_turn").expect_replies(*expected.text_turn)


def test_history(py_case, expected):
    """Incremental history (turn_complete=False) then a completed user turn."""
    py_case.run("history").expect_replies(*expected.history)


def test_system_instruction(py_case, expected):
    py_case.run("system_instruction").expect_replies(*expected.system_instruction)


def test_realtime_text(py_case, expected):
    """send_realtime_input(text=...) with automatic activity detection."""
    py_case.run("realtime_text").expect_replies(*expected.realtime_text)


def test_bad_key(py_case):
    py_case.run_bad_key().expect_close(
        1008,
        mentions=("API key",),
        during_connect=True,
        error_type=close_error_type(py_case.version),
    )


def test_unknown_model(py_case, expected):
    py_case.run("unknown_model").expect_close(
        1008,
        mentions=(expected.unknown_model,),
        during_connect=True,
        error_type=close_error_type(py_case.version),
    )


def test_malformed_frame(py_case):
    """A text frame that is not JSON (sent through the private session._ws)."""
    py_case.run("malformed_frame").expect_close(
        1007,
        mentions=("JSON",),
        during_connect=False,
        error_type=close_error_type(py_case.version),
    )


def test_malformed_content(py_case):
    """Valid JSON, invalid message: client_content.turns is not a list."""
    py_case.run("malformed_content").expect_close(
        1007,
        mentions=("turns",),
        during_connect=False,
        error_type=close_error_type(py_case.version),
    )


def test_model_ids(py_latest, model_id, expected):
    """The other documented Live model ids work too (TEXT modality)."""
    py_latest.run_with_model(model_id).expect_replies(*expected.text_turn)


def test_api_version_env(py_latest, api_version, expected):
    """GOOGLE_GENAI_API_VERSION=v1beta / v1alpha changes the path; the server serves both."""
    py_latest.run_with_api_version(api_version).expect_replies(*expected.text_turn)
