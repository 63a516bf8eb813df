"""A server-side ``googleSearch`` for tests: answers from a small table, offline.

``openlive serve --server-tool tests.fakes.server_tools:create``. A query containing
``fail`` raises (the model is told the error); ``slow`` takes ``SLOW_SECONDS``, so a
test can interrupt it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from openlive.engines.llm.base import ToolSpec

SLOW_SECONDS = 5.0
SEARCH = ToolSpec(
    "google_search",
    "Search the web and return the top result.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


class FakeSearch:
    builtin = "googleSearch"
    functions = (SEARCH,)

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.cancelled = 0

    async def call(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        query = str(arguments["query"])
        self.queries.append(query)
        if "fail" in query:
            raise RuntimeError("the search backend is down")
        if "slow" in query:
            try:
                await asyncio.sleep(SLOW_SECONDS)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return {"output": f"top result for {query}"}

    async def aclose(self) -> None:
        return None


def create() -> FakeSearch:
    return FakeSearch()


def create_misnamed() -> FakeSearch:
    """A tool claiming a built-in the Live API does not have (a configuration error)."""
    tool = FakeSearch()
    tool.builtin = "bingSearch"
    return tool
