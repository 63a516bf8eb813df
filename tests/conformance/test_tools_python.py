"""Function calling through the unmodified google-genai SDK (3.x, 2.x and 1.x).

The fake model (tests/fakes/llm.py) calls functions when told ``call: name {json}`` and
answers function results with ``<name> returned <result>``, so every check is exact;
``test_tools_realmodel.py`` does the same round trip with the real default model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import PY_SDK_VERSIONS, Server
from tests.conformance.speech import sounds_like, spoken
from tests.conformance.test_voice_and_realmodel import run_client

pytestmark = [pytest.mark.conformance]


def run_tools_client(server: Server, job: dict[str, Any], sdk: str = PY_SDK_VERSIONS[0],
                     timeout: float = 180) -> dict[str, Any]:
    return run_client(server, job, timeout, sdk, script="py_tools.py")


PARIS = 'Let me check. call: get_weather {"city": "Paris"}'
RESULT = {"output": {"sky": "light rain", "celsius": 11}}
TOLD = 'get_weather returned {"output":{"sky":"light rain","celsius":11}}'


@pytest.mark.parametrize("sdk", PY_SDK_VERSIONS)
def test_blocking_call_round_trip_in_text(openlive_server: Server, sdk: str) -> None:
    out = run_tools_client(openlive_server, {"mode": "blocking", "prompt": PARIS,
                                             "result": RESULT}, sdk)
    [call] = out["calls"]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    assert call["id"].startswith("function-call-")
    # one receive() turn: the words before the call, the call, then the answer
    assert out["text"] == f"Let me check.[messages=3] {TOLD}", out
    assert out["flags"] == ["generation_complete", "turn_complete"], out
    assert out["usage"] > 0


def test_blocking_call_round_trip_in_audio(openlive_server: Server) -> None:
    out = run_tools_client(openlive_server, {"mode": "blocking", "prompt": PARIS,
                                             "modality": "AUDIO", "result": RESULT})
    assert [c["name"] for c in out["calls"]] == ["get_weather"]
    assert out["audio_bytes"] > 24000 * 2, out  # "Let me check." and the answer, spoken
    words = out["transcript"].split()
    assert words[:3] == ["Let", "me", "check."] and "get_weather" in words, out
    assert out["flags"] == ["generation_complete", "turn_complete"], out


def test_server_side_builtin_needs_no_client_answer(openlive_server: Server) -> None:
    """googleSearch, run by the operator's server-side tool: no toolCall reaches the SDK."""
    out = run_tools_client(openlive_server, {
        "mode": "blocking", "prompt": 'call: google_search {"query": "openlive"}',
        "tools": "google_search", "result": {}})
    assert out["calls"] == [], out
    assert out["text"] == ('[messages=3] google_search returned '
                           '{"output":"top result for openlive"}'), out


def test_non_blocking_when_idle_result_is_told_after(openlive_server: Server) -> None:
    out = run_tools_client(openlive_server, {"mode": "nonblocking", "scheduling": "WHEN_IDLE"})
    first, told = out["turns"]
    assert [c["name"] for c in first["calls"]] == ["turn_on_the_lights"]
    # the turn did not wait: the model went on with the call still running
    assert first["text"].startswith("[messages=3] turn_on_the_lights returned "), first
    assert "started" in first["text"], first
    assert told["text"] == ('[messages=6] turn_on_the_lights returned '
                            '{"output":"the lights are on"}'), told
    assert told["flags"] == ["generation_complete", "turn_complete"]


def test_non_blocking_interrupt_result_interrupts_the_reply(openlive_server: Server) -> None:
    out = run_tools_client(openlive_server, {"mode": "nonblocking", "scheduling": "INTERRUPT"})
    _, story, told = out["turns"]
    assert "interrupted" in story["flags"] and "generation_complete" not in story["flags"]
    assert story["cancelled"] == []  # the result interrupted, not the user: nothing cancelled
    assert told["text"].endswith('turn_on_the_lights returned {"output":"the lights are on"}')


def test_non_blocking_silent_result_only_joins_the_history(openlive_server: Server) -> None:
    out = run_tools_client(openlive_server, {"mode": "nonblocking", "scheduling": "SILENT"})
    assert "unexpected" not in out, out  # the model said nothing about it
    _, after = out["turns"]
    # user, call + running, answer, call + result, "and now?" = 7 messages
    assert after["text"] == "[messages=7] and now?", after


def test_typing_over_a_pending_call_cancels_it(openlive_server: Server) -> None:
    out = run_tools_client(openlive_server, {"mode": "cancel"})
    first, second = out["first"], out["second"]
    assert first["cancelled"] == [c["id"] for c in first["calls"]], out
    assert first["flags"] == ["interrupted", "turn_complete"], out
    assert second["text"] == "[messages=4] never mind", out  # the call is in the history


def test_speaking_over_a_pending_call_cancels_it(openlive_server: Server,
                                                 tmp_path: Path) -> None:
    """Barge-in by voice while the model waits for its function's response."""
    question = "What is the capital of France?"
    pcm = spoken(tmp_path, question)
    out = run_tools_client(openlive_server, {"mode": "cancel", "pcm": str(pcm), "rate": 16000})
    first, second = out["first"], out["second"]
    assert len(first["calls"]) == 1 and first["cancelled"] == [first["calls"][0]["id"]], out
    assert "interrupted" in first["flags"], out
    assert second["flags"][-2:] == ["generation_complete", "turn_complete"], out
    assert second["audio_bytes"] > 0, out
    assert sounds_like(question, first["heard"] + second["heard"]), out
