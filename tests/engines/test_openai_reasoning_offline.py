"""OpenAICompatModel and reasoning servers: thoughts, their count, the budget sent, and
the relevance question of proactive audio (scripted HTTP answers, no server)."""

from __future__ import annotations

import json

import httpx
import pytest

from openlive.chat import DYNAMIC_THINKING
from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    LlmEvent,
    TextDelta,
    ThoughtDelta,
)
from openlive.engines.llm.openai_compat import OpenAICompatModel
from tests.engines.test_openai_compat_offline import BASE, MESSAGES, sse, streamed


def delta(**fields: object) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}


async def run(body: bytes, budget: int | None = None) -> tuple[list[LlmEvent], dict]:
    sent: dict = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.update(json.loads(request.content))
        return streamed(body)

    model = OpenAICompatModel(BASE, "m", transport=httpx.MockTransport(handler))
    request = GenerationRequest(MESSAGES, thinking_budget=budget)
    events = [event async for event in model.stream(request)]
    await model.aclose()
    return events, sent


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
async def test_reasoning_deltas_become_thoughts_counted_apart(key: str) -> None:
    body = sse(delta(**{key: "The user"}), delta(**{key: " greets."}),
               delta(content="Hello!"),
               {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 9,
                                         "completion_tokens_details": {"reasoning_tokens": 7}}},
               "[DONE]")
    events, _ = await run(body, budget=DYNAMIC_THINKING)
    assert events == [ThoughtDelta("The user"), ThoughtDelta(" greets."), TextDelta("Hello!"),
                      Finished(4, 2, "stop", thoughts_tokens=7)]


async def test_without_reasoning_token_details_each_chunk_is_a_thought_token() -> None:
    body = sse(delta(reasoning_content="a"), delta(reasoning_content="b"), delta(content="c"),
               {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}},
               "[DONE]")
    events, _ = await run(body)
    assert events[-1] == Finished(4, 1, "stop", thoughts_tokens=2)


@pytest.mark.parametrize(("budget", "fields"), [
    (None, {}),
    (0, {"chat_template_kwargs": {"enable_thinking": False}, "thinking_budget_tokens": 0}),
    (DYNAMIC_THINKING, {"chat_template_kwargs": {"enable_thinking": True}}),
    (300, {"chat_template_kwargs": {"enable_thinking": True}, "thinking_budget_tokens": 300}),
])
async def test_the_budget_is_sent_as_servers_take_it(budget: int | None,
                                                     fields: dict[str, object]) -> None:
    _, sent = await run(sse(delta(content="x"), "[DONE]"), budget)
    for key in ("chat_template_kwargs", "thinking_budget_tokens"):
        assert sent.get(key) == fields.get(key)


async def test_relevance_is_read_from_the_answers_logprobs() -> None:
    sent: dict = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.update(json.loads(request.content))
        top = [{"token": "no", "logprob": -0.1}, {"token": "Yes", "logprob": -2.4}]
        return httpx.Response(200, json={
            "choices": [{"message": {"content": "no"},
                         "logprobs": {"content": [{"token": "no", "top_logprobs": top}]}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 1}})

    model = OpenAICompatModel(BASE, "m", transport=httpx.MockTransport(handler))
    cooking = (ChatMessage("system", "You help with cooking."),
               ChatMessage("user", "Did you feed the dog?"))
    relevance = await model.judge_relevance(GenerationRequest(cooking))
    await model.aclose()
    assert relevance.probability == pytest.approx(0.0909, abs=1e-3)
    assert relevance.prompt_tokens == 50
    assert sent["max_tokens"] == 1 and sent["logprobs"] is True
    assert sent["messages"][-1]["role"] == "system"  # the question follows the conversation
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}


async def test_relevance_from_the_word_when_the_server_gives_no_logprobs() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"message": {"content": "No."}}]})

    model = OpenAICompatModel(BASE, "m", transport=httpx.MockTransport(handler))
    relevance = await model.judge_relevance(GenerationRequest(MESSAGES))
    await model.aclose()
    assert relevance.probability == 0.0
