"""The ASGI application: the Live WebSocket endpoint and the REST routes.

Routes are matched after collapsing repeated slashes, and the Live endpoint under any
path prefix, because the SDKs build URLs that way (spec §1.6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from openlive import __version__, metrics
from openlive.catalog import ModelCatalog
from openlive.errors import CloseCode, InvalidArgument, PolicyViolation, ProtocolError
from openlive.logs import session_scope
from openlive.protocol.client import Setup
from openlive.protocol.codec import decode_client_message
from openlive.protocol.endpoint import (
    Credentials,
    LiveEndpoint,
    extract_credentials,
    normalize_path,
    parse_live_path,
)
from openlive.runtime.driver import SessionDriver, SnapshotBinding
from openlive.runtime.engines import Engines
from openlive.server import playground
from openlive.server.admission import Admission
from openlive.server.auth import Authenticator, Principal
from openlive.server.quota import SYNC_SECONDS, Meter
from openlive.server.tokens import AUTH_TOKENS_PATH, create_token
from openlive.session.lifetime import ConnectionLimits
from openlive.session.machine import Session
from openlive.store.base import Store, TokenExpired

log = logging.getLogger("openlive.server")

SETUP_WAIT_SECONDS = 10.0  # how long a refused client gets to send its setup frame


@dataclass
class Services:
    """What the app serves with; built by the CLI (or a test) and shared by all sessions."""

    catalog: ModelCatalog
    engines: Engines
    auth: Authenticator
    limits: ConnectionLimits  # of every connection: Settings.connection_limits()
    resumption_ttl: float  # seconds a resumption handle stays valid
    store: Store | None = None  # None when authentication is disabled
    quota_sync: float = SYNC_SECONDS  # seconds between a session's usage writes
    admission: Admission = field(default_factory=Admission)  # load shedding (off by default)
    playground: bool = True  # the browser playground at / (server/playground.py)


class WebSocketTransport:
    """The driver's Transport over a Starlette WebSocket."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._peeked: str | bytes | None = None

    async def peek(self, timeout: float) -> str | bytes | None:
        """The first frame, without consuming it (None if none came in ``timeout``)."""
        with contextlib.suppress(TimeoutError):
            self._peeked = await asyncio.wait_for(self.receive(), timeout)
        return self._peeked

    async def receive(self) -> str | bytes | None:
        if self._peeked is not None:
            frame, self._peeked = self._peeked, None
            return frame
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        return text if text is not None else message.get("bytes", b"")

    async def send(self, data: bytes) -> None:
        # Binary frames of UTF-8 JSON, as production sends (spec §2.1).
        await self._ws.send_bytes(data)

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code, reason)


class OpenLiveApp:
    """ASGI entry point. ``lifespan`` is an optional async context run at start/stop."""

    def __init__(
        self,
        services: Services,
        lifespan: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
    ) -> None:
        self.services = services
        self._lifespan = lifespan
        self._drivers: set[SessionDriver] = set()
        self._latency = playground.LatencyBoard()  # voice turns' stages, for the playground

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send))
        elif scope["type"] == "http":
            response = await self._http(Request(scope, receive))
            await response(scope, receive, send)

    async def drain(self, grace: float) -> None:
        """Graceful shutdown: every session gets ``goAway`` and ``grace`` seconds to leave
        (to resume elsewhere); returns when all have ended or the grace is over."""
        if not self._drivers:
            return
        log.info("shutting down: goAway to %d session(s), %.0f s grace",
                 len(self._drivers), grace)
        for driver in list(self._drivers):
            driver.go_away(grace)
        deadline = asyncio.get_running_loop().time() + grace + 1.0
        while self._drivers and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        async with self.services.admission.monitor.running():
            await self._serve_lifespan(receive, send)

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        if self._lifespan is None:
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        try:
            async with self._lifespan():
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except Exception as exc:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    # -- HTTP -----------------------------------------------------------------------------

    async def _http(self, request: Request) -> Response:
        path = normalize_path(request.url.path)
        if path in ("/health", "/healthz") and request.method == "GET":
            # what a load balancer needs to spread sessions over nodes
            return JSONResponse({
                "status": "ok", "version": __version__, "sessions": len(self._drivers),
                "event_loop_lag_ms": round(self.services.admission.monitor.lag * 1000, 1),
            })
        if path == "/metrics" and request.method == "GET":
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
        if AUTH_TOKENS_PATH.search(path) and request.method == "POST":
            return await self._create_token(request)
        if self.services.playground:
            response = await self._playground(request, path)
            if response is not None:
                return response
        return google_error(404, "NOT_FOUND", f"Method not found: {request.method} {path}")

    async def _create_token(self, request: Request) -> Response:
        store = self.services.store
        if store is None:
            return google_error(400, "FAILED_PRECONDITION",
                                "Ephemeral tokens need authentication, which is disabled.")
        credentials = extract_credentials(dict(request.query_params),
                                          {k.lower(): v for k, v in request.headers.items()})
        try:
            principal = await self.services.auth.authenticate_key(credentials.api_key)
            body = await create_token(store, principal.key_id, await request.body())
        except PolicyViolation as err:
            return google_error(401, "UNAUTHENTICATED", err.reason)
        except InvalidArgument as err:
            return google_error(400, "INVALID_ARGUMENT", err.reason)
        log.info("ephemeral token created by %s (uses %s)", principal.owner, body["uses"])
        return JSONResponse(body)

    async def _playground(self, request: Request, path: str) -> Response | None:
        """The playground's routes (server/playground.py); None when ``path`` is not one."""
        if path == playground.TOKEN_PATH and request.method == "POST":
            return await self._playground_token(request)
        if request.method != "GET":
            return None
        if path == playground.OPTIONS_PATH:
            services = self.services
            return JSONResponse(playground.options(
                auth=services.store is not None, voice=services.engines.tts is not None))
        if path == playground.LATENCY_PATH:
            turns = self._latency.turns(request.query_params.get("session", ""))
            if turns is None:
                return google_error(404, "NOT_FOUND", "No open session with this id.")
            return JSONResponse({"turns": turns})
        return playground.static_file(path)

    async def _playground_token(self, request: Request) -> Response:
        """A one-session ephemeral token for a page opened on this machine, owned by the
        ``playground`` key (``openlive keys`` limits or revokes it like any other)."""
        store = self.services.store
        if store is None:
            return google_error(400, "FAILED_PRECONDITION",
                                "Authentication is disabled: connect without a key.")
        refused = playground.local_page_request(request)
        if refused is not None:
            return google_error(403, "PERMISSION_DENIED",
                                f"No token without a key: {refused}. Paste an API key.")

        def playground_key() -> str | None:
            keys = [k for k in store.list_keys() if k.name == playground.PLAYGROUND_KEY_NAME]
            if not keys:
                key, _ = store.create_key(playground.PLAYGROUND_KEY_NAME)
                log.info("created the key %s (%s) that owns the playground's tokens",
                         key.id, key.name)
                return key.id
            active = [k for k in keys if not k.revoked]
            return active[0].id if active else None  # revoked by the operator: stays so

        key_id = await asyncio.to_thread(playground_key)
        if key_id is None:
            return google_error(403, "PERMISSION_DENIED",
                                "The playground key is revoked. Paste an API key.")
        body = await create_token(store, key_id,
                                  playground.token_request_body(time.time()))
        log.info("ephemeral token created for a local playground page (key %s)", key_id)
        return JSONResponse(body)

    # -- Live -----------------------------------------------------------------------------

    async def _websocket(self, websocket: WebSocket) -> None:
        endpoint = parse_live_path(websocket.url.path)
        await websocket.accept()
        if endpoint is None:
            await websocket.close(
                CloseCode.POLICY_VIOLATION, "Unknown endpoint: not a Live API path."
            )
            return
        try:
            await self._live(websocket, endpoint)
        except WebSocketDisconnect:
            pass

    async def _live(self, websocket: WebSocket, endpoint: LiveEndpoint) -> None:
        credentials = extract_credentials(
            dict(websocket.query_params), {k.lower(): v for k, v in websocket.headers.items()}
        )
        session_id = secrets.token_hex(8)
        with session_scope(session_id):  # every line logged from here on names it
            await self._serve_session(websocket, endpoint, credentials, session_id)

    async def _serve_session(self, websocket: WebSocket, endpoint: LiveEndpoint,
                             credentials: Credentials, session_id: str) -> None:
        transport = WebSocketTransport(websocket)
        # Read the setup before deciding: whether it resumes decides whether a token use
        # is taken, and the SDKs expect a refusal after they have sent it (a close that
        # overtakes their send surfaces as a transport error instead of our reason).
        first = await transport.peek(SETUP_WAIT_SECONDS)
        try:
            # before authenticating: a refused client must not use up a token's use
            self.services.admission.check(len(self._drivers))
            principal = await self.services.auth.authenticate(credentials,
                                                              resuming=_resumes(first))
            meter = await self._meter(principal, session_id)
        except ProtocolError as err:
            log.warning("refused a Live connection: %s", err.reason)
            metrics.SESSIONS_CLOSED.labels(code=str(int(err.close_code))).inc()
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(err.close_code, err.reason)
            return
        log.info(
            "session %s: opened by key %s on %s/%s",
            session_id,
            principal.owner,
            endpoint.api_version,
            endpoint.method,
        )
        store = self.services.store
        capabilities = replace(self.services.engines.capabilities(), resumption=store is not None)
        session = Session(
            session_id=session_id,
            catalog=self.services.catalog,
            capabilities=capabilities,
            constraints=principal.constraints,
            limits=self.services.limits,
        )
        metrics.SESSIONS_TOTAL.inc()
        metrics.SESSIONS_ACTIVE.inc()
        snapshots = None
        if store is not None:
            snapshots = SnapshotBinding(store, principal.owner, self.services.resumption_ttl)
        self._latency.open(session_id)
        driver = SessionDriver(session, transport, self.services.engines,
                               snapshots=snapshots,
                               observe_output=meter.observe if meter is not None else None,
                               observe_latency=lambda stages: self._latency.record(
                                   session_id, stages))
        metering: AbstractAsyncContextManager[None] = (
            meter.metering(driver) if meter is not None else contextlib.nullcontext())
        self._drivers.add(driver)
        expiry = _end_at_token_expiry(principal, driver)
        try:
            async with metering:
                await driver.run()
        finally:
            if expiry is not None:
                expiry.cancel()
            self._drivers.discard(driver)
            self._latency.close(session_id)
            metrics.SESSIONS_ACTIVE.dec()
            log.info("session %s: ended", session_id)

    async def _meter(self, principal: Principal, session_id: str) -> Meter | None:
        """The quota meter of a new session; raises QuotaExceeded for a key over a cap.

        Without a store (authentication disabled) nothing is metered.
        """
        store = self.services.store
        if store is None:
            return None
        return await Meter.admit(store, principal.key_id, session_id=session_id,
                                 go_away_before=self.services.limits.go_away_before,
                                 sync=self.services.quota_sync)


def _resumes(frame: str | bytes | None) -> bool:
    """Whether a first frame is a setup that names a resumption handle."""
    if frame is None:
        return False
    try:
        message = decode_client_message(frame)
    except ProtocolError:
        return False  # the driver reads it again and closes with the reason
    resumption = message.session_resumption if isinstance(message, Setup) else None
    return resumption is not None and bool(resumption.handle)


def _end_at_token_expiry(principal: Principal,
                         driver: SessionDriver) -> asyncio.TimerHandle | None:
    """A token's ``expireTime`` ends its sessions: no message is accepted after it."""
    if principal.expires_at is None:
        return None
    delay = max(0.0, principal.expires_at - time.time())
    return asyncio.get_running_loop().call_later(
        delay, driver.abort, TokenExpired(principal.expires_at))


def google_error(code: int, status: str, message: str) -> JSONResponse:
    """An error body shaped like Google's REST errors, which the SDKs parse."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": status}}, status_code=code
    )
