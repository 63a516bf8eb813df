"""Engine failures and retries are counted by engine kind where the runtime meets them."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from openlive.errors import EngineError
from openlive.runtime import work
from openlive.runtime.synthesis import SynthesisQueue
from openlive.session.actions import Synthesize, Transcribe
from openlive.session.events import Event, SynthesisFailed, TranscriptionFailed, TranscriptReady
from tests.fakes.asr import MeasuringRecognizer


def count(name: str, engine: str) -> float:
    return REGISTRY.get_sample_value(name, {"engine": engine}) or 0.0


TURN = Transcribe(1, 0.0, 1.0, None)


async def test_a_failed_recognition_counts_one_asr_error() -> None:
    before = count("openlive_engine_errors_total", "asr")
    result = await work.transcribe(MeasuringRecognizer([EngineError("model crashed")]),
                                   b"\x00" * 3200, TURN, "s1")
    assert isinstance(result, TranscriptionFailed)
    assert count("openlive_engine_errors_total", "asr") == before + 1


async def test_a_retried_recognition_counts_a_retry_not_an_error() -> None:
    errors = count("openlive_engine_errors_total", "asr")
    retries = count("openlive_engine_retries_total", "asr")
    asr = MeasuringRecognizer([EngineError("503", retryable=True)])
    result = await work.transcribe(asr, b"\x00" * 3200, TURN, "s1")
    assert isinstance(result, TranscriptReady)
    assert count("openlive_engine_retries_total", "asr") == retries + 1
    assert count("openlive_engine_errors_total", "asr") == errors


class BrokenSynthesizer:
    """Fails every piece, as a TTS whose model cannot load would."""

    async def synthesize(self, text: str, **_: object):  # type: ignore[no-untyped-def]
        raise EngineError("voice model missing")
        yield b""  # an async generator, as synthesizers are

    async def aclose(self) -> None:
        pass


async def test_a_failed_synthesis_counts_one_tts_error() -> None:
    before = count("openlive_engine_errors_total", "tts")
    events: list[Event] = []
    queue = SynthesisQueue(7, BrokenSynthesizer(), events.append,  # type: ignore[arg-type]
                           requester="s1")
    queue.put(Synthesize(7, 0, "Hello.", "Puck", None))
    queue.end()
    await asyncio.wait_for(queue.task, 5)
    assert events == [SynthesisFailed(7, "speech synthesis failed.")]
    assert count("openlive_engine_errors_total", "tts") == before + 1
