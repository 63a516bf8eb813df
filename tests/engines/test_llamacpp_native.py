"""LlamaCppModel's thinking step and relevance judgment on the real default model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from openlive.chat import DYNAMIC_THINKING, SpokenReply
from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    LlmEvent,
    SamplingParams,
    TextDelta,
    ThoughtDelta,
)
from openlive.engines.llm.reasoning import DYNAMIC_BUDGET

pytestmark = [pytest.mark.realmodel, pytest.mark.asyncio(loop_scope="module")]

QUESTION = (ChatMessage("system", "Answer in one short sentence."),
            ChatMessage("user", "What is the capital of France?"))
COOKING = ChatMessage("system", "You are an assistant for Italian cooking. Only chime in "
                                "when the topic is Italian cooking.")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def model() -> AsyncIterator[object]:
    pytest.importorskip("llama_cpp")
    from openlive.engines.llm.llamacpp import LlamaCppModel

    loaded = LlamaCppModel.from_default_weights(n_ctx=2048)
    yield loaded
    await loaded.aclose()


async def run(model: object, budget: int | None, max_tokens: int = 24) -> list[LlmEvent]:
    request = GenerationRequest(QUESTION, SamplingParams(temperature=0.0, max_tokens=max_tokens),
                                thinking_budget=budget)
    return [event async for event in model.stream(request)]  # type: ignore[attr-defined]


async def test_a_budget_thinks_first_within_it_then_answers(model: object) -> None:
    events = await run(model, budget=16)
    kinds = [type(e) for e in events]
    first_text = kinds.index(TextDelta)
    assert ThoughtDelta in kinds[:first_text] and ThoughtDelta not in kinds[first_text:]
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert 0 < finished.thoughts_tokens <= 16
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "paris" in answer.lower()
    # the answer is counted apart from the thoughts, and the prompt is the question's
    unthinking = (await run(model, budget=None))[-1]
    assert isinstance(unthinking, Finished)
    assert finished.prompt_tokens < unthinking.prompt_tokens + 60  # the thinking note only


@pytest.mark.parametrize("budget", [None, 0])
async def test_no_budget_or_zero_means_no_thoughts(model: object, budget: int | None) -> None:
    events = await run(model, budget)
    assert not [e for e in events if isinstance(e, ThoughtDelta)]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.thoughts_tokens == 0


async def test_dynamic_thinking_is_capped(model: object) -> None:
    finished = (await run(model, DYNAMIC_THINKING, max_tokens=4))[-1]
    assert isinstance(finished, Finished) and 0 < finished.thoughts_tokens <= DYNAMIC_BUDGET


async def test_cancelling_while_thinking_stops_promptly(model: object) -> None:
    request = GenerationRequest(QUESTION, SamplingParams(max_tokens=8), thinking_budget=400)

    async def consume() -> None:
        async for event in model.stream(request):  # type: ignore[attr-defined]
            if isinstance(event, ThoughtDelta):
                await asyncio.sleep(3600)  # hold the stream while the model thinks

    task = asyncio.create_task(consume())
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5.0)
    # the model is free again
    assert isinstance((await run(model, None, max_tokens=2))[-1], Finished)


@pytest.mark.parametrize(("words", "relevant"), [
    ("How long should I boil fresh pasta?", True),
    ("What cheese goes into a carbonara?", True),
    ("Honey, did you remember to feed the dog?", False),
    ("What's the capital of Australia?", False),
])
async def test_relevance_tells_the_assistants_topic_from_other_talk(
        model: object, words: str, relevant: bool) -> None:
    request = GenerationRequest((COOKING, ChatMessage("user", words)),
                                spoken=SpokenReply("en-US", 240))
    relevance = await model.judge_relevance(request)  # type: ignore[attr-defined]
    assert (relevance.probability >= 0.5) is relevant, relevance
    assert relevance.prompt_tokens > 20


async def test_the_answer_after_a_judgment_finds_the_conversation_cached(model: object) -> None:
    messages = (COOKING, ChatMessage("user", "How do I keep my risotto creamy?"))
    request = GenerationRequest(messages, SamplingParams(max_tokens=4, temperature=0.0),
                                spoken=SpokenReply("en-US", 240))
    await model.judge_relevance(request)  # type: ignore[attr-defined]
    llama = model._llama  # type: ignore[attr-defined]
    held_before = llama.n_tokens
    events = [event async for event in model.stream(request)]  # type: ignore[attr-defined]
    assert isinstance(events[-1], Finished)
    # everything but the words' own tokenization boundary and the turn's close was there
    assert held_before >= events[-1].prompt_tokens - 12
