"""Recorded sessions: the file format, and feeding a recording to a fresh Session.

A replay file (``tests/session/replays/*.json``, or ``.json.gz`` when large) holds what
every :class:`~openlive.session.machine.Session` of one test did::

    {"test": "<pytest node id>",
     "sessions": [{"init": {<constructor keyword arguments>},
                   "steps": [{"event": {...}, "now": 1.25, "actions": [<observe view>]},
                             {"abort": {"code": 1007, "reason": "..."}, "actions": [...]},
                             {"event": {...}, "now": 2.0, "raises": "SomeError"}]}]}

Events and constructor arguments are written with :mod:`tests.session.observe`
(exact: they are fed again), actions as :func:`~tests.session.observe.observe` sees them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_type_hints

from openlive.errors import CloseCode, ProtocolError
from openlive.session.machine import Session
from tests.session.observe import JSON, decode_event, decode_value, encode_value, observe

REPLAYS = Path(__file__).resolve().parent / "replays"
GZIP_ABOVE = 64 * 1024  # bytes of JSON past which a replay is stored compressed

_INIT_HINTS = get_type_hints(Session.__init__)


def encode_init(kwargs: dict[str, Any]) -> JSON:
    """A Session's constructor keyword arguments as JSON."""
    return {name: encode_value(value) for name, value in kwargs.items()}


def new_session(init: JSON) -> Session:
    """A fresh Session built with the recorded constructor arguments."""
    return Session(**{name: decode_value(_INIT_HINTS[name], value)
                      for name, value in init.items()})


def _replayed_error(abort: JSON) -> ProtocolError:
    """An error that ends a session as the recorded one did (``abort`` reads only its
    close code and reason)."""
    error = ProtocolError(abort["reason"])
    error.close_code = CloseCode(abort["code"])
    return error


def run_step(session: Session, step: JSON) -> JSON:
    """Feed one recorded step; return what the session did, shaped like the record."""
    if "abort" in step:
        return {"actions": observe(session.abort(_replayed_error(step["abort"])))}
    try:
        actions = session.handle(decode_event(step["event"]), step["now"])
    except Exception as exc:  # noqa: BLE001 - recorded too: a replay must fail the same way
        return {"raises": type(exc).__name__}
    return {"actions": observe(actions)}


def expected(step: JSON) -> JSON:
    """The outcome recorded for ``step``, comparable with :func:`run_step`'s."""
    return {"raises": step["raises"]} if "raises" in step else {"actions": step["actions"]}


def replay(recording: JSON) -> Iterator[tuple[int, JSON, JSON]]:
    """Feed a recorded session to a fresh one: (step index, expected, actual) per step."""
    session = new_session(recording["init"])
    for index, step in enumerate(recording["steps"]):
        yield index, expected(step), run_step(session, step)


def first_mismatch(recording: JSON) -> tuple[int, JSON, JSON] | None:
    """The first step whose outcome differs from the record, or None."""
    for index, want, got in replay(recording):
        if want != got:
            return index, want, got
    return None


def dumps(data: JSON) -> bytes:
    """Stable JSON (sorted keys), so that regenerating unchanged replays is a no-op."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode()


def save(stem: Path, data: JSON) -> Path:
    """Write ``stem.json``, or ``stem.json.gz`` when large; return the path written."""
    body = dumps(data)
    if len(body) > GZIP_ABOVE:
        path = stem.with_name(stem.name + ".json.gz")
        path.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
    else:
        path = stem.with_name(stem.name + ".json")
        path.write_bytes(body + b"\n")
    return path


def load(path: Path) -> JSON:
    """A replay file's contents."""
    body = path.read_bytes()
    return json.loads(gzip.decompress(body) if path.suffix == ".gz" else body)


def replay_files(folder: Path = REPLAYS) -> list[Path]:
    """Every replay file, in a stable order."""
    return sorted([*folder.glob("*.json"), *folder.glob("*.json.gz")])
