"""Thinking: thinkingConfig read at setup, thoughts out as ``thought`` parts only when
asked, never spoken or transcribed, counted as thoughtsTokenCount."""

from __future__ import annotations

import pytest

from openlive.chat import DYNAMIC_THINKING
from openlive.errors import InvalidArgument
from openlive.session.actions import Synthesize
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    GenerationFinished,
    GenerationThought,
    SpeechSynthesized,
    SynthesisDrained,
)
from openlive.session.thinking import LEVEL_BUDGETS
from tests.session.conversation import Conversation, closes, sent, starts

AUDIO = ServerCapabilities(audio_output=True)


def ask(c: Conversation) -> int:
    actions = c.client({"realtimeInput": {"text": "Why is the sky blue?"}})
    (start,) = starts(actions)
    return start.generation_id


def text_session(thinking: dict | None, capabilities: ServerCapabilities | None = None
                 ) -> Conversation:
    c = Conversation(capabilities)
    generation = {"responseModalities": ["TEXT"]}
    if thinking is not None:
        generation["thinkingConfig"] = thinking
    c.setup(generationConfig=generation)
    return c


@pytest.mark.parametrize(("thinking", "budget"), [
    (None, None),  # the backend's default: the local model does not think
    ({}, None),
    ({"thinkingBudget": 0}, 0),
    ({"thinkingBudget": 300}, 300),
    ({"thinkingBudget": -1}, DYNAMIC_THINKING),
    ({"includeThoughts": True}, DYNAMIC_THINKING),  # the model's default thinking
    ({"thinkingLevel": "LOW"}, LEVEL_BUDGETS["LOW"]),
    ({"thinking_level": "minimal"}, 0),  # the Python SDK's snake case, any case
    ({"thinkingLevel": "XHIGH"}, LEVEL_BUDGETS["XHIGH"]),
])
def test_the_budget_asked_for_reaches_the_model(thinking: dict | None,
                                                budget: int | None) -> None:
    c = text_session(thinking)
    (start,) = starts(c.client({"realtimeInput": {"text": "hi"}}))
    assert start.request.thinking_budget == budget


def test_the_operator_can_turn_on_the_hosted_default() -> None:
    c = text_session(None, ServerCapabilities(hosted_thinking=True))
    (start,) = starts(c.client({"realtimeInput": {"text": "hi"}}))
    assert start.request.thinking_budget == DYNAMIC_THINKING
    # and a client's own budget still wins
    c = text_session({"thinkingBudget": 0}, ServerCapabilities(hosted_thinking=True))
    (start,) = starts(c.client({"realtimeInput": {"text": "hi"}}))
    assert start.request.thinking_budget == 0


@pytest.mark.parametrize("thinking", [
    {"thinkingBudget": 100, "thinkingLevel": "LOW"},
    {"thinkingBudget": -2},
])
def test_a_bad_thinking_config_closes_1007(thinking: dict) -> None:
    c = Conversation()
    actions = c.setup(generationConfig={"responseModalities": ["TEXT"],
                                        "thinkingConfig": thinking})
    (close,) = closes(actions)
    assert close.code == 1007


def test_an_unknown_level_is_a_bad_argument() -> None:
    with pytest.raises(InvalidArgument, match="thinkingLevel"):
        text_session({"thinkingLevel": "EXTREME"})


def test_thoughts_go_out_as_thought_parts_and_are_counted() -> None:
    c = text_session({"includeThoughts": True, "thinkingBudget": 64})
    gid = ask(c)
    out = sent(c.feed(GenerationThought(gid, "Rayleigh scattering.")))
    assert out == [{"serverContent": {"modelTurn": {
        "role": "model", "parts": [{"text": "Rayleigh scattering.", "thought": True}]}}}]
    c.delta(gid, "Because of scattering.")
    done = sent(c.feed(GenerationFinished(gid, 10, 4, thoughts_tokens=5)))
    usage = done[-1]["usageMetadata"]
    assert usage["thoughtsTokenCount"] == 5
    assert usage["responseTokenCount"] == 4 and usage["totalTokenCount"] == 19
    # the history keeps the answer, not the thoughts
    conversation = c.session._conversation
    assert conversation is not None
    history = conversation.history.messages(None)
    assert history[-1].content == "Because of scattering."


def test_without_include_thoughts_they_are_counted_but_not_sent() -> None:
    c = text_session({"thinkingBudget": 64})
    gid = ask(c)
    assert sent(c.feed(GenerationThought(gid, "secret reasoning"))) == []
    c.delta(gid, "Blue.")
    done = sent(c.feed(GenerationFinished(gid, 10, 1, thoughts_tokens=7)))
    assert done[-1]["usageMetadata"]["thoughtsTokenCount"] == 7


def test_no_thoughts_means_no_thoughts_token_count() -> None:
    c = text_session(None)
    gid = ask(c)
    c.delta(gid, "Blue.")
    done = sent(c.feed(GenerationFinished(gid, 10, 1)))
    assert "thoughtsTokenCount" not in done[-1]["usageMetadata"]


def test_budget_zero_sends_no_thoughts_even_if_a_backend_reasons() -> None:
    c = text_session({"includeThoughts": True, "thinkingBudget": 0})
    gid = ask(c)
    assert sent(c.feed(GenerationThought(gid, "unasked reasoning"))) == []


def test_spoken_thoughts_are_never_synthesized_or_transcribed() -> None:
    c = Conversation(AUDIO)
    c.setup(generationConfig={"responseModalities": ["AUDIO"],
                              "thinkingConfig": {"includeThoughts": True}},
            outputAudioTranscription={})
    gid = ask(c)
    actions = c.feed(GenerationThought(gid, "Think about light. "))
    assert not [a for a in actions if isinstance(a, Synthesize)]
    assert [m["serverContent"]["modelTurn"]["parts"][0]["thought"] for m in sent(actions)] \
        == [True]
    actions = c.delta(gid, "It is scattering.")
    actions += c.feed(GenerationFinished(gid, 10, 4, thoughts_tokens=3))
    pieces = [a for a in actions if isinstance(a, Synthesize)]
    assert [p.text for p in pieces] == ["It is scattering."]
    out = []
    for piece in pieces:
        out += sent(c.feed(SpeechSynthesized(gid, piece.piece_id, b"\0\0" * 2400)))
    out += sent(c.feed(SynthesisDrained(gid)))
    transcribed = "".join(m["serverContent"]["outputTranscription"]["text"] for m in out
                          if "outputTranscription" in m.get("serverContent", {}))
    assert transcribed == "It is scattering."
    assert out[-1]["usageMetadata"]["thoughtsTokenCount"] == 3
