"""Which Live endpoint a request path names, and which credentials it carries (spec §1.6).

Pure functions over the path, query and headers of the HTTP upgrade request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

_LIVE_PATH = re.compile(
    r"/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained)\Z"  # \Z: "$" also matches before "\n"
)
_SLASHES = re.compile(r"/{2,}")

Method = Literal["BidiGenerateContent", "BidiGenerateContentConstrained"]


@dataclass(frozen=True, slots=True)
class LiveEndpoint:
    api_version: str  # v1 | v1beta | v1alpha, all served alike
    method: Method


def parse_live_path(path: str) -> LiveEndpoint | None:
    """Match a Live WebSocket path, tolerating doubled slashes and any prefix before ``/ws/``."""
    match = _LIVE_PATH.search(_SLASHES.sub("/", path))
    if match is None:
        return None
    method: Method = (
        "BidiGenerateContentConstrained"
        if match[2].endswith("Constrained")
        else ("BidiGenerateContent")
    )
    return LiveEndpoint(api_version=match[1], method=method)


def normalize_path(path: str) -> str:
    """Collapse repeated slashes, as every route is matched after this."""
    return _SLASHES.sub("/", path)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the client presented: an API key, an ephemeral token name, or nothing."""

    api_key: str | None = None
    token: str | None = None  # "auth_tokens/…"


TOKEN_PREFIX = "auth_tokens/"


def extract_credentials(query: Mapping[str, str], headers: Mapping[str, str]) -> Credentials:
    """Find the key or token in ``?key=``, ``?access_token=``, ``x-goog-api-key`` or
    ``Authorization: Token …`` (headers looked up lower-case)."""
    token = query.get("access_token") or None
    auth = headers.get("authorization", "")
    if token is None and auth[:6].lower() == "token ":
        token = auth[6:].strip() or None
    key = query.get("key") or headers.get("x-goog-api-key") or None
    if token is None and key is not None and key.startswith(TOKEN_PREFIX):
        token, key = key, None
    if token is not None:
        return Credentials(token=token)
    return Credentials(api_key=key)
