"""The one exception root of openlive, and the WebSocket close codes it maps to.

Tree::

    OpenLiveError                    root; never raised itself
    ├── ProtocolError                a Live session must end with a close code
    │   ├── InvalidArgument          1007: the client sent something we cannot accept
    │   ├── PolicyViolation          1008: auth, unknown model, unsupported feature
    │   │   ├── store.base.TokenRejected   an ephemeral token is unknown, expired, used up…
    │   │   ├── store.base.HandleRejected  a resumption handle is unknown, expired, foreign
    │   │   └── server.quota.QuotaExceeded  a key's cap on session time or tokens is used up
    │   └── InternalError            1011: our fault or an engine's
    ├── EngineError                  an engine failed (``retryable`` says whether to try again)
    ├── StoreError                   the store could not read or write
    └── ConfigError                  the operator's configuration is wrong

The I/O layers catch :class:`ProtocolError` and close the socket with ``close_code``
and ``reason``; anything else escaping a session is a bug and closes with 1011.
"""

from __future__ import annotations

from enum import IntEnum

MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason is at most 123 bytes of UTF-8


class CloseCode(IntEnum):
    """WebSocket close codes the Live API uses (see the spec, section 7)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INVALID_ARGUMENT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


def truncate_reason(reason: str, limit: int = MAX_REASON_BYTES) -> str:
    """Cut ``reason`` to at most ``limit`` bytes of UTF-8 without splitting a character."""
    data = reason.encode("utf-8")
    if len(data) <= limit:
        return reason
    return data[:limit].decode("utf-8", errors="ignore")


class OpenLiveError(Exception):
    """Root of every error openlive raises on purpose."""


class ProtocolError(OpenLiveError):
    """An error that ends a Live session with a WebSocket close code and a reason.

    ``client_fault`` tells whether the peer broke the rules (True) or we failed (False).
    """

    close_code: CloseCode = CloseCode.INTERNAL_ERROR
    client_fault: bool = False

    def __init__(self, reason: str) -> None:
        self.reason = truncate_reason(reason)
        super().__init__(self.reason)


class InvalidArgument(ProtocolError):
    """The client sent a malformed frame or a value we cannot accept (1007)."""

    close_code = CloseCode.INVALID_ARGUMENT
    client_fault = True


class PolicyViolation(ProtocolError):
    """Missing or invalid credentials, unknown model, unsupported request (1008)."""

    close_code = CloseCode.POLICY_VIOLATION
    client_fault = True


class InternalError(ProtocolError):
    """Our side failed: an engine, the store, a bug (1011)."""

    close_code = CloseCode.INTERNAL_ERROR
    client_fault = False


class EngineError(OpenLiveError):
    """An engine (LLM, ASR, TTS, VAD) failed. ``retryable`` hints whether a retry may work."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)


class ContextOverflow(EngineError):
    """The request does not fit the model's context window: the client's input is too
    large (1007 for the session), not a failure of the model."""


class StoreError(OpenLiveError):
    """The key/token/snapshot store could not complete an operation."""


class ConfigError(OpenLiveError):
    """The operator's configuration is invalid; raised at start-up, never mid-session."""
