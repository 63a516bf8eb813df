"""Thinking and proactive audio through the unmodified Python SDK (google-genai 3.6.1).

With the fake language model (exact thoughts and answers): ``includeThoughts`` gives
``thought`` parts that ``message.text`` skips and a ``thoughts_token_count``; a budget
of 0 or no ``thinking_config`` gives none. Under ``proactive_audio`` an aside ends its
turn with ``waiting_for_input`` and ``NEED_MORE_INPUT`` and no text; without it the aside
is answered. Then the same on the real default model (llama.cpp, Qwen2.5 0.5B).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import Server
from tests.conformance.speech import spoken, words
from tests.conformance.test_voice_and_realmodel import run_client

pytestmark = [pytest.mark.conformance]

PROMPT = "why is the sky blue"


def thinking(server: Server, config: dict[str, Any] | None, **job: Any) -> dict[str, Any]:
    return run_client(server, {"mode": "thinking", "prompt": PROMPT, "thinking": config,
                               **job}, script="py_thinking.py")


def test_include_thoughts_gives_thought_parts_and_their_count(openlive_server: Server) -> None:
    result = thinking(openlive_server, {"include_thoughts": True, "thinking_budget": 64})
    assert "".join(result["thoughts"]) == f"Thinking about: {PROMPT}"
    assert result["text"] == f"[messages=1] {PROMPT}"  # message.text skips the thoughts
    usage = result["usage"]
    assert usage["thoughts"] == 7 and usage["response"] == 6 and usage["prompt"] == 5
    assert usage["total"] == 18


def test_the_budget_bounds_the_thoughts(openlive_server: Server) -> None:
    result = thinking(openlive_server, {"include_thoughts": True, "thinking_budget": 2})
    assert "".join(result["thoughts"]) == "Thinking about:"
    assert result["usage"]["thoughts"] == 2


def test_thoughts_are_counted_but_not_sent_without_include_thoughts(
        openlive_server: Server) -> None:
    result = thinking(openlive_server, {"thinking_level": "LOW"})
    assert result["thoughts"] == [] and result["usage"]["thoughts"] == 7


@pytest.mark.parametrize("config", [{"include_thoughts": True, "thinking_budget": 0},
                                    {"include_thoughts": True, "thinking_level": "MINIMAL"},
                                    None])
def test_budget_zero_or_no_config_gives_no_thinking(openlive_server: Server,
                                                   config: dict[str, Any] | None) -> None:
    result = thinking(openlive_server, config)
    assert result["thoughts"] == [] and result["usage"]["thoughts"] is None
    assert result["text"] == f"[messages=1] {PROMPT}"


def test_budget_and_level_together_are_refused(openlive_server: Server) -> None:
    with pytest.raises(AssertionError, match="1007"):
        thinking(openlive_server, {"thinking_budget": 10, "thinking_level": "LOW"})


def test_proactive_audio_stays_silent_on_an_aside(openlive_server: Server) -> None:
    job = {"mode": "proactive", "system": "You help with cooking.",
           "prompts": ["aside: did you feed the dog", "how long do I boil pasta"]}
    aside, question = run_client(openlive_server, job, script="py_thinking.py")["turns"]
    assert aside["text"] == "" and aside["turn_complete"]
    assert aside["waiting_for_input"] is True and aside["reason"] == "NEED_MORE_INPUT"
    assert aside["usage"]["response"] == 0
    assert question["text"].endswith("how long do I boil pasta")
    assert question["waiting_for_input"] is None and question["reason"] is None


def test_without_proactive_audio_every_turn_is_answered(openlive_server: Server) -> None:
    job = {"mode": "proactive", "system": "You help with cooking.", "proactive": False,
           "prompts": ["aside: did you feed the dog"]}
    (aside,) = run_client(openlive_server, job, script="py_thinking.py")["turns"]
    assert aside["text"] == "[messages=2] aside: did you feed the dog"
    assert aside["waiting_for_input"] is None


# -- the real default language model ---------------------------------------------------------


@pytest.mark.realmodel
def test_real_model_thinks_before_answering(real_server: Server) -> None:
    result = run_client(real_server, {
        "mode": "thinking", "prompt": "What is the capital of France?",
        "system": "Answer in one short sentence.", "max_output_tokens": 32,
        "thinking": {"include_thoughts": True, "thinking_budget": 48}}, script="py_thinking.py")
    thoughts = "".join(result["thoughts"])
    assert thoughts.strip() and thoughts not in result["text"]
    assert "paris" in words(result["text"]), result
    assert 0 < result["usage"]["thoughts"] <= 48
    usage = result["usage"]
    assert usage["total"] == usage["prompt"] + usage["response"] + usage["thoughts"]


@pytest.mark.realmodel
def test_real_model_answers_a_relevant_turn_and_not_an_irrelevant_one(
        real_server: Server) -> None:
    job = {"mode": "proactive",
           "system": "You are an assistant for Italian cooking. Only chime in when the "
                     "topic is Italian cooking.",
           "prompts": ["Honey, did you remember to feed the dog?",
                       "How long should I boil fresh pasta?"]}
    aside, question = run_client(real_server, job, script="py_thinking.py")["turns"]
    assert aside["text"] == "" and aside["waiting_for_input"] is True, aside
    assert aside["reason"] == "NEED_MORE_INPUT"
    assert question["text"].strip() and question["waiting_for_input"] is None, question


# -- the Node SDK (fake model) ----------------------------------------------------------------


def node(server: Server, job: dict[str, Any]) -> list[dict[str, Any]]:
    from tests.conformance.test_voice_node import run_client as run_node

    result = run_node(server, job, script="node_thinking.mjs")
    assert result["error"] is None, result
    return list(result["turns"])


def test_node_include_thoughts_gives_thought_parts(openlive_server: Server) -> None:
    (turn,) = node(openlive_server, {"mode": "thinking", "prompt": PROMPT,
                                     "thinking": {"includeThoughts": True,
                                                  "thinkingBudget": 64}})
    assert "".join(turn["thoughts"]) == f"Thinking about: {PROMPT}"
    assert turn["text"] == f"[messages=1] {PROMPT}"
    assert turn["usage"]["thoughtsTokenCount"] == 7


def test_node_no_thinking_config_gives_no_thoughts(openlive_server: Server) -> None:
    (turn,) = node(openlive_server, {"mode": "thinking", "prompt": PROMPT})
    assert turn["thoughts"] == [] and "thoughtsTokenCount" not in turn["usage"]


def test_node_proactive_audio_stays_silent_on_an_aside(openlive_server: Server) -> None:
    aside, question = node(openlive_server, {
        "mode": "proactive", "system": "You help with cooking.",
        "prompts": ["aside: did you feed the dog", "how long do I boil pasta"]})
    assert aside["text"] == "" and aside["waitingForInput"] is True
    assert aside["reason"] == "NEED_MORE_INPUT"
    assert question["text"].endswith("how long do I boil pasta")


# -- spoken, on the real default models --------------------------------------------------------


@pytest.mark.realmodel
@pytest.mark.parametrize(("said", "answered"), [
    ("Honey, did you remember to feed the dog?", False),
    ("How long should I boil fresh pasta?", True),
])
def test_real_model_spoken_turns_under_proactive_audio(real_server: Server, tmp_path: Path,
                                                      said: str, answered: bool) -> None:
    config = {"system_instruction": "You are an assistant for Italian cooking. Only chime "
                                    "in when the topic is Italian cooking.",
              "proactivity": {"proactive_audio": True}}
    result = run_client(real_server, {"mode": "voice", "rate": 16000, "config": config,
                                      "pcm": str(spoken(tmp_path, said))})
    assert result["input"], result  # the words were heard either way
    assert "turn_complete" in result["flags"]
    if answered:
        assert result["audio_bytes"] > 0 and "waiting_for_input" not in result["flags"], result
    else:
        assert result["audio_bytes"] == 0 and "waiting_for_input" in result["flags"], result
