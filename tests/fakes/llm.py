"""A deterministic language model for tests: it repeats what it was told.

Reply: ``"[messages=N] <text of the last user message>"`` where N counts every message
in the request (system included), streamed one word per :class:`TextDelta`. Token
counts are whitespace words, so tests can check the exact usage numbers. A user
message that starts with ``slow:`` makes each word take ``SLOW_WORD_SECONDS`` so that
tests can interrupt a generation midway; ``fail:`` makes the engine raise. Images on
the last user message are described first (``[messages=2 images=1] [image/jpeg 1234
bytes auto] <text>``, where ``images`` counts every image in the request).

Function calls, when the request declares tools: ``Checking. call: get_weather {"city":
"Paris"} | call: get_time {}`` streams ``Checking.`` and then asks for the two calls
(validated against the declarations like the real backends do; invalid ones are
rejected, and a reply whose every call is invalid is a ``MalformedToolCall``). A request
that ends with function results is answered ``[messages=N] get_weather returned
{...}`` for each result.

Thinking: a request with a thinking budget (not 0; None is the backend default: no
thinking) first streams the thoughts ``Thinking about: <last user text>`` one word per
:class:`ThoughtDelta`, at most ``budget`` words (-1: all), counted as thought tokens.
Proactive audio: :meth:`EchoModel.judge_relevance` finds a last user message that starts
with ``aside:`` not meant for it (probability 0), any other one meant for it (1).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    LlmCapabilities,
    LlmEvent,
    MalformedToolCall,
    Relevance,
    TextDelta,
    ThoughtDelta,
    ToolCall,
    ToolCallsRequested,
)
from openlive.engines.llm.tools import check_call, declared_by_name
from openlive.engines.scheduler import Priority
from openlive.errors import EngineError

SLOW_WORD_SECONDS = 0.2


CALL = "call:"


def reply_for(request: GenerationRequest) -> str:
    """The exact text the fake model answers to ``request``."""
    results: list[ChatMessage] = []
    for message in reversed(request.messages):
        if message.role != "tool":
            break
        results.insert(0, message)
    if results:
        told = "; ".join(f"{m.name} returned {m.content}" for m in results)
        return f"[messages={len(request.messages)}] {told}"
    last = next((m for m in reversed(request.messages) if m.role == "user"), None)
    last_user = last.content if last is not None else ""
    if last is not None and last.images:  # what it was shown, so tests can check it
        seen = " ".join(f"[{i.mime_type} {len(i.data)} bytes {i.detail}]" for i in last.images)
        last_user = f"{seen} {last_user}".strip()
    if request.tools and CALL in last_user:
        return last_user.split(CALL, 1)[0].strip()
    return f"[{_counts(request.messages)}] {last_user}".strip()


def _counts(messages: Sequence[ChatMessage]) -> str:
    images = sum(len(m.images) for m in messages)
    return f"messages={len(messages)}" + (f" images={images}" if images else "")


def calls_for(request: GenerationRequest) -> ToolCallsRequested | MalformedToolCall | None:
    """The calls the fake model asks for (``call: name {json}`` in the last user turn)."""
    last = request.messages[-1] if request.messages else None
    if not request.tools or last is None or last.role != "user" or CALL not in last.content:
        return None
    declared = declared_by_name(request.tools)
    calls: list[ToolCall] = []
    rejected: list[str] = []
    for segment in last.content.split(CALL)[1:]:
        name, _, raw = segment.strip().rstrip("|").strip().partition(" ")
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError:
            rejected.append(f"unreadable arguments for {name}")
            continue
        checked = check_call(name, arguments, declared)
        if isinstance(checked, str):
            rejected.append(checked)
        else:
            calls.append(checked)
    if calls:
        return ToolCallsRequested(tuple(calls), tuple(rejected))
    return MalformedToolCall(tuple(rejected))


def thoughts_for(request: GenerationRequest) -> list[str]:
    """The words the fake model thinks before answering ``request`` (see the module doc)."""
    budget = request.thinking_budget
    if budget is None or budget == 0:
        return []
    last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    words = f"Thinking about: {last}".split()
    return words if budget < 0 else words[:budget]


def _words(messages: Sequence[ChatMessage]) -> int:
    return sum(len(m.content.split()) for m in messages)


class EchoModel:
    """The fake engine; ``delay`` seconds between words (0 = as fast as the loop allows)."""

    def __init__(self, delay: float = 0.0, context_window: int = 4096) -> None:
        self.delay = delay
        self._capabilities = LlmCapabilities(context_window=context_window, tools=True,
                                             vision=True)
        self.requests: list[GenerationRequest] = []
        self.priorities: list[Priority] = []  # of every request, in order
        # errors the next streams raise before their first event, in order (retries)
        self.failures: list[EngineError] = []

    @property
    def capabilities(self) -> LlmCapabilities:
        return self._capabilities

    async def stream(
        self, request: GenerationRequest, *, priority: Priority = Priority.WAITING
    ) -> AsyncIterator[LlmEvent]:
        self.requests.append(request)
        self.priorities.append(priority)
        text = reply_for(request)
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if self.failures:
            raise self.failures.pop(0)
        if last_user.startswith("fail:"):
            raise EngineError("the fake model was asked to fail")
        delay = SLOW_WORD_SECONDS if last_user.startswith("slow:") else self.delay
        words = text.split(" ")
        limit = request.sampling.max_tokens
        finish = "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        if words == [""]:
            words = []  # nothing to say before the calls
        thoughts = thoughts_for(request)
        for i, word in enumerate(thoughts):
            await asyncio.sleep(delay)
            yield ThoughtDelta(word if i == 0 else " " + word)
        for i, word in enumerate(words):
            await asyncio.sleep(delay)
            yield TextDelta(word if i == 0 else " " + word)
        calls = calls_for(request)
        if calls is not None:
            yield calls
        yield Finished(
            prompt_tokens=_words(request.messages),
            completion_tokens=len(words),
            finish_reason=finish,
            thoughts_tokens=len(thoughts),
        )

    async def judge_relevance(self, request: GenerationRequest, *,
                              priority: Priority = Priority.WAITING) -> Relevance:
        self.requests.append(request)
        self.priorities.append(priority)
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        aside = last_user.rsplit("\n", 1)[-1].startswith("aside:")
        return Relevance(0.0 if aside else 1.0, _words(request.messages))

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return _words(messages)

    async def aclose(self) -> None:
        return None


def create(**options: Any) -> EchoModel:
    """Factory for ``openlive serve --llm tests.fakes.llm:create``."""
    return EchoModel(delay=float(options.get("delay", 0.0)))
