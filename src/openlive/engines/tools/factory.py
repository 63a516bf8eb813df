"""Load the operator's server-side tools (``--server-tool module:factory``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from openlive.catalog.tools import BUILTIN_TOOLS
from openlive.engines.plugins import load_plugin
from openlive.engines.tools.base import ServerTool
from openlive.errors import ConfigError

_MEMBERS = ("builtin", "functions", "call", "aclose")


def load_server_tools(specs: Iterable[str]) -> dict[str, ServerTool]:
    """The tools named by ``module:factory`` specs, by the built-in each implements.

    Raises :class:`ConfigError` for an import failure, an unknown built-in name or two
    tools for the same built-in.
    """
    tools: dict[str, ServerTool] = {}
    for spec in specs:
        if ":" not in spec:
            raise ConfigError(f"server tool {spec!r}: expected 'package.module:factory'")
        tool = cast(ServerTool, load_plugin("server tool", spec, {}, _MEMBERS))
        if tool.builtin not in BUILTIN_TOOLS.values():
            known = ", ".join(sorted(BUILTIN_TOOLS.values()))
            raise ConfigError(
                f"server tool {spec!r} implements {tool.builtin!r}, which is not a built-in "
                f"Live tool; known: {known}"
            )
        if tool.builtin in tools:
            raise ConfigError(f"two server tools implement {tool.builtin}")
        if not tool.functions:
            raise ConfigError(f"server tool {spec!r} offers no functions")
        tools[tool.builtin] = tool
    return tools
