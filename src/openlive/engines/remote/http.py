"""HTTP failures of a remote engine as :class:`~openlive.errors.EngineError`.

A connection refused, reset or timed out, or a 5xx/429 answer, is ``retryable``: the
driver tries again (``runtime/retry.py``); a 4xx answer is the request's fault and is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from openlive.errors import EngineError

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The ``Authorization`` header for an OpenAI-style API key (none without a key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def check_status(response: httpx.Response, url: str) -> None:
    """Raise :class:`EngineError` for an HTTP error answer, quoting the server's words."""
    if response.status_code < 400:
        return
    detail = (await response.aread()).decode("utf-8", errors="replace").strip()
    status = response.status_code
    raise EngineError(
        f"{url} answered HTTP {status} {response.reason_phrase}: {detail[:300]}",
        retryable=status >= 500 or status in _RETRYABLE_STATUS,
    )


@asynccontextmanager
async def errors_as_engine_errors(url: str) -> AsyncIterator[None]:
    """Turn httpx request errors (refused, reset, timed out) into retryable EngineErrors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise EngineError(f"{url} timed out ({type(exc).__name__})", retryable=True) from exc
    except httpx.ConnectError as exc:
        raise EngineError(f"cannot reach {url}: {reason(exc)}", retryable=True) from exc
    except httpx.RequestError as exc:  # reset mid-reply, protocol or decoding errors
        raise EngineError(f"request to {url} failed: {reason(exc)}", retryable=True) from exc


def reason(exc: BaseException) -> str:
    """An exception's type and message, for a log line or an error's text."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
