"""The browser playground: its static files at ``/``, what the page may choose from, a
short-lived token for a page opened on this machine, and each voice turn's latency.

The page speaks the Live protocol itself over a WebSocket (``web/playground.js``); the
routes here only hand it what it cannot know. Who gets a token without presenting a
key (:func:`local_page_request`): a request from a loopback address, addressed to a
loopback host name, with no proxy forwarding headers and, when the browser names an
origin, that same origin. Everyone else pastes an API key, which the page exchanges
for an ephemeral token at ``POST /v1alpha/auth_tokens`` and never stores.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from openlive.catalog import KNOWN_LIVE_MODELS
from openlive.catalog.languages import LIVE_LANGUAGES
from openlive.catalog.voices import DEFAULT_VOICE, VOICES

PREFIX = "/playground/"
TOKEN_PATH = "/playground/token"
OPTIONS_PATH = "/playground/options"
LATENCY_PATH = "/playground/latency"
DEFAULT_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"  # what the Live docs start with
PLAYGROUND_KEY_NAME = "playground"  # the key that owns the tokens of local pages
# A token is for one session, opened right away: a leaked one is worth little.
TOKEN_USES = 1
TOKEN_NEW_SESSION_SECONDS = 60
TOKEN_EXPIRE_SECONDS = 30 * 60
TURNS_KEPT = 20  # latest voice turns whose stages a page may read, per session

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png"}
# Served as they are, but not framed by other sites (clickjacking of the microphone).
_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache"}
_FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")
_LOOPBACK_NAMES = ("localhost",)


def static_file(path: str) -> Response | None:
    """The response for ``/`` or ``/playground/<file>``; None when there is no such file."""
    if path in ("/", "/playground", PREFIX):
        name = "index.html"
    elif path.startswith(PREFIX):
        name = path.removeprefix(PREFIX)
    else:
        return None
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in _TYPES:
        return None
    item = resources.files("openlive.web").joinpath(name)
    if not item.is_file():
        return None
    return Response(item.read_bytes(), media_type=_TYPES[suffix], headers=_HEADERS)


def options(*, auth: bool, voice: bool) -> dict[str, Any]:
    """What the page offers: the Live API's models, voices and languages, and how it
    authenticates (``none``: no key needed; ``token``: ask :data:`TOKEN_PATH`)."""
    return {
        "models": list(KNOWN_LIVE_MODELS),
        "default_model": DEFAULT_MODEL,
        "voices": [{"name": v.name, "gender": v.gender, "character": v.character}
                   for v in VOICES],
        "default_voice": DEFAULT_VOICE,
        "languages": list(LIVE_LANGUAGES),
        "auth": "token" if auth else "none",
        "voice": voice,
    }


def _is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_page_request(request: Request) -> str | None:
    """Why ``request`` may not have a token without a key, or None when it may.

    Loopback peer: the page runs on this machine. No forwarding headers: a reverse proxy
    on this machine would make every remote browser look local. Loopback ``Host``: a DNS
    rebinding page (evil.example resolving to 127.0.0.1) is same-origin to itself, not
    to ``localhost``. Matching ``Origin``: another site open in the same browser cannot
    read the answer.
    """
    client = request.client
    if client is None or not _is_loopback_host(client.host):
        return "the page is not on the server's machine"
    headers = {k.lower() for k in request.headers}
    if any(name in headers for name in _FORWARDING):
        return "the request came through a proxy"
    host = request.headers.get("host", "")
    hostname = urlsplit(f"//{host}").hostname or ""
    if not _is_loopback_host(hostname):
        return "the page was not opened at a loopback address"
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
        return "the request came from another site"
    return None


def token_request_body(now: float) -> bytes:
    """The ``auth_tokens`` request of a local page's token (one session, soon)."""
    import orjson

    from openlive.server.tokens import rfc3339

    return orjson.dumps({"uses": TOKEN_USES,
                         "newSessionExpireTime": rfc3339(now + TOKEN_NEW_SESSION_SECONDS),
                         "expireTime": rfc3339(now + TOKEN_EXPIRE_SECONDS)})


@dataclass
class LatencyBoard:
    """The latest voice turns' latency stages of each open session, for its page.

    A session id is 64 random bits, known only to the client it was sent to, so it is
    the page's capability to read its own numbers (which say nothing else).
    """

    _turns: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)

    def open(self, session_id: str) -> None:
        self._turns[session_id] = deque(maxlen=TURNS_KEPT)

    def close(self, session_id: str) -> None:
        self._turns.pop(session_id, None)

    def record(self, session_id: str, stages: dict[str, float]) -> None:
        turns = self._turns.get(session_id)
        if turns is not None:
            turns.append({"at": time.time(),
                          "stages_ms": {k: round(v * 1000, 1) for k, v in stages.items()}})

    def turns(self, session_id: str) -> list[dict[str, Any]] | None:
        turns = self._turns.get(session_id)
        return None if turns is None else list(turns)
