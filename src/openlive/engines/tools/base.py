"""Server-side tools: an operator's own implementation of a built-in Gemini tool.

A Live program may ask for ``{"googleSearch": {}}``, ``{"codeExecution": {}}``,
``{"urlContext": {}}`` or ``{"googleMaps": {}}``: tools the hosted API runs itself. An
offline server has none of them, so a session that asks for one is refused with a reason
that names it, unless the operator plugs in an implementation:

    openlive serve --server-tool mypackage.search:create

``create(**options)`` returns a :class:`ServerTool`. Its ``builtin`` is the wire name it
stands in for; its ``functions`` are offered to the model in every session that asks
for that built-in. When the model calls one, the server runs :meth:`ServerTool.call` and
hands the result to the model; the client never sees a ``toolCall`` for it, just as
with the hosted built-ins. A call is cancelled (the task running it is cancelled) when
the user interrupts the turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from openlive.engines.llm.base import ToolSpec


class ServerTool(Protocol):
    """A built-in tool run by this server; one instance serves every session."""

    @property
    def builtin(self) -> str:
        """The wire name of the built-in it implements, e.g. ``"googleSearch"``."""
        ...

    @property
    def functions(self) -> tuple[ToolSpec, ...]:
        """The functions the model may call for it (JSON Schema arguments)."""
        ...

    async def call(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        """Run ``name`` with validated ``arguments``; return the response object.

        By convention ``{"output": ...}`` for a result; raise any exception for a
        failure (the model is told ``{"error": "<message>"}``). Must not block the loop.
        """
        ...

    async def aclose(self) -> None:
        """Release what the tool holds (connections, processes)."""
        ...
