"""A server at its session cap refuses the next client with 1011 RESOURCE_EXHAUSTED."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conformance.conftest import Server, running_server

pytestmark = [pytest.mark.conformance]
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
SETUP = json.dumps({"setup": {"model": "models/gemini-live-2.5-flash-preview",
                              "generationConfig": {"responseModalities": ["TEXT"]}}})


async def open_session(server: Server) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}{PATH}?key={server.key}")
    await ws.send(SETUP)
    return ws


def get_health(server: Server) -> dict:
    with urllib.request.urlopen(f"{server.base_url('http')}/health", timeout=5) as response:
        return dict(json.load(response))


async def scenario(server: Server) -> tuple[dict, int | None, str, dict]:
    first = await open_session(server)
    setup_complete = json.loads(await first.recv())
    second = await open_session(server)
    try:
        await asyncio.wait_for(second.recv(), 10)
        code, reason = None, ""
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else None
        reason = closed.rcvd.reason if closed.rcvd else ""
    health = await asyncio.to_thread(get_health, server)
    await first.close()
    for _ in range(100):  # the server notices the close
        if (await asyncio.to_thread(get_health, server))["sessions"] == 0:
            break
        await asyncio.sleep(0.05)
    # once the first has gone, a new client gets in
    third = await open_session(server)
    assert "setupComplete" in json.loads(await asyncio.wait_for(third.recv(), 10))
    await third.close()
    return setup_complete, code, reason, health


def test_the_session_cap_refuses_the_next_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_server(tmp_path_factory, "tests.fakes.llm:create",
                        ("--no-voice", "--max-sessions", "1")) as server:
        setup_complete, code, reason, health = asyncio.run(scenario(server))
    assert "setupComplete" in setup_complete
    assert code == 1011, (code, reason)
    assert reason.startswith("RESOURCE_EXHAUSTED") and "1 concurrent" in reason
    assert health["sessions"] == 1 and health["event_loop_lag_ms"] >= 0
