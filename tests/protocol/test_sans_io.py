"""The protocol layer is sans-I/O (STYLE.md lesson 1): importing it loads no event loop,
no socket or TLS library, no web framework and none of openlive's I/O packages.

Checked in a fresh interpreter, since this test process has imported everything already.
pydantic itself imports ``socket`` and ``selectors`` (through ``pydantic.version`` →
``platform``/``importlib.metadata``), so those are checked against a baseline of
pydantic + orjson alone: the protocol package must add no I/O module of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = """
import json, sys
import orjson, pydantic
from pydantic import BaseModel
class _Baseline(BaseModel):
    x: int
baseline = set(sys.modules)
import openlive.protocol.codec, openlive.protocol.endpoint
print(json.dumps({"baseline": sorted(baseline), "after": sorted(sys.modules)}))
"""

# Never loaded, not even by pydantic.
NEVER = [
    "asyncio",
    "ssl",
    "_ssl",
    "websockets",
    "uvicorn",
    "starlette",
    "httpx",
    "anyio",
    "h11",
    "concurrent.futures",
    "subprocess",
    "openlive.engines",
    "openlive.server",
    "openlive.runtime",
    "openlive.session",
    "openlive.store",
    "openlive.audio",
    "openlive.config",
    "openlive.cli",
]
# Loaded by pydantic on its own; the protocol package must not be what loads them.
NOT_ADDED = ["socket", "_socket", "select", "selectors", "threading", "http", "urllib.request"]


def _modules() -> tuple[set[str], set[str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    data = json.loads(result.stdout)
    return set(data["baseline"]), set(data["after"])


def test_protocol_imports_no_io_modules() -> None:
    baseline, after = _modules()
    assert "openlive.protocol.codec" in after and "openlive.protocol.endpoint" in after

    def loaded(name: str, modules: set[str]) -> list[str]:
        return sorted(m for m in modules if m == name or m.startswith(name + "."))

    for name in NEVER:
        assert not loaded(name, after), f"importing the protocol layer loaded {loaded(name, after)}"
    added = after - baseline
    for name in NOT_ADDED:
        assert not loaded(name, added), f"the protocol layer itself imports {loaded(name, added)}"
    # Of openlive, only the protocol package, its errors and the package root.
    openlive_added = {m for m in added if m.split(".")[0] == "openlive"}
    assert {"openlive.protocol.codec", "openlive.protocol.endpoint"} <= openlive_added
    assert all(
        m in ("openlive", "openlive.errors") or m.startswith("openlive.protocol")
        for m in openlive_added
    ), openlive_added
