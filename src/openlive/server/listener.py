"""One TCP port that serves TLS and plain HTTP/WebSocket at the same time.

Why sniff: the Python SDK always opens the Live socket with TLS, whatever scheme its base
URL has, while its REST calls (``auth_tokens.create``) and the JS SDK use plain http and
ws on that same base URL (spec section 0, rules 5 and 6). Serving both on one port lets
``base_url="http://host:port"`` work for every client. A TLS connection starts with a
handshake record, first byte 0x16; an HTTP request starts with the letter of a method.

Theory of operation: an accept loop hands each new socket to a task that waits up to
:data:`FIRST_BYTE_TIMEOUT` for the first byte and peeks at it (``MSG_PEEK`` leaves it in
the kernel buffer), then gives the socket to asyncio with or without TLS. From there on
uvicorn's own protocols run the ASGI app: h11 for HTTP, upgrading to the
``websockets-sansio`` protocol for WebSockets (:mod:`openlive.server.websocket`).
Everything else uvicorn's ``Server`` would do that matters to the protocols is repeated
here: the lifespan, the shared ``ServerState``, the Date header refreshed every second,
and a graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterator
from email.utils import formatdate
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.lifespan.on import LifespanOn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from openlive.errors import ConfigError
from openlive.server.websocket import LiveWebSocketProtocol

FIRST_BYTE_TIMEOUT = 10.0  # seconds a new connection may stay silent (also the TLS handshake limit)
WS_MAX_SIZE = 16 * 1024 * 1024  # largest incoming WebSocket message: clients send audio and images
TLS_HANDSHAKE = 0x16  # content type of a TLS handshake record, the first byte of a ClientHello

logger = logging.getLogger(__name__)
_SECRET_QUERY = re.compile(r"([?&](?:key|access_token)=)[^&\s\"]*")


class RedactSecrets(logging.Filter):
    """Blanks ``?key=`` / ``?access_token=`` values in log lines.

    ``access_log=False`` does not cover WebSockets: uvicorn's WebSocket protocol logs each
    accepted handshake on ``uvicorn.error`` with the full query string, where the JS SDK
    puts the API key or the ephemeral token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY.sub(r"\1…", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


_REDACT = RedactSecrets()


class Listener:
    """Serves an ASGI app on one port, TLS and plain side by side.

    Call :meth:`start` once, then :meth:`shutdown` once. With ``ssl_context=None`` every
    connection is plain. :func:`serve` wraps both for the command line.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        log_level: str = "info",
    ) -> None:
        self.host = host
        self._port = port  # as asked; start() replaces 0 with the port the OS picked
        self._ssl_context = ssl_context
        logging.getLogger("uvicorn.error").addFilter(_REDACT)  # the same object: added once
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http=_H11Protocol,
            # uvicorn's websockets-sansio (close codes + reasons, permessage-deflate,
            # keepalive pings), answering oversized upgrades and non-UTF-8 text clearly
            ws=LiveWebSocketProtocol,
            ws_max_size=WS_MAX_SIZE,
            lifespan="on",
            interface="asgi3",
            log_config=None,  # leave logging set-up to the application
            # Access lines would carry ?key= / ?access_token= secrets; the app logs
            # sessions itself without them.
            access_log=False,
            log_level=log_level,
        )
        self._state = ServerState()  # shared by every protocol instance, as in uvicorn.Server
        self._lifespan: LifespanOn | None = None
        self._app_state: dict[str, Any] = {}  # what the lifespan put in scope["state"]
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # accept loop, clock, sniffing connections

    @property
    def port(self) -> int:
        """The bound port (the one the OS picked when asked for 0), once started."""
        return self._port

    async def start(self) -> None:
        """Run the app's lifespan start-up, bind, and start accepting connections.

        Raises :class:`ConfigError` when the app fails to start or the port cannot be bound.
        """
        self._config.load()
        self._lifespan = LifespanOn(self._config)
        await self._lifespan.startup()
        if self._lifespan.should_exit:
            raise ConfigError("the application failed to start; see the log above")
        self._app_state = self._lifespan.state
        try:
            self._sock = _bind(self.host, self._port, self._config.backlog)
        except OSError as exc:
            await self._lifespan.shutdown()
            raise ConfigError(f"cannot listen on {self.host}:{self._port}: {exc}") from exc
        self._port = self._sock.getsockname()[1]
        self._spawn(self._accept_loop(self._sock))
        self._spawn(self._refresh_default_headers())
        kind = "TLS and plain" if self._ssl_context is not None else "plain only"
        logger.info("listening on %s port %d (%s)", self.host, self.port, kind)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting, close idle connections, then run the app's lifespan shutdown.

        WebSockets are closed with 1012 (service restart); HTTP requests in flight get
        ``timeout`` seconds to finish before their tasks are cancelled.
        """
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
        for connection in list(self._state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(timeout):
                while self._state.connections or self._state.tasks:
                    await asyncio.sleep(0.1)
        except TimeoutError:
            logger.warning("cancelling %d request(s) still running", len(self._state.tasks))
            for request in list(self._state.tasks):
                request.cancel()
        if self._lifespan is not None:
            await self._lifespan.shutdown()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except ConnectionError:
                continue  # the peer gave up before we accepted
            except OSError as exc:  # out of file descriptors or memory: back off, don't spin
                logger.error("accept failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            self._spawn(self._serve_connection(conn))

    async def _serve_connection(self, conn: socket.socket) -> None:
        """Peek at the first byte, then hand the socket to uvicorn, with TLS if it asks."""
        # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; accepted
        # ones report 0, so without this every small frame (a token, /health) waits for
        # the peer's delayed ACK: ~40 ms per message (Nagle's algorithm).
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            first = await _first_byte(conn)
        except BaseException:  # cancelled by shutdown()
            conn.close()
            raise
        if not first:
            conn.close()  # silent for too long, or closed before saying anything
            return
        loop = asyncio.get_running_loop()
        if first[0] != TLS_HANDSHAKE or self._ssl_context is None:
            await loop.connect_accepted_socket(self._new_protocol, conn)
            return
        try:
            await loop.connect_accepted_socket(
                self._new_protocol,
                conn,
                ssl=self._ssl_context,
                ssl_handshake_timeout=FIRST_BYTE_TIMEOUT,
            )
        except OSError as exc:  # ssl.SSLError, handshake timeout, reset; asyncio closed it
            logger.debug("TLS handshake failed: %s", exc)

    def _new_protocol(self) -> asyncio.Protocol:
        """What uvicorn.Server.startup's create_protocol builds."""
        return _H11Protocol(
            config=self._config,
            server_state=self._state,
            app_state=self._app_state,
            _loop=asyncio.get_running_loop(),
        )

    async def _refresh_default_headers(self) -> None:
        """The Date (and Server) header for every response, as uvicorn's main loop keeps it."""
        while True:
            date = formatdate(usegmt=True).encode()
            self._state.default_headers = [(b"date", date), *self._config.encoded_headers]
            await asyncio.sleep(1.0)


class _H11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, which also closes a connection that never sends a request.

    uvicorn only times out idle keep-alive connections *between* requests; here a new
    connection (after its TLS handshake, if any) gets the same treatment. The first data
    received cancels the timer, like any keep-alive timer.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            FIRST_BYTE_TIMEOUT, self.timeout_keep_alive_handler
        )


async def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    log_level: str = "info",
    before_shutdown: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Serve ``app`` until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully.

    ``ready(port)`` is called once the port is bound. A second Ctrl+C during the graceful
    shutdown interrupts it (the signal handlers are removed once stopping begins).
    """
    stop = stop if stop is not None else asyncio.Event()
    listener = Listener(app, host=host, port=port, ssl_context=ssl_context, log_level=log_level)
    await listener.start()
    try:
        with _stop_on_signals(stop):
            if ready is not None:
                ready(listener.port)
            await stop.wait()
            if before_shutdown is not None:
                await before_shutdown()  # e.g. goAway to every session, then let them go
    finally:
        await listener.shutdown()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT/SIGTERM while inside; a no-op off the main thread or on Windows."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, _on_signal, sig, stop)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    logger.info("%s received, shutting down", sig.name)
    stop.set()


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    dualstack = host == "::" and socket.has_dualstack_ipv6()
    sock = socket.create_server(
        (host, port), family=family, backlog=backlog, dualstack_ipv6=dualstack
    )
    sock.setblocking(False)
    return sock


async def _first_byte(sock: socket.socket) -> bytes:
    """The peer's first byte, peeked (left in the buffer); b"" if it closed or stayed silent."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(FIRST_BYTE_TIMEOUT):
            while True:
                try:
                    return sock.recv(1, socket.MSG_PEEK)
                except (BlockingIOError, InterruptedError):
                    await _readable(loop, sock)
    except (TimeoutError, OSError):  # silent too long, or reset by the peer
        return b""


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(sock, _set_done, ready)
    try:
        await ready
    finally:
        loop.remove_reader(sock)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
