"""Dependencies point down (STYLE.md): the session is pure, and engines do not know it.

- Importing every module of ``openlive.session`` in a fresh interpreter loads none of
  openlive's I/O packages (runtime, server, store), no event loop and no socket library
  of its own, and (once issue 10 is done) no engine module: the session knows engines
  only through capabilities handed to it as data.
- No module of ``openlive.engines`` imports ``openlive.session``. Checked on the source
  with ``ast``: engine modules import heavy optional libraries lazily, and importing
  them all would prove little about the lazy paths.

pydantic imports ``socket`` on its own (see ``tests/protocol/test_sans_io.py``), so
those modules are checked against a baseline of pydantic + orjson.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

RECORD_REPLAYS = False

SRC = Path(__file__).resolve().parents[2] / "src"
ENGINES = SRC / "openlive" / "engines"

PROBE = """
import importlib, json, pkgutil, sys
import orjson, pydantic
from pydantic import BaseModel
class _Baseline(BaseModel):
    x: int
baseline = set(sys.modules)
import openlive.session
names = sorted(m.name for m in pkgutil.walk_packages(openlive.session.__path__,
                                                     "openlive.session."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"names": names, "baseline": sorted(baseline), "after": sorted(sys.modules)}))
"""

NEVER = ["asyncio", "ssl", "_ssl", "websockets", "uvicorn", "starlette", "httpx", "anyio",
         "concurrent.futures", "subprocess", "openlive.runtime", "openlive.server",
         "openlive.store"]
NOT_ADDED = ["socket", "_socket", "select", "selectors"]  # pydantic loads these itself


@cache
def _session_import() -> tuple[list[str], set[str], set[str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            env=env, timeout=120, check=True)
    data = json.loads(result.stdout)
    return data["names"], set(data["baseline"]), set(data["after"])


def _loaded(prefix: str, modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))


def test_session_loads_no_io_modules() -> None:
    names, baseline, after = _session_import()
    assert "openlive.session.machine" in names and set(names) <= after
    for prefix in NEVER:
        assert not _loaded(prefix, after), f"openlive.session loads {_loaded(prefix, after)}"
    for prefix in NOT_ADDED:
        added = _loaded(prefix, after - baseline)
        assert not added, f"openlive.session itself imports {added}"


def test_session_loads_no_engine_modules() -> None:
    _, _, after = _session_import()
    assert not _loaded("openlive.engines", after), \
        f"openlive.session loads {_loaded('openlive.engines', after)}"


def _imports(path: Path, package: str | None = None) -> set[str]:
    """Every module ``path`` (in ``package``) imports, at any depth (lazy imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package upwards
                parts = package.split(".")
                base = ".".join([*parts[:len(parts) - node.level + 1], *filter(None, [base])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


ENGINE_FILES = sorted(ENGINES.rglob("*.py"))
# Engine modules allowed to import the session: none.
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("path", [
    pytest.param(p, id=str(p.relative_to(ENGINES)),
                 marks=[pytest.mark.xfail(strict=True, reason=KNOWN[str(p.relative_to(ENGINES))])]
                 if str(p.relative_to(ENGINES)) in KNOWN else [])
    for p in ENGINE_FILES])
def test_engine_module_does_not_import_session(path: Path) -> None:
    session = sorted(m for m in _imports(path) if _loaded("openlive.session", {m}))
    assert not session, f"{path.relative_to(SRC)} imports {session}"


def test_the_engine_scan_sees_imports(tmp_path: Path) -> None:
    """The scan finds lazy and relative imports too (else it would prove nothing)."""
    assert len(ENGINE_FILES) > 10
    assert "openlive.engines.asr.whisper" in _imports(ENGINES / "asr" / "factory.py")
    probe = tmp_path / "probe.py"
    probe.write_text("def later():\n    from ...session import machine\n")
    assert _loaded("openlive.session", _imports(probe, "openlive.engines.asr"))
