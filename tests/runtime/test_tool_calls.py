"""Function calls through the driver: the fake model calls, the client or the server answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.engines.tools.factory import load_server_tools
from openlive.errors import ConfigError
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.session.machine import Session
from tests.fakes.llm import EchoModel
from tests.fakes.server_tools import FakeSearch
from tests.runtime.test_driver import MemoryTransport, texts

WEATHER = {"name": "get_weather", "parameters": {
    "type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}


def start(search: FakeSearch | None = None) -> tuple[MemoryTransport, asyncio.Task[None]]:
    engines = Engines({DEFAULT_BACKEND: EchoModel()},
                      server_tools={"googleSearch": search} if search else {})
    transport = MemoryTransport()
    session = Session(session_id="t", catalog=ModelCatalog(),
                      capabilities=engines.capabilities())
    return transport, asyncio.create_task(SessionDriver(session, transport, engines).run())


def setup(tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {"setup": {"model": "models/gemini-2.0-flash-live-001",
                      "generationConfig": {"responseModalities": ["TEXT"]}, "tools": tools}}


async def next_with(t: MemoryTransport, key: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(t.outbox.get(), 5)
        if key in message:
            return message


async def test_client_function_round_trip() -> None:
    t, task = start()
    t.client(setup([{"functionDeclarations": [WEATHER]}]))
    await t.outbox.get()
    t.client({"realtimeInput": {"text": 'Checking. call: get_weather {"city": "Paris"}'}})
    call = await next_with(t, "toolCall")
    [fc] = call["toolCall"]["functionCalls"]
    assert (fc["name"], fc["args"]) == ("get_weather", {"city": "Paris"})
    assert fc["id"].startswith("function-call-")
    t.client({"toolResponse": {"functionResponses": [
        {"id": fc["id"], "name": "get_weather", "response": {"output": "rain"}}]}})
    turn = await t.until_turn_complete()
    assert texts(turn) == '[messages=3] get_weather returned {"output":"rain"}'
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_server_side_search_answers_without_a_tool_call() -> None:
    search = FakeSearch()
    t, task = start(search)
    t.client(setup([{"googleSearch": {}}]))
    await t.outbox.get()
    t.client({"realtimeInput": {"text": 'call: google_search {"query": "openlive"}'}})
    turn = await t.until_turn_complete()
    assert not any("toolCall" in m for m in turn)
    assert texts(turn) == ('[messages=3] google_search returned '
                           '{"output":"top result for openlive"}')
    assert search.queries == ["openlive"]
    # a failing tool is an error result the model is told about, not a dead session
    t.client({"realtimeInput": {"text": 'call: google_search {"query": "fail now"}'}})
    turn = await t.until_turn_complete()
    assert "the search backend is down" in texts(turn)
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_interruption_cancels_the_server_side_call() -> None:
    search = FakeSearch()
    t, task = start(search)
    t.client(setup([{"googleSearch": {}}]))
    await t.outbox.get()
    t.client({"realtimeInput": {"text": 'call: google_search {"query": "slow one"}'}})
    while not search.queries:
        await asyncio.sleep(0.01)
    t.client({"realtimeInput": {"text": "never mind"}})
    assert (await next_with(t, "serverContent"))["serverContent"] == {"interrupted": True}
    turn = await t.until_turn_complete()  # the interrupted turn
    turn = await t.until_turn_complete()  # the new one
    assert texts(turn).endswith("never mind")
    assert search.cancelled == 1
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


def test_server_tools_load_from_module_factory_specs() -> None:
    tools = load_server_tools(["tests.fakes.server_tools:create"])
    assert list(tools) == ["googleSearch"]
    with pytest.raises(ConfigError, match="not a built-in Live tool"):
        load_server_tools(["tests.fakes.server_tools:create_misnamed"])
    with pytest.raises(ConfigError, match="lacks builtin, functions, call"):
        load_server_tools(["tests.fakes.llm:create"])
    with pytest.raises(ConfigError, match="two server tools"):
        load_server_tools(["tests.fakes.server_tools:create"] * 2)
