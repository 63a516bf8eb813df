"""Record every Session a test drives, as a replay file (see :mod:`tests.session.replaying`).

Off unless ``OPENLIVE_RECORD_REPLAYS=<folder>`` is set; then the autouse fixture
``record_replays`` (wired in ``tests/conftest.py``) wraps ``Session.__init__``,
``Session.handle`` and ``Session.abort`` for the duration of each test, and after the
test writes one file with every session it built. Regenerate the committed replays with
``tests/session/record_replays.sh``.

A recording is kept only if it replays to the same outcome at once, in this process: a
test that reaches into a session's private state, or subclasses Session, cannot be
replayed from its events, and is listed in ``skipped.txt`` instead (so are recordings
larger than :data:`MAX_BYTES` compressed). A module opts out with ``RECORD_REPLAYS =
False`` (the replay test and the fuzzer, which build sessions of their own).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from openlive.errors import ProtocolError
from openlive.session.actions import Action
from openlive.session.events import Event
from openlive.session.machine import Session
from tests.session.observe import JSON, encode_event, observe
from tests.session.replaying import dumps, encode_init, first_mismatch, save

ENV = "OPENLIVE_RECORD_REPLAYS"
MAX_BYTES = 512 * 1024  # a recording larger than this, compressed, is not kept
SKIPPED = "skipped.txt"


@dataclass
class _Recording:
    init: JSON
    steps: list[JSON] = field(default_factory=list)
    broken: str | None = None  # why this session cannot be recorded


class Recorder:
    """The sessions of one test and what they did."""

    def __init__(self) -> None:
        self.recordings: dict[int, _Recording] = {}  # id(session) -> its recording
        self._sessions: list[Session] = []  # kept alive so that ids stay unique
        self._inside = False  # in a recorded call: nested calls are part of it

    def created(self, session: Session, kwargs: dict[str, Any]) -> None:
        if type(session) is not Session:
            return  # a test's subclass behaves its own way: not replayable as a Session
        try:
            recording = _Recording(encode_init(kwargs))
        except TypeError as exc:
            recording = _Recording({}, broken=f"constructor arguments: {exc}")
        self._sessions.append(session)
        self.recordings[id(session)] = recording

    def call(self, session: Session, step: JSON, run: Callable[[], list[Action]]
             ) -> list[Action]:
        recording = self.recordings.get(id(session))
        if recording is None or self._inside:
            return run()
        self._inside = True
        try:
            actions = run()
        except Exception as exc:
            recording.steps.append({**step, "raises": type(exc).__name__})
            raise
        finally:
            self._inside = False
        try:
            recording.steps.append({**step, "actions": observe(actions)})
        except TypeError as exc:
            recording.broken = str(exc)
        return actions

    def handle(self, session: Session, event: Event, now: float,
               run: Callable[[], list[Action]]) -> list[Action]:
        try:
            step: JSON = {"event": encode_event(event), "now": now}
        except (TypeError, KeyError) as exc:
            if (recording := self.recordings.get(id(session))) is not None:
                recording.broken = f"event {type(event).__name__}: {exc}"
            step = {"event": None, "now": now}
        return self.call(session, step, run)

    def abort(self, session: Session, error: ProtocolError,
              run: Callable[[], list[Action]]) -> list[Action]:
        step = {"abort": {"code": int(error.close_code), "reason": error.reason}}
        return self.call(session, step, run)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Wrap Session's entry points until the test ends."""
        init, handle, abort = Session.__init__, Session.handle, Session.abort
        recorder = self

        def recording_init(session: Session, **kwargs: Any) -> None:
            init(session, **kwargs)
            recorder.created(session, kwargs)

        def recording_handle(session: Session, event: Event, now: float) -> list[Action]:
            return recorder.handle(session, event, now, lambda: handle(session, event, now))

        def recording_abort(session: Session, error: ProtocolError) -> list[Action]:
            return recorder.abort(session, error, lambda: abort(session, error))

        monkeypatch.setattr(Session, "__init__", recording_init)
        monkeypatch.setattr(Session, "handle", recording_handle)
        monkeypatch.setattr(Session, "abort", recording_abort)

    def write(self, nodeid: str, folder: Path) -> list[str]:
        """Write the test's replay file (if it drove any session); return why any
        session was left out."""
        kept: list[JSON] = []
        skipped: list[str] = []
        for index, recording in enumerate(self.recordings.values()):
            data = {"init": recording.init, "steps": recording.steps}
            why = recording.broken or _not_replayable(data)
            if why is None and recording.steps:
                kept.append(data)
            elif why is not None:
                skipped.append(f"{nodeid} session {index}: {why}")
        if kept:
            document = {"test": nodeid, "sessions": kept}
            if len(gzip.compress(dumps(document))) > MAX_BYTES:
                return [*skipped, f"{nodeid}: larger than {MAX_BYTES} bytes compressed"]
            save(folder / file_stem(nodeid), document)
        return skipped


def _not_replayable(data: JSON) -> str | None:
    mismatch = first_mismatch(data)
    if mismatch is None:
        return None
    return f"does not replay from its events (step {mismatch[0]}: the test drives " \
           "the session some other way)"


def file_stem(nodeid: str) -> str:
    """``tests/session/test_voice.py::test_x[a-b]`` -> ``session.test_voice.test_x[a-b]``."""
    name = nodeid.removeprefix("tests/").replace(".py::", ".").replace("::", ".")
    return re.sub(r"[^A-Za-z0-9_.\[\]-]+", "_", name.replace("/", "."))[:150]


def record_replays(request: pytest.FixtureRequest) -> Iterator[None]:
    """The body of the autouse fixture: record when the environment asks for it."""
    folder = os.environ.get(ENV)
    if not folder or getattr(request.module, "RECORD_REPLAYS", True) is False:
        yield
        return
    recorder = Recorder()
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder.install(monkeypatch)
        yield
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    skipped = recorder.write(request.node.nodeid, out)
    if skipped:
        with (out / SKIPPED).open("a") as f:
            f.writelines(line + "\n" for line in skipped)
