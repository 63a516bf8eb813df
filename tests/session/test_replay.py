"""Old == new: every recorded session, fed again to today's Session, does the same.

The recordings in ``replays/`` were made from the existing session tests (see
``recorder.py``; regenerate with ``tests/session/record_replays.sh``). Each is replayed
into a fresh Session built with the recorded arguments, event by event at the recorded
times, and what it does is compared through :func:`tests.session.observe.observe` — the
one place to adapt when the session's action types change.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from tests.session.observe import JSON
from tests.session.replaying import REPLAYS, load, replay, replay_files

RECORD_REPLAYS = False  # replaying builds sessions of its own: not a recording


def _cases() -> list[tuple[Path, int]]:
    cases = []
    for path in replay_files():
        for index in range(len(load(path)["sessions"])):
            cases.append((path, index))
    return cases


def _pretty(value: JSON) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False).splitlines()


def _short(value: JSON) -> JSON:
    """``value`` with base64 payloads cut to their length, for a readable failure."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return {"b64 chars": len(value["b64"])}
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def test_there_are_recordings() -> None:
    assert len(replay_files()) >= 50, f"{REPLAYS} lost its recordings; regenerate them"


@pytest.mark.parametrize(("path", "index"), _cases(),
                         ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_replay(path: Path, index: int) -> None:
    recording = load(path)["sessions"][index]
    for step, want, got in replay(recording):
        if want != got:
            event = _short(recording["steps"][step].get("event") or recording["steps"][step])
            diff = "\n".join(difflib.unified_diff(_pretty(want), _pretty(got), "recorded",
                                                  "now", lineterm=""))
            pytest.fail(f"{path.name} session {index} step {step}: fed "
                        f"{json.dumps(event)[:500]}\n{diff}", pytrace=False)
