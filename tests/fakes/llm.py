"""A deterministic language model for tests: it repeats what it was told.

Reply: ``"[messages=N] <text of the last user message>"`` where N counts every message
in the request (system included), streamed one word per :class:`TextDelta`. Token
counts are whitespace words, so tests can check the exact usage numbers. A user
message that starts with ``slow:`` makes each word take ``SLOW_WORD_SECONDS`` so that
tests can interrupt a generation midway; ``fail:`` makes the engine raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    LlmCapabilities,
    LlmEvent,
    TextDelta,
)
from openlive.errors import EngineError

SLOW_WORD_SECONDS = 0.2


def reply_for(request: GenerationRequest) -> str:
    """The exact text the fake model answers to ``request``."""
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return f"[messages={len(request.messages)}] {last_user}".strip()


def _words(messages: Sequence[ChatMessage]) -> int:
    return sum(len(m.content.split()) for m in messages)


class EchoModel:
    """The fake engine; ``delay`` seconds between words (0 = as fast as the loop allows)."""

    def __init__(self, delay: float = 0.0, context_window: int = 4096) -> None:
        self.delay = delay
        self._capabilities = LlmCapabilities(context_window=context_window)
        self.requests: list[GenerationRequest] = []

    @property
    def capabilities(self) -> LlmCapabilities:
        return self._capabilities

    async def stream(self, request: GenerationRequest) -> AsyncIterator[LlmEvent]:
        self.requests.append(request)
        text = reply_for(request)
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if last_user.startswith("fail:"):
            raise EngineError("the fake model was asked to fail")
        delay = SLOW_WORD_SECONDS if last_user.startswith("slow:") else self.delay
        words = text.split(" ")
        limit = request.sampling.max_tokens
        finish = "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        for i, word in enumerate(words):
            await asyncio.sleep(delay)
            yield TextDelta(word if i == 0 else " " + word)
        yield Finished(
            prompt_tokens=_words(request.messages),
            completion_tokens=len(words),
            finish_reason=finish,
        )

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return _words(messages)

    async def aclose(self) -> None:
        return None


def create(**options: Any) -> EchoModel:
    """Factory for ``openlive serve --llm tests.fakes.llm:create``."""
    return EchoModel(delay=float(options.get("delay", 0.0)))
