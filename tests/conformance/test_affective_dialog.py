"""Affective dialog through the unmodified Python SDK on the real default models.

``enable_affective_dialog=True`` in the ``LiveConnectConfig``; the user says one sentence
upset (espeak-ng fast, high, loud) or calm (slow, low, soft). What the program gets back
shows the treatment. The voice: the answer's audio is set against the same words spoken
by the server's own Piper voice as it speaks by default (rendered here), so that the
different answers' words do not blur the comparison; the answer to the upset rendition
is slower and lower (the Delivery for an upset user), the answer to the calm one, and to
the upset one without the flag, is not. The words: the server tells the model the
user's tone only for the upset rendition with the flag (its log says so, one line per
generation told).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openlive.audio.prosody import Prosody, measure_prosody
from openlive.audio.resample import StreamResampler
from tests.conformance.conftest import Server
from tests.conformance.speech import spoken
from tests.conformance.test_voice_and_realmodel import run_client

pytestmark = [pytest.mark.conformance, pytest.mark.realmodel]

SENTENCE = "I have been waiting for my package since Monday and nobody has called me back."
TOLD = "is told the user's tone"
# Longer answers measure steadier: a one-line answer ("You're not alone.", 0.7 s) moved
# its length ratio by 6 % between takes in a CI run.
LONG_ANSWER_WORDS = 20  # words in an answer whose length is compared (about 6 s of speech)
INSTRUCTION = ("You are the support line of a parcel delivery company. Answer the "
               "customer in two or three full sentences.")


class Piper:
    """The server's Piper voice in this process, on one event loop of its own (its
    worker slots belong to the loop that first used them)."""

    def __init__(self) -> None:
        from openlive.engines.tts.piper import PiperSynthesizer

        self.loop = asyncio.new_event_loop()
        self.synth = PiperSynthesizer(max_concurrency=1, threads=1)

    def say(self, text: str) -> bytes:
        async def speak() -> bytes:
            return b"".join([c async for c in self.synth.synthesize(text, voice="Puck")])

        return self.loop.run_until_complete(speak())

    def close(self) -> None:
        self.loop.run_until_complete(self.synth.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def piper() -> Iterator[Piper]:
    voice = Piper()
    yield voice
    voice.close()


def measured(pcm24k: bytes) -> Prosody:
    resampler = StreamResampler(16000, in_rate=24000)
    prosody = measure_prosody(resampler.process(pcm24k) + resampler.flush())
    assert prosody is not None and prosody.pitch_hz is not None
    return prosody


def as_piper_says(piper: Piper, text: str, takes: int = 5) -> tuple[float, float]:
    """``text`` in the server's default voice (Puck on Piper) with no delivery: the
    median seconds of speech and pitch of several takes (Piper samples its phoneme
    lengths, so one take of a short answer can be several per cent off)."""
    renderings = [measured(piper.say(text)) for _ in range(takes)]
    return (statistics.median(r.seconds for r in renderings),
            statistics.median(r.pitch_hz or 0.0 for r in renderings))


def answer(server: Server, piper: Piper, tmp_path: Path, manner: str, affective: bool
           ) -> tuple[float, float, int, str]:
    """One voice turn: the answer's speech seconds and pitch against the default voice's
    for the same words (ratios), how often the model was told a tone, and the answer."""
    out = tmp_path / f"answer-{manner}-{affective}.pcm"
    config: dict[str, Any] = {"temperature": 0.0, "system_instruction": INSTRUCTION}
    if affective:
        config["enable_affective_dialog"] = True
    before = server.log.read_text(errors="replace").count(TOLD)
    result = run_client(server, {"mode": "voice", "rate": 16000, "out": str(out),
                                 "pcm": str(spoken(tmp_path, SENTENCE, manner=manner)),
                                 "config": config})
    told = server.log.read_text(errors="replace").count(TOLD) - before
    assert result["flags"][-2:] == ["generation_complete", "turn_complete"], result
    said = "".join(result["output"]).strip()
    got = measured(out.read_bytes())
    seconds, pitch = as_piper_says(piper, said)
    assert got.pitch_hz is not None and pitch > 0
    print(f"\n{manner}, affective={affective}: heard {' '.join(result['input'])!r}; "
          f"answered {said!r}: {got.seconds:.2f} s of speech at {got.pitch_hz:.0f} Hz, "
          f"the default voice {seconds:.2f} s at {pitch:.0f} Hz; tone told {told}x")
    return got.seconds / seconds, got.pitch_hz / pitch, told, said


def test_an_upset_user_is_answered_slower_and_lower_than_a_calm_one(
        real_server: Server, piper: Piper, tmp_path: Path) -> None:
    upset = answer(real_server, piper, tmp_path, "upset", True)
    calm = answer(real_server, piper, tmp_path, "calm", True)
    plain = answer(real_server, piper, tmp_path, "upset", False)
    for name, (slower, lower, _, _) in (("upset", upset), ("calm", calm), ("no flag", plain)):
        print(f"{name}: {slower:.2f}x the default voice's time, {lower:.2f}x its pitch")
    assert upset[2] >= 1 and calm[2] == 0 and plain[2] == 0  # told only of the upset user
    # Delivery(rate=0.8, pitch -1.5 st, expressiveness 0.6) measured 1.15x the time
    # (steadier phoneme lengths are also shorter) and 0.94x the pitch; Piper's sampling
    # noise moves each rendering by a few per cent (the others: 0.97-1.04x, 0.99-1.01x;
    # a CI run measured the upset one at 1.078x): the margin is 1.05, and the comparison
    # below keeps it 0.05 above the calm and flag-off renderings
    assert upset[0] > 1.05 and upset[1] < 0.96
    for slower, lower, _, said in (calm, plain):
        assert upset[1] + 0.03 < lower < 1.05
        # A short answer's length says little: the server speaks it in two pieces, and
        # the seam's pause is a large share of it ("I'm sorry, but I can't assist with
        # that.", 1.7 s, measured 1.17x in a CI run); its pitch above still counts.
        if len(said.split()) >= LONG_ANSWER_WORDS:
            assert 0.92 < slower < upset[0] - 0.05
