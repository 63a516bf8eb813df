"""The driver over an in-memory transport with the fake model: real tasks, no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.engines.llm.openai_compat import OpenAICompatModel
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.session.machine import Session
from tests.fakes.llm import EchoModel


class MemoryTransport:
    """The client end is ``inbox`` (frames to the server) and ``outbox`` (frames back)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: tuple[int, str] | None = None

    async def receive(self) -> str | bytes | None:
        return await self.inbox.get()

    async def send(self, data: bytes) -> None:
        await self.outbox.put(orjson.loads(data))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def client(self, frame: dict[str, Any] | str) -> None:
        self.inbox.put_nowait(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def until_turn_complete(self) -> list[dict[str, Any]]:
        got = []
        while True:
            msg = await asyncio.wait_for(self.outbox.get(), 5)
            got.append(msg)
            if msg.get("serverContent", {}).get("turnComplete"):
                return got


SETUP = {
    "setup": {
        "model": "models/gemini-2.0-flash-live-001",
        "generationConfig": {"responseModalities": ["TEXT"]},
    }
}


def start(model: EchoModel | None = None) -> tuple[MemoryTransport, EchoModel, asyncio.Task[None]]:
    model = model or EchoModel()
    transport = MemoryTransport()
    session = Session(session_id="t", catalog=ModelCatalog())
    driver = SessionDriver(session, transport, Engines({DEFAULT_BACKEND: model}))
    return transport, model, asyncio.create_task(driver.run())


def texts(messages: list[dict[str, Any]]) -> str:
    return "".join(
        p.get("text", "")
        for m in messages
        for p in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    )


async def test_text_turn_end_to_end() -> None:
    t, _, task = start()
    t.client(SETUP)
    assert await t.outbox.get() == {"setupComplete": {"sessionId": "t"}}
    t.client({"realtimeInput": {"text": "hello there"}})
    turn = await t.until_turn_complete()
    assert texts(turn) == "[messages=1] hello there"
    assert turn[-2] == {"serverContent": {"generationComplete": True}}
    assert turn[-1]["usageMetadata"]["responseTokenCount"] == 3
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_interrupting_a_slow_generation_cancels_it() -> None:
    t, model, task = start()
    t.client(SETUP)
    await t.outbox.get()
    t.client({"realtimeInput": {"text": "slow: one two three four five six seven"}})
    first = await asyncio.wait_for(t.outbox.get(), 5)
    assert "modelTurn" in first["serverContent"]
    t.client({"realtimeInput": {"text": "quick"}})
    interrupted = await t.until_turn_complete()
    assert {"serverContent": {"interrupted": True}} in interrupted
    answer = await t.until_turn_complete()
    assert texts(answer).endswith("quick")
    # the model saw only what had been sent of the interrupted answer
    assert model.requests[-1].messages[1].content == texts([first])
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_malformed_frame_closes_1007_and_engine_failure_1011() -> None:
    t, _, task = start()
    t.client(SETUP)
    await t.outbox.get()
    t.client("{not json")
    await asyncio.wait_for(task, 5)
    assert t.closed is not None and t.closed[0] == 1007 and "JSON" in t.closed[1]

    t, _, task = start()
    t.client(SETUP)
    await t.outbox.get()
    t.client({"realtimeInput": {"text": "fail: please"}})
    await asyncio.wait_for(task, 5)
    assert t.closed is not None and t.closed[0] == 1011


async def test_disconnect_cancels_generation_promptly() -> None:
    t, _, task = start()
    t.client(SETUP)
    await t.outbox.get()
    t.client({"realtimeInput": {"text": "slow: " + "word " * 50}})
    await asyncio.wait_for(t.outbox.get(), 5)
    t.inbox.put_nowait(None)
    await asyncio.wait_for(task, 1)  # would take 10 s if the generation kept running


async def test_a_remote_model_refusing_a_prompt_too_long_closes_1007_naming_the_limit() -> None:
    """vLLM's answer to a prompt longer than its model's context (HTTP 400) is the
    client's input being too large, as for the in-process model: 1007, not 1011."""
    refusal = {"error": {"message": "This model's maximum context length is 4096 tokens. "
                                    "However, your request has 9000 input tokens. Please "
                                    "reduce the length of the input messages.",
                         "type": "BadRequestError", "param": None, "code": 400}}
    remote = OpenAICompatModel("http://vllm.test/v1", "m", transport=httpx.MockTransport(
        lambda _: httpx.Response(400, json=refusal)))
    transport = MemoryTransport()
    session = Session(session_id="t", catalog=ModelCatalog())
    task = asyncio.create_task(
        SessionDriver(session, transport, Engines({DEFAULT_BACKEND: remote})).run())
    transport.client(SETUP)
    await transport.outbox.get()
    transport.client({"realtimeInput": {"text": "word " * 9000}})
    await asyncio.wait_for(task, 5)
    reason = ("The conversation is 9000 tokens long, more than the model's context window "
              "of 4096 tokens.")
    assert transport.closed == (1007, reason)
    await remote.aclose()
