"""Decodes while the user speaks are the recognizer's least urgent work."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.engines.scheduler import Priority
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.session.actions import Transcribe
from openlive.session.events import Event, TranscriptReady
from openlive.session.machine import Session
from tests.fakes.asr import MeasuringRecognizer
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import MemoryTransport


class BusyRecognizer(MeasuringRecognizer):
    """Says how many calls wait for it, as WhisperRecognizer does."""

    waiting = 1


async def test_an_interim_decode_is_skipped_while_turns_wait_for_the_recognizer() -> None:
    asr = BusyRecognizer()
    driver = SessionDriver(Session(session_id="s", catalog=ModelCatalog()), MemoryTransport(),
                           Engines({DEFAULT_BACKEND: EchoModel()}, asr=asr))
    fed: list[Event] = []
    driver._feed = fed.append  # type: ignore[method-assign]
    driver._audio = SimpleNamespace(cut=lambda start, end: b"\x01\x00" * 16_000,  # type: ignore[assignment]
                                    kept_from=0.0)

    driver._execute([Transcribe(3, 0.0, 1.0, None, kind="interim")])
    await asyncio.sleep(0.05)
    assert asr.calls == [] and fed == [TranscriptReady(3, "", end=1.0)]

    asr.waiting = 0  # nobody waits: it runs, after everything else
    driver._execute([Transcribe(4, 0.0, 1.0, None, kind="interim")])
    await asyncio.sleep(0.05)
    assert len(asr.calls) == 1 and asr.priorities == [Priority.SPECULATIVE]
    assert fed[-1] == TranscriptReady(4, "1000 ms of audio", end=1.0)
