"""Function calling through the unmodified @google/genai (Node) SDK.

The Node counterpart of test_tools_python.py, with the same fake model: a blocking round
trip in TEXT (plain ``ws://``) and AUDIO (``wss://``), each NON_BLOCKING scheduling, and
cancellation of a pending call when the user moves on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import Server
from tests.conformance.speech import sounds_like, spoken
from tests.conformance.test_voice_node import answered, run_client

pytestmark = [pytest.mark.conformance]

PARIS = 'Let me check. call: get_weather {"city": "Paris"}'
RESULT = {"output": {"sky": "light rain", "celsius": 11}}
TOLD = 'get_weather returned {"output":{"sky":"light rain","celsius":11}}'


def tools(server: Server, job: dict[str, Any], transport: str = "http") -> dict[str, Any]:
    return answered(run_client(server, job, transport, script="node_tools.mjs"))


def test_blocking_call_round_trip_in_text(openlive_server: Server) -> None:
    out = tools(openlive_server, {"mode": "blocking", "prompt": PARIS, "result": RESULT})
    [call] = out["calls"]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    assert out["text"] == f"Let me check.[messages=3] {TOLD}", out
    assert out["flags"] == ["generationComplete", "turnComplete"], out


def test_blocking_call_round_trip_in_audio_over_tls(openlive_server: Server) -> None:
    out = tools(openlive_server, {"mode": "blocking", "prompt": PARIS, "modality": "AUDIO",
                                  "result": RESULT}, transport="https")
    assert [c["name"] for c in out["calls"]] == ["get_weather"], out
    assert out["audio_bytes"] > 24000 * 2, out
    assert out["transcript"].startswith("Let me check. [messages=3] get_weather"), out
    assert out["flags"] == ["generationComplete", "turnComplete"], out


def test_non_blocking_when_idle(openlive_server: Server) -> None:
    out = tools(openlive_server, {"mode": "nonblocking", "scheduling": "WHEN_IDLE"})
    first, told = out["turns"]
    assert [c["name"] for c in first["calls"]] == ["turn_on_the_lights"], out
    assert "started" in first["text"], out  # the model went on while the call ran
    assert told["text"] == ('[messages=6] turn_on_the_lights returned '
                            '{"output":"the lights are on"}'), out


def test_non_blocking_interrupt(openlive_server: Server) -> None:
    out = tools(openlive_server, {"mode": "nonblocking", "scheduling": "INTERRUPT"})
    _, story, told = out["turns"]
    assert "interrupted" in story["flags"] and story["cancelled"] == [], out
    assert told["text"].endswith('turn_on_the_lights returned {"output":"the lights are on"}')


def test_non_blocking_silent(openlive_server: Server) -> None:
    out = tools(openlive_server, {"mode": "nonblocking", "scheduling": "SILENT"})
    assert out["unexpected"] == [], out
    assert out["turns"][-1]["text"] == "[messages=7] and now?", out


def test_moving_on_cancels_the_pending_call(openlive_server: Server) -> None:
    out = tools(openlive_server, {"mode": "cancel"})
    first, second = out["first"], out["second"]
    assert first["cancelled"] == [first["calls"][0]["id"]], out
    assert first["flags"] == ["interrupted", "turnComplete"], out
    assert second["text"] == "[messages=4] never mind", out


def test_speaking_over_a_pending_call_cancels_it(openlive_server: Server, tmp_path: Path) -> None:
    """Barge-in by voice (a live microphone) while the model waits for its function."""
    question = "What is the capital of France?"
    out = tools(openlive_server, {"mode": "cancel", "rate": 24000,
                                  "pcm": str(spoken(tmp_path, question, 24000))})
    first, second = out["first"], out["second"]
    assert first["cancelled"] == [first["calls"][0]["id"]], out
    assert "interrupted" in first["flags"], out
    assert second["flags"][-2:] == ["generationComplete", "turnComplete"], out
    assert second["audio_bytes"] > 0 and sounds_like(question, first["heard"] + second["heard"])
