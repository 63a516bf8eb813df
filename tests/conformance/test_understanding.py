"""A slice of the understanding evaluation set against the real default stack, in CI.

Human recordings (LibriVox, spoken card names, a spoken command, an alsa voice clip) and
the shipped neural voices (Piper, Kokoro) are streamed in real time by
``bench/understanding.py``'s client at default settings (no ``languageCode``) into the
session-wide real server. The thresholds come from the measurement in
docs/benchmarks.md ("Understanding (evaluation set)") with some margin: a change that
makes the server hear worse fails here. The audio is built from the Debian and PyPI
packages by ``bench/evalset.py`` (cached; the first build downloads pocketsphinx-testdata
and alsa-utils with ``apt-get download``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import Server

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

pytestmark = [pytest.mark.conformance, pytest.mark.realmodel]

HUMAN = ("human-librivox-0880", "human-librivox-0930", "human-cards-001", "human-goforward",
         "human-alsa-front-center")
NEURAL = ("q00-piper-puck", "q01-piper-charon", "q06-kokoro-zephyr", "pause0-piper-puck")
# Corpus word error rates: measured on this slice at default settings on 2026-12-06
# (human 0/25 words wrong; neural 4/29, all four in q06-kokoro-zephyr, then heard in
# Japanese: the language rule of engines/asr/whisper.py now hears it in English), plus a
# margin of about three words each.
HUMAN_WER = 0.12
NEURAL_WER = 0.25



@pytest.fixture(scope="module")
def outcomes(real_server: Server) -> dict[str, Any]:
    """Every slice item, each in its own session, one after another: id -> Outcome (the
    answers are not waited for: the slice measures hearing, in well under a minute)."""
    from evalset import DEFAULT_CACHE, build, load_items, select
    from understanding import live_url, run_item

    items = select(load_items(), HUMAN + NEURAL)
    built = build(items, DEFAULT_CACHE, quiet=True)
    url = live_url(f"ws://127.0.0.1:{real_server.port}", real_server.key)

    async def run() -> dict[str, Any]:
        return {i.id: await run_item(url, i, built, "default", timeout=20.0, answers=False)
                for i in items}

    return asyncio.run(run())


def corpus_wer(outcomes: dict[str, Any], ids: tuple[str, ...]) -> float:
    errors = sum(outcomes[i].errors for i in ids)
    return errors / sum(outcomes[i].ref_words for i in ids)


def heard(outcomes: dict[str, Any], ids: tuple[str, ...]) -> str:
    return "\n".join(f"{i}: {outcomes[i].reference!r} -> {outcomes[i].heard!r}" for i in ids)


def test_human_recordings_are_heard(outcomes: dict[str, Any]) -> None:
    assert corpus_wer(outcomes, HUMAN) <= HUMAN_WER, heard(outcomes, HUMAN)


def test_shipped_voices_are_heard(outcomes: dict[str, Any]) -> None:
    assert corpus_wer(outcomes, NEURAL) <= NEURAL_WER, heard(outcomes, NEURAL)


def test_english_is_transcribed_in_english(outcomes: dict[str, Any]) -> None:
    wrong = [i for i, o in outcomes.items() if o.wrong_script or o.wrong_language]
    assert not wrong, heard(outcomes, tuple(wrong))


# "go forward | ten meters" (human) opens with a complete command: in 1 of 4 runs on
# 2026-12-06 its pause was taken for the end of the turn (issue 11: turn-taking on real
# voices). More than that, or any other item, is a regression.
MAX_CUT_OFFS = 1


def test_turns_are_not_cut_off(outcomes: dict[str, Any]) -> None:
    cut = [i for i, o in outcomes.items() if o.cut_off]
    assert len(cut) <= MAX_CUT_OFFS, heard(outcomes, tuple(cut))
    assert set(cut) <= {"human-goforward"}, heard(outcomes, tuple(cut))
