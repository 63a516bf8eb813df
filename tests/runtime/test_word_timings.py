"""Word timings through the driver: the recognizer's times, relative to the audio it was
given, reach the client in the session's input audio time (seconds at the rate the
client declared), and the recognizer is asked for them only when the session wants them.

The real Silero VAD finds the turn; the recognizer is the deterministic fake, which
spreads its four words evenly over the audio it is given.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
import pytest

from openlive.audio.resample import StreamResampler
from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.engines.vad.silero import SharedSileroModel
from openlive.runtime import work
from openlive.runtime.audio_input import KEEP_SECONDS, AudioInput
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.runtime.vad_batcher import InlineVad
from openlive.session.actions import Transcribe
from openlive.session.config import ServerCapabilities
from openlive.session.events import TranscriptReady
from openlive.session.machine import Session
from tests.engines.test_silero_vad import espeak, silence
from tests.fakes.asr import MeasuringRecognizer
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import MemoryTransport

WAIT = 10.0
LEAD = 1.5  # seconds of silence before the speech


@pytest.fixture(scope="module")
def model() -> SharedSileroModel:
    return SharedSileroModel()


def seconds(offset: str) -> float:
    return float(offset.removesuffix("s"))


async def heard_turn(model: SharedSileroModel, asr: MeasuringRecognizer, rate: int,
                     transcription: dict[str, Any]) -> list[dict[str, Any]]:
    """One spoken turn (LEAD of silence, then speech) sent at ``rate``; what came back."""
    session = Session(session_id="w", catalog=ModelCatalog(),
                      capabilities=ServerCapabilities(audio_input=True))
    transport = MemoryTransport()
    engines = Engines({DEFAULT_BACKEND: EchoModel()}, vad=InlineVad(model), asr=asr)
    task = asyncio.create_task(SessionDriver(session, transport, engines).run())
    transport.client({"setup": {
        "model": "models/gemini-2.0-flash-live-001",
        "generationConfig": {"responseModalities": ["TEXT"]},
        "inputAudioTranscription": transcription,
        "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 500}}}})
    try:
        assert "setupComplete" in await asyncio.wait_for(transport.outbox.get(), WAIT)
        pcm16k = silence(LEAD) + espeak("Could you book me a table for two?") + silence(1.0)
        resampler = StreamResampler(rate, in_rate=16_000)
        pcm = resampler.process(pcm16k) + resampler.flush()
        step = rate // 10 * 2
        for i in range(0, len(pcm), step):
            transport.client({"realtimeInput": {"audio": {
                "data": base64.b64encode(pcm[i:i + step]).decode(),
                "mimeType": f"audio/pcm;rate={rate}"}}})
        return await asyncio.wait_for(transport.until_turn_complete(), WAIT)
    finally:
        transport.inbox.put_nowait(None)
        await asyncio.wait_for(task, WAIT)


def transcription(turn: list[dict[str, Any]]) -> dict[str, Any]:
    [heard] = [m["serverContent"]["inputTranscription"] for m in turn
               if "inputTranscription" in m.get("serverContent", {})]
    return dict(heard)


@pytest.mark.parametrize("rate", [16_000, 24_000])
async def test_word_times_are_in_the_sessions_audio_time(model: SharedSileroModel,
                                                         rate: int) -> None:
    asr = MeasuringRecognizer()
    heard = transcription(await heard_turn(model, asr, rate, {"wordTimestamp": True}))
    assert asr.word_requests and all(asr.word_requests)
    words = heard["words"]
    assert [w["word"] for w in words] == heard["text"].split()
    starts = [seconds(w["startOffset"]) for w in words]
    ends = [seconds(w["endOffset"]) for w in words]
    # the fake spreads its words over the turn's audio: the first starts where that
    # audio does (the VAD's onset, less its pre-roll), which is after the silence
    # less the pre-roll (0.3 s) and the VAD's frame, not at 0 as the fake has it
    assert LEAD - 0.45 < starts[0] < LEAD + 0.3
    assert starts == sorted(starts) and all(e > s for s, e in zip(starts, ends, strict=True))
    # the audio given to the recognizer is the turn's: its length is in the text
    given = int(heard["text"].split()[0]) / 1000
    assert ends[-1] - starts[0] == pytest.approx(given, abs=0.002)
    assert heard["startOffset"] == words[0]["startOffset"]
    assert heard["endOffset"] == words[-1]["endOffset"]


async def test_without_word_timestamp_the_recognizer_is_not_asked(
        model: SharedSileroModel) -> None:
    asr = MeasuringRecognizer()
    heard = transcription(await heard_turn(model, asr, 16_000, {}))
    assert asr.word_requests and not any(asr.word_requests)
    assert set(heard) == {"text", "finished"}


async def test_words_count_from_where_the_kept_audio_begins() -> None:
    """A turn longer than the audio kept: the recognizer hears from the oldest kept
    sample, and the times count from there, not from the turn's start."""
    asr = MeasuringRecognizer()
    action = Transcribe(1, 0.0, 70.0, None, word_timings=True)
    heard = await work.transcribe(asr, bytes(32_000 * 2), action, "s1", start=10.0)
    assert isinstance(heard, TranscriptReady) and heard.start == 10.0
    assert [(w.start, w.end) for w in heard.words] == [(10.0, 10.5), (10.5, 11.0),
                                                       (11.0, 11.5), (11.5, 12.0)]


def test_the_audio_input_says_where_its_kept_audio_begins(model: SharedSileroModel) -> None:
    audio = AudioInput(InlineVad(model), lambda *score: None, lambda error: None)
    try:
        second = np.zeros(16_000, dtype="<i2").tobytes()
        for i in range(int(KEEP_SECONDS) + 5):
            audio.push(second, 16_000, float(i))
        assert audio.kept_from == pytest.approx(5.0)
        assert len(audio.cut(0.0, 6.0)) == 32_000  # only from 5 s on
    finally:
        audio.close()
