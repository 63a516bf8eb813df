"""``POST /{v1,v1beta,v1alpha}/auth_tokens``: ephemeral tokens for browsers (spec §9).

The request is made with a real API key; the token it returns is used as the key of a
Live session, where its uses are counted and its locked setup fields are forced.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from openlive.errors import InvalidArgument
from openlive.session.constraints import normalize_setup
from openlive.store.base import Store, Token

AUTH_TOKENS_PATH = re.compile(r"/(v1|v1beta|v1alpha)/auth_tokens$")
DEFAULT_EXPIRE = 30 * 60.0  # the Live API's defaults and limits
DEFAULT_NEW_SESSION_EXPIRE = 60.0
MAX_LIFETIME = 20 * 3600.0


@dataclass(frozen=True, slots=True)
class TokenRequest:
    expire_time: float
    new_session_expire_time: float
    uses: int
    setup: dict[str, Any] | None
    field_mask: list[str] | None


def parse_request(body: bytes, now: float) -> TokenRequest:
    """Read and check a create request; InvalidArgument (HTTP 400) when it is wrong."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidArgument("Invalid JSON payload received.") from None
    if not isinstance(data, dict):
        raise InvalidArgument("The request body must be a JSON object.")
    expire = _time(data.get("expireTime", data.get("expire_time")), now + DEFAULT_EXPIRE)
    new_session = _time(data.get("newSessionExpireTime", data.get("new_session_expire_time")),
                        now + DEFAULT_NEW_SESSION_EXPIRE)
    for name, value in (("expireTime", expire), ("newSessionExpireTime", new_session)):
        if not now < value <= now + MAX_LIFETIME:
            raise InvalidArgument(f"{name} must be in the future and at most 20 hours away.")
    uses = data.get("uses", 1)
    try:
        uses = int(uses)
    except (TypeError, ValueError):
        raise InvalidArgument("uses must be a whole number.") from None
    if uses < 0:
        raise InvalidArgument("uses must not be negative.")
    raw_setup = data.get("bidiGenerateContentSetup", data.get("bidi_generate_content_setup"))
    if raw_setup is not None and not isinstance(raw_setup, dict):
        raise InvalidArgument("bidiGenerateContentSetup must be an object.")
    mask = data.get("fieldMask", data.get("field_mask"))
    if isinstance(mask, str):
        mask = [p for p in mask.split(",") if p.strip()]
    if mask is not None and not (isinstance(mask, list) and all(isinstance(p, str) for p in mask)):
        raise InvalidArgument("fieldMask must be a comma-separated string of field paths.")
    return TokenRequest(expire, new_session, uses,
                        normalize_setup(raw_setup) if raw_setup is not None else None, mask)


def _time(value: object, default: float) -> float:
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidArgument("Token times must be RFC 3339 strings.")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"Invalid time {value[:40]!r}: use RFC 3339.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


async def create_token(store: Store, key_id: str, body: bytes) -> dict[str, Any]:
    """Create a token for ``key_id`` from a request body; the ``AuthToken`` JSON answer."""
    now = time.time()
    request = parse_request(body, now)
    token, name = await asyncio.to_thread(
        store.create_token, key_id, now=now, expire_time=request.expire_time,
        new_session_expire_time=request.new_session_expire_time, uses=request.uses,
        setup_constraints=request.setup, field_mask=request.field_mask)
    return token_json(token, name)


def token_json(token: Token, name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "expireTime": rfc3339(token.expire_time),
        "newSessionExpireTime": rfc3339(token.new_session_expire_time),
        "uses": token.uses,
    }
    if name is not None:
        body = {"name": name, **body}
    return body
