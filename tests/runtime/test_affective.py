"""Affective dialog through the driver on real audio: an upset and a calm espeak-ng
rendition of one sentence go through the real VAD and the prosody measurement; the
upset one changes what the model is told and how the answer is spoken, the calm one
does not, and without ``enableAffectiveDialog`` the two are treated alike.

Recognition, the language model and the synthesizer are fakes that record what they
are asked: the words are the same sentence either way, so any difference in treatment
comes from how it was said."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from openlive.audio.delivery import Delivery
from openlive.audio.prosody import measure_prosody
from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.catalog.voices import VOICE_NAMES
from openlive.chat import SpokenReply
from openlive.engines.asr.base import Transcript
from openlive.engines.scheduler import Priority
from openlive.engines.vad.silero import SharedSileroModel
from openlive.runtime.driver import SessionDriver
from openlive.runtime.engines import Engines
from openlive.runtime.vad_batcher import VadBatcher
from openlive.runtime.work import describe
from openlive.session.affect import UPSET, Affect, treatment
from openlive.session.machine import Session
from tests.conformance.speech import spoken
from tests.engines.test_silero_vad import silence
from tests.fakes.asr import MeasuringRecognizer
from tests.fakes.llm import EchoModel
from tests.runtime.test_driver import MemoryTransport

SENTENCE = "I have been waiting for my package since Monday and nobody has called me back."
WAIT = 20.0


class SentenceRecognizer(MeasuringRecognizer):
    """Hears :data:`SENTENCE` in any audio: the words do not differ between renditions."""

    async def transcribe(self, pcm16k: bytes, *, language: str | None = None,
                         expected: str | None = None, languages: Sequence[str] = (),
                         final: bool = True, prompt: str | None = None,
                         priority: Priority = Priority.WAITING) -> Transcript:
        await super().transcribe(pcm16k, language=language)
        return Transcript(SENTENCE, "en")


class RecordingSynthesizer:
    """Says every piece as 0.1 s of quiet; keeps the delivery each was asked for."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery | None] = []

    def voices(self) -> Sequence[str]:
        return VOICE_NAMES

    def languages(self) -> frozenset[str]:
        return frozenset({"en-US"})

    async def synthesize(self, text: str, *, voice: str, language: str | None = None,
                         priority: Priority = Priority.WAITING,
                         delivery: Delivery | None = None) -> AsyncIterator[bytes]:
        self.deliveries.append(delivery)
        yield bytes(4800)

    async def aclose(self) -> None:
        pass


@pytest.fixture(scope="module")
def vad_model() -> SharedSileroModel:
    return SharedSileroModel()


@pytest.fixture(scope="module")
def renditions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    folder: Path = tmp_path_factory.mktemp("renditions")
    yield {manner: spoken(folder, SENTENCE, manner=manner).read_bytes()
           for manner in ("upset", "calm")}


async def answer(vad_model: SharedSileroModel, pcm: bytes, affective: bool
                 ) -> tuple[SpokenReply, list[Delivery | None]]:
    """One voice turn of ``pcm``: what the model was told and how the answer was said."""
    model, tts, batcher = EchoModel(), RecordingSynthesizer(), VadBatcher(vad_model)
    engines = Engines({DEFAULT_BACKEND: model}, vad=batcher, asr=SentenceRecognizer(),
                      tts=tts)
    session = Session(session_id="a", catalog=ModelCatalog(),
                      capabilities=engines.capabilities())
    transport = MemoryTransport()
    task = asyncio.create_task(SessionDriver(session, transport, engines).run())
    try:
        transport.client({"setup": {
            "model": "models/gemini-2.5-flash-native-audio-preview-09-2025",
            "generationConfig": {"responseModalities": ["AUDIO"],
                                 "enableAffectiveDialog": affective},
            "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 500}},
        }})
        assert "setupComplete" in await asyncio.wait_for(transport.outbox.get(), WAIT)
        audio = silence(0.3) + pcm + silence(1.0)
        for i in range(0, len(audio), 3200):
            transport.client({"realtimeInput": {"audio": {
                "data": base64.b64encode(audio[i:i + 3200]).decode(),
                "mimeType": "audio/pcm;rate=16000"}}})
        await asyncio.wait_for(until_turn_complete(transport), WAIT)
    finally:
        transport.inbox.put_nowait(None)
        await asyncio.wait_for(task, WAIT)
        batcher.close()
    told = model.requests[-1].spoken
    assert told is not None and tts.deliveries
    return told, tts.deliveries


async def until_turn_complete(transport: MemoryTransport) -> None:
    while not (await transport.outbox.get()).get("serverContent", {}).get("turnComplete"):
        pass


async def test_an_upset_rendition_is_treated_differently_from_a_calm_one(
        vad_model: SharedSileroModel, renditions: dict[str, bytes]) -> None:
    for manner, pcm in renditions.items():
        prosody = measure_prosody(pcm)
        assert prosody is not None
        judged = Affect().judge(prosody, SENTENCE)
        print(f"\n{manner}: {describe(prosody)}, "
              f"{len(SENTENCE.split()) / prosody.seconds:.2f} words/s: "
              f"arousal {judged.arousal:+.2f}, {judged.tone}")
    upset_told, upset_said = await answer(vad_model, renditions["upset"], affective=True)
    calm_told, calm_said = await answer(vad_model, renditions["calm"], affective=True)
    print(f"upset: told {upset_told.tone!r}, spoken {upset_said[0]}")
    print(f"calm: told {calm_told.tone!r}, spoken {calm_said[0]}")
    assert upset_told.tone == treatment(UPSET).note
    assert set(upset_said) == {treatment(UPSET).delivery}
    assert calm_told.tone is None and set(calm_said) == {None}


async def test_without_the_flag_both_renditions_are_treated_alike(
        vad_model: SharedSileroModel, renditions: dict[str, bytes]) -> None:
    upset_told, upset_said = await answer(vad_model, renditions["upset"], affective=False)
    calm_told, calm_said = await answer(vad_model, renditions["calm"], affective=False)
    assert upset_told == calm_told and upset_told.tone is None
    assert set(upset_said) == set(calm_said) == {None}


def test_the_measured_renditions_differ_as_made(renditions: dict[str, bytes]) -> None:
    """The renditions themselves: louder, higher and faster where espeak-ng was told."""
    upset, calm = (measure_prosody(renditions[m]) for m in ("upset", "calm"))
    assert upset is not None and calm is not None
    assert upset.level_db > calm.level_db + 6
    assert upset.seconds < 0.8 * calm.seconds  # the same words, said faster
    assert upset.pitch_hz is not None and calm.pitch_hz is not None
    assert upset.pitch_hz > 1.3 * calm.pitch_hz
