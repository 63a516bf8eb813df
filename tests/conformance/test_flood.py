"""A flood of text turns through the unmodified Python SDK: every turn gets its
``turnComplete`` in order, as on the Live API (a new turn interrupts the answer in
progress; the last one is answered), and a flood too large for the model closes with
1007 naming the limit; never 1011 "the language model failed"."""

from __future__ import annotations

import re

import pytest

from tests.conformance.conftest import Server
from tests.conformance.test_voice_and_realmodel import run_client

pytestmark = [pytest.mark.conformance]
TURNS = 200


def test_every_turn_of_a_flood_completes_and_the_last_is_answered(
        openlive_server: Server) -> None:
    result = run_client(openlive_server, {"mode": "flood", "turns": TURNS}, timeout=120)
    assert result["code"] is None, result
    assert result["turn_complete"] == TURNS, result
    # A turn interrupts the answer to the one before (clientContent interrupts the model):
    # most answers are cut off before a word. The fake model says how many messages it
    # was shown, then repeats the user's words: the answers that did come saw the history
    # grow in order, and the last one answers every turn since the answer before it.
    texts = [text for text in result["texts"] if text]
    shown = [int(re.findall(r"^\[messages=(\d+)\]", text)[0]) for text in texts]
    assert shown == sorted(set(shown)), texts
    assert texts[-1].endswith(f"Turn {TURNS - 2}.\nTurn {TURNS - 1}."), texts[-1][-200:]
    assert 0 < result["interrupted"] < TURNS, result


@pytest.mark.realmodel
def test_a_flood_larger_than_the_models_context_closes_1007_naming_the_limit(
        real_server: Server) -> None:
    """200 turns of ~60 tokens each, sent back to back, are one user turn of ~12k tokens
    (interrupted turns leave no answer between them) on a 4k model: refused at once."""
    padding = "lorem ipsum dolor sit amet " * 10
    result = run_client(real_server, {"mode": "flood", "turns": TURNS, "padding": padding},
                        timeout=120)
    assert result["code"] == 1007, result
    assert "context window of" in result["reason"] and "tokens" in result["reason"], result
    assert result["seconds"] < 30, result
