"""The captured SDK traffic in ``shared/spec/captures/*/frames.jsonl``, as test vectors.

Each line of a ``frames.jsonl`` is one event: ``upgrade`` (path, query, headers of the
WebSocket handshake), ``http`` (a plain REST request), ``c2s`` / ``s2c`` frames (``raw`` text
and/or parsed ``json``), a server ``close`` and ``closed``. The shared folder sits beside
the repository (``<repo>/../shared``); ``OPENLIVE_SHARED_DIR`` names it otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest


def shared_dir() -> Path | None:
    """The shared folder, or None when neither location has the captures."""
    candidates = [Path(__file__).resolve().parents[2].parent / "shared"]
    if env := os.environ.get("OPENLIVE_SHARED_DIR"):
        candidates.append(Path(env))
    for candidate in candidates:
        if (candidate / "spec" / "captures").is_dir():
            return candidate
    return None


SHARED_DIR = shared_dir()
CAPTURES_DIR = SHARED_DIR / "spec" / "captures" if SHARED_DIR else None

needs_captures = pytest.mark.skipif(
    CAPTURES_DIR is None,
    reason="shared/spec/captures not found beside the repo; set OPENLIVE_SHARED_DIR",
)


@dataclass(frozen=True)
class Event:
    """One line of a capture: which capture, which line, what it holds."""

    capture: str  # "python", "js", "python_extra", "single_port"
    line: int  # 1-based line number in frames.jsonl
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.capture}:{self.line}"

    @property
    def raw(self) -> str:
        return str(self.data["raw"])

    @property
    def json(self) -> Any:
        return self.data["json"]


@cache
def all_events() -> tuple[Event, ...]:
    """Every event of every capture, in file order (empty when the captures are missing)."""
    if CAPTURES_DIR is None:
        return ()
    events = []
    for path in sorted(CAPTURES_DIR.glob("*/frames.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    events.append(Event(path.parent.name, number, json.loads(line)))
    return tuple(events)


def client_frames() -> list[Event]:
    return [e for e in all_events() if e.data.get("dir") == "c2s"]


def server_frames() -> list[Event]:
    """Server frames that carried JSON (server close events carry a code instead)."""
    return [e for e in all_events() if e.data.get("dir") == "s2c" and "json" in e.data]


def upgrades() -> list[Event]:
    return [e for e in all_events() if e.data.get("event") == "upgrade"]


def http_requests() -> list[Event]:
    return [e for e in all_events() if e.data.get("event") == "http"]


def find_client_frame(capture: str, predicate: Callable[[dict[str, Any]], bool]) -> Event:
    """The first client frame of ``capture`` whose parsed JSON satisfies ``predicate``."""
    for event in client_frames():
        if event.capture == capture and predicate(event.json):
            return event
    raise LookupError(f"no matching c2s frame in capture {capture!r}")


def lower_headers(event: Event) -> dict[str, str]:
    """The upgrade request's headers keyed lower-case, as the server layer hands them over."""
    return {name.lower(): value for name, value in event.data["request"]["headers"]}


def params(events: list[Event]) -> list[Any]:
    """``pytest.param`` per event, id'd by capture and line."""
    return [pytest.param(event, id=event.id) for event in events]
