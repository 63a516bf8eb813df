"""Function calling on the real default model (Qwen2.5-Coder-0.5B), greedy decoding.

Two conversations: in-process llama.cpp (``LlamaCppModel``), then the same model behind
``python -m llama_cpp.server`` (``OpenAICompatModel``); each model is loaded for its own
class and freed before the next, so only one runs at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    LanguageModel,
    LlmEvent,
    SamplingParams,
    TextDelta,
    ToolCall,
    ToolCallsRequested,
    ToolSpec,
)
from tests.engines.test_openai_compat import API_KEY, free_port, wait_until_ready

pytestmark = [pytest.mark.realmodel, pytest.mark.asyncio(loop_scope="module")]

WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather for a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city's name"}},
        "required": ["city"],
    },
)
TOOLS = (WEATHER,)
SYSTEM = ChatMessage("system", "You are a helpful voice assistant. Answer briefly.")
QUESTION = (SYSTEM, ChatMessage("user", "What's the weather like in Paris right now?"))
RESULT = {"output": {"temperature_c": 18, "sky": "light rain"}}


async def generate(
    model: LanguageModel, messages: tuple[ChatMessage, ...], max_tokens: int = 48
) -> list[LlmEvent]:
    sampling = SamplingParams(max_tokens=max_tokens, temperature=0.0)
    request = GenerationRequest(messages, sampling, tools=TOOLS)
    events = [event async for event in model.stream(request)]
    assert isinstance(events[-1], Finished)
    assert sum(isinstance(event, ToolCallsRequested) for event in events) <= 1
    return events


def text_of(events: list[LlmEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def calls_of(events: list[LlmEvent]) -> tuple[ToolCall, ...]:
    requested = [event for event in events if isinstance(event, ToolCallsRequested)]
    return requested[0].calls if requested else ()


def after_the_call(call: ToolCall) -> tuple[ChatMessage, ...]:
    return (
        *QUESTION,
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", json.dumps(RESULT), tool_call_id=call.id, name=call.name),
    )


async def check_weather_round_trip(model: LanguageModel) -> None:
    events = await generate(model, QUESTION)
    calls = calls_of(events)
    assert [(call.name, call.arguments) for call in calls] == [("get_weather", {"city": "Paris"})]
    assert calls[0].id.startswith("function-call-")
    assert "{" not in text_of(events)  # the call's JSON never reaches the user as text
    assert isinstance(events[-2], ToolCallsRequested)  # just before Finished

    answer = await generate(model, after_the_call(calls[0]))
    assert calls_of(answer) == ()
    said = text_of(answer).lower()
    assert "rain" in said or "18" in said, said


@pytest_asyncio.fixture(scope="class", loop_scope="module")
async def llamacpp_model() -> AsyncIterator[Any]:
    pytest.importorskip("llama_cpp")
    from openlive.engines.llm.llamacpp import LlamaCppModel

    loaded = LlamaCppModel.from_default_weights(n_ctx=2048)
    yield loaded
    await loaded.aclose()


@pytest.fixture(scope="class")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp.server")
    from openlive.engines.models import QWEN25_CODER_05B
    from openlive.engines.weights import ensure

    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(ensure(QWEN25_CODER_05B, progress=False)),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", str(os.cpu_count() or 1), "--api_key", API_KEY, "--verbose", "false",
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("llama-server-tools") / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(process, f"http://127.0.0.1:{port}/v1", log, timeout=120)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest_asyncio.fixture(scope="class", loop_scope="module")
async def server_model(server_url: str) -> AsyncIterator[Any]:
    from openlive.engines.llm.openai_compat import OpenAICompatModel

    client = OpenAICompatModel(server_url, "qwen", api_key=API_KEY, context_window=2048)
    yield client
    await client.aclose()


class TestLlamaCpp:
    @pytest.fixture
    def model(self, llamacpp_model: Any) -> Any:
        return llamacpp_model

    async def test_the_model_can_call_tools_through_its_own_template(self, model: Any) -> None:
        assert model.capabilities.tools
        assert model.tool_prompt == "template"  # Qwen2.5's template renders tools
        with_tools = await model.count_tokens(QUESTION, TOOLS)
        assert with_tools > await model.count_tokens(QUESTION) + 30

    async def test_weather_question_calls_the_tool_then_the_answer_uses_the_result(
        self, model: Any
    ) -> None:
        await check_weather_round_trip(model)

    async def test_a_question_no_tool_fits_gets_a_text_answer(self, model: Any) -> None:
        events = await generate(
            model, (SYSTEM, ChatMessage("user", "What is the capital of Italy?"))
        )
        assert calls_of(events) == ()
        assert "rome" in text_of(events).lower()

    async def test_cancelling_while_a_call_is_held_back(self, model: Any) -> None:
        # greedy: at the default temperature the model sometimes answers in words, whose
        # first event then comes early (a CI run measured it)
        sampling = SamplingParams(max_tokens=48, temperature=0.0)
        stream = model.stream(GenerationRequest(QUESTION, sampling, TOOLS))
        task = asyncio.create_task(anext(stream))  # the call is held: no event comes early
        try:
            # a call takes a dozen tokens or more (45 ms each here): 0.15 s in, it is being
            # written and held (0.5 s was enough for the whole call from a cached prompt)
            await asyncio.sleep(0.15)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            # a stream left open holds the model's one slot: everything after would wait
            await stream.aclose()
        events = await generate(model, (SYSTEM, ChatMessage("user", "Say OK.")), max_tokens=4)
        assert isinstance(events[-1], Finished) and events[-1].completion_tokens >= 1


class TestOpenAIServer:
    """``llama_cpp.server`` does not parse calls while streaming: they come back as text."""

    @pytest.fixture
    def model(self, server_model: Any) -> Any:
        return server_model

    async def test_a_call_written_as_text_becomes_a_tool_call(self, model: Any) -> None:
        events = await generate(model, QUESTION)
        calls = calls_of(events)
        assert [(call.name, call.arguments) for call in calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        assert text_of(events) == ""
        finished = events[-1]
        assert isinstance(finished, Finished)
        assert finished.prompt_tokens == await model.count_tokens(QUESTION, TOOLS)
