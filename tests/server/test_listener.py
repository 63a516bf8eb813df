"""One port, TLS and plain: real sockets, real certificates, real clients; and the
WebSocket protocol's refusals (an oversized upgrade request, a text frame not UTF-8)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from openlive.errors import MAX_REASON_BYTES, ConfigError
from openlive.server import listener as listener_module
from openlive.server.listener import Listener, serve
from openlive.server.tls import TlsFiles, ensure_certificates, server_ssl_context
from openlive.server.websocket import invalid_utf8_reason


class EchoApp:
    """A tiny ASGI app: GET returns text, /ws echoes, "close" ends with 1008 and a reason."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match scope["type"]:
            case "lifespan":
                await self._lifespan(receive, send, scope["state"])
            case "http":
                body = f"hello over {scope['scheme']}, {scope['state']['greeting']}".encode()
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})
            case "websocket":
                await self._echo(receive, send)

    async def _lifespan(self, receive: Receive, send: Send, state: dict[str, Any]) -> None:
        while True:
            message = await receive()
            event = message["type"].removeprefix("lifespan.")
            self.lifespan.append(event)
            if event == "startup":
                state["greeting"] = "from lifespan"
            await send({"type": f"lifespan.{event}.complete"})
            if event == "shutdown":
                return

    async def _echo(self, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close":
                await send({"type": "websocket.close", "code": 1008, "reason": "policy says no"})
                return
            if message.get("bytes") is not None:  # answer big uploads with their size only
                await send({"type": "websocket.send", "text": str(len(message["bytes"]))})
            else:
                await send({"type": "websocket.send", "text": message["text"]})


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return ensure_certificates(tmp_path / "tls")


@pytest.fixture
def client_ssl(tls_files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls_files.ca_cert)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


@pytest.fixture
def app() -> EchoApp:
    return EchoApp()


@pytest.fixture
async def port(app: EchoApp, tls_files: TlsFiles) -> AsyncIterator[int]:
    listener = Listener(
        app,
        host="127.0.0.1",
        port=0,
        ssl_context=server_ssl_context(tls_files.cert, tls_files.key),
    )
    await listener.start()
    yield listener.port
    await listener.shutdown()


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []


async def get(url: str, verify: ssl.SSLContext | bool = False) -> httpx.Response:
    async with httpx.AsyncClient(verify=verify, trust_env=False) as client:
        return await client.get(url)


async def test_plain_http(port: int) -> None:
    response = await get(f"http://127.0.0.1:{port}/")

    assert response.status_code == 200
    assert response.text == "hello over http, from lifespan"
    assert "date" in response.headers


async def test_https_on_the_same_port(port: int, client_ssl: ssl.SSLContext) -> None:
    for host in ("127.0.0.1", "localhost"):
        response = await get(f"https://{host}:{port}/", verify=client_ssl)

        assert response.text == "hello over https, from lifespan"


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_websocket_echo_and_close_reason(
    port: int, client_ssl: ssl.SSLContext, scheme: str
) -> None:
    tls = client_ssl if scheme == "wss" else None

    async with connect(f"{scheme}://127.0.0.1:{port}/ws", ssl=tls, proxy=None) as ws:
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
        await ws.send("hi")
        assert await ws.recv() == "hi"
        await asyncio.wait_for(await ws.ping(), 5)  # the server answers pings
        await ws.send(os.urandom(3 * 1024 * 1024))  # above the 1 MiB websockets default
        assert await ws.recv() == str(3 * 1024 * 1024)
        await ws.send("close")
        with pytest.raises(ConnectionClosed):
            await ws.recv()

    assert ws.close_code == 1008
    assert ws.close_reason == "policy says no"


async def test_secrets_in_the_query_stay_out_of_the_log(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn logs each accepted WebSocket with its query, where the JS SDK puts the key."""
    caplog.set_level(logging.INFO)
    query = "key=ol_SeCrEtKeY&alt=sse&access_token=auth_tokens/SeCrEtToKeN"
    async with connect(f"ws://127.0.0.1:{port}/ws?{query}", proxy=None) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/ws?key=…&alt=sse&access_token=…" in logged
    assert "SeCrEt" not in logged


async def test_peer_closing_before_sending_is_harmless(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for linger in (False, True):  # a polite FIN, then a reset
        sock = socket.create_connection(("127.0.0.1", port))
        if linger:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    await asyncio.sleep(0.2)

    assert (await get(f"http://127.0.0.1:{port}/")).status_code == 200
    assert_quiet(caplog)


async def test_silent_connections_are_closed(
    port: int, client_ssl: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener_module, "FIRST_BYTE_TIMEOUT", 0.3)

    plain_reader, plain_writer = await asyncio.open_connection("127.0.0.1", port)
    tls_reader, tls_writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_ssl, server_hostname="localhost"
    )  # handshake done, then no request

    async with asyncio.timeout(5):
        assert await plain_reader.read() == b""
        assert await tls_reader.read() == b""
    for writer in (plain_writer, tls_writer):
        writer.close()


async def test_failed_tls_handshake_is_harmless(
    port: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = ssl.create_default_context(cafile=ensure_certificates(tmp_path / "x").ca_cert)

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await get(f"https://127.0.0.1:{port}/", verify=stranger)
    await asyncio.sleep(0.1)

    assert (await get(f"http://127.0.0.1:{port}/")).status_code == 200
    assert_quiet(caplog)


async def test_plain_only_without_ssl_context(app: EchoApp) -> None:
    listener = Listener(app, host="127.0.0.1", port=0, ssl_context=None)
    await listener.start()
    try:
        assert (await get(f"http://127.0.0.1:{listener.port}/")).status_code == 200
        with pytest.raises(httpx.ConnectError):
            await get(f"https://127.0.0.1:{listener.port}/")
    finally:
        await listener.shutdown()


async def test_shutdown_runs_the_lifespan_and_closes_websockets(
    app: EchoApp, tls_files: TlsFiles
) -> None:
    listener = Listener(app, host="127.0.0.1", port=0, ssl_context=None)
    await listener.start()
    assert app.lifespan == ["startup"]

    async with connect(f"ws://127.0.0.1:{listener.port}/ws", proxy=None) as ws:
        await listener.shutdown()
        with pytest.raises(ConnectionClosed):
            await ws.recv()

    assert ws.close_code == 1012
    assert app.lifespan == ["startup", "shutdown"]
    with pytest.raises(httpx.ConnectError):
        await get(f"http://127.0.0.1:{listener.port}/")


async def test_start_reports_a_failing_app() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no model"})

    with pytest.raises(ConfigError, match="failed to start"):
        await Listener(broken, host="127.0.0.1", port=0, ssl_context=None).start()


async def test_start_reports_a_busy_port(app: EchoApp) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = Listener(app, host="127.0.0.1", port=taken.getsockname()[1], ssl_context=None)
        with pytest.raises(ConfigError, match="cannot listen"):
            await busy.start()

    assert app.lifespan == ["startup", "shutdown"]


async def test_serve_until_stop(app: EchoApp) -> None:
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(app, host="127.0.0.1", port=0, ssl_context=None, ready=bound.set_result, stop=stop)
    )

    port = await asyncio.wait_for(bound, 10)
    assert (await get(f"http://127.0.0.1:{port}/")).status_code == 200
    stop.set()
    await asyncio.wait_for(server, 10)

    assert app.lifespan == ["startup", "shutdown"]


async def test_serve_stops_gracefully_on_sigint(app: EchoApp) -> None:
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(app, host="127.0.0.1", port=0, ssl_context=None, ready=bound.set_result)
    )
    await asyncio.wait_for(bound, 10)

    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(server, 10)

    assert app.lifespan == ["startup", "shutdown"]


# -- refusals of the WebSocket protocol (openlive.server.websocket) ----------------------------

UPGRADE = ("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n{header}\r\n")
BIG = 64 * 1024


def upgrade(kind: str) -> bytes:
    path = "/ws?key=x" + ("&pad=" + "a" * BIG if kind == "path" else "")
    header = f"X-Pad: {'b' * BIG}\r\n" if kind == "header" else ""
    return UPGRADE.format(path=path, header=header).encode()


async def answer(port: int, request: bytes, tls: ssl.SSLContext | None,
                 piece: int | None = None) -> bytes:
    """What the server answers ``request`` (sent whole, or ``piece`` bytes at a time),
    up to its closing the connection; fails after 3 s (the bug: it waited in silence)."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None)
    try:
        async with asyncio.timeout(3):
            step = piece or len(request)
            for start in range(0, len(request), step):
                writer.write(request[start:start + step])
                await writer.drain()
                if piece:
                    await asyncio.sleep(0.01)
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("scheme", ["ws", "wss"])
@pytest.mark.parametrize(("kind", "status"), [("path", b"414"), ("header", b"431")])
async def test_an_oversized_upgrade_request_is_answered_at_once(
        port: int, client_ssl: ssl.SSLContext, scheme: str, kind: str, status: bytes) -> None:
    tls = client_ssl if scheme == "wss" else None
    got = await answer(port, upgrade(kind), tls)
    assert got.startswith(b"HTTP/1.1 " + status), got[:100]


async def test_an_upgrade_request_trickling_past_the_header_limit_is_refused(
        port: int) -> None:
    """Received in pieces, the request outgrows h11's 16 KiB buffer before it is whole:
    uvicorn refuses it there (400), also at once."""
    got = await answer(port, upgrade("header")[:20 * 1024], None, piece=4096)
    assert got.startswith(b"HTTP/1.1 400"), got[:100]


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_a_text_frame_that_is_not_utf8_closes_1007_with_a_reason(
        port: int, client_ssl: ssl.SSLContext, scheme: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    tls = client_ssl if scheme == "wss" else None
    async with connect(f"{scheme}://127.0.0.1:{port}/ws", ssl=tls, proxy=None) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        # what no client library sends: a text frame of bytes that are not UTF-8
        ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"realtimeInput": {"text": "\xff\xfe"}}'))
        for data in ws.protocol.data_to_send():
            ws.transport.write(data)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 3)
    assert ws.close_code == 1007
    assert ws.close_reason == ("Invalid text frame: not UTF-8 at byte 28 (invalid start "
                               "byte). Send JSON as UTF-8 text or binary frames.")
    assert_quiet(caplog)  # a client's mistake: one line, no traceback


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=2**40))
def test_any_invalid_utf8_gets_a_reason_that_fits_a_close_frame(junk: bytes,
                                                                 offset: int) -> None:
    data = b"a" * (offset % 1000) + junk
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        reason = invalid_utf8_reason(exc)
        assert 0 < len(reason.encode()) <= MAX_REASON_BYTES
        assert f"byte {exc.start} " in reason
