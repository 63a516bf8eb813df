"""Proactive audio: each user turn is judged; a turn not for the model ends silently with
waitingForInput and NEED_MORE_INPUT; without the flag every turn is answered."""

from __future__ import annotations

from openlive.chat import ToolCall
from openlive.session.actions import CancelGeneration, JudgeRelevance
from openlive.session.events import GenerationToolCalls, RelevanceJudged
from tests.session.conversation import Conversation, sent, starts

COOKING = {"parts": [{"text": "You help with Italian cooking; only answer cooking talk."}]}


def proactive(**setup: object) -> Conversation:
    c = Conversation()
    c.setup(systemInstruction=COOKING, proactivity={"proactiveAudio": True}, **setup)
    return c


def judged(actions: list) -> JudgeRelevance:
    (judge,) = [a for a in actions if isinstance(a, JudgeRelevance)]
    return judge


def say(c: Conversation, text: str) -> list:
    return c.client({"realtimeInput": {"text": text}})


def test_a_relevant_turn_is_judged_then_answered() -> None:
    c = proactive()
    actions = say(c, "How long do I boil fresh pasta?")
    judge = judged(actions)
    assert not starts(actions)  # nothing is generated before the judgment
    assert judge.request.messages[0].content.startswith("You help with Italian cooking")
    assert judge.request.messages[-1].content == "How long do I boil fresh pasta?"
    (start,) = starts(c.feed(RelevanceJudged(judge.judge_id, 0.9, prompt_tokens=40)))
    c.delta(start.generation_id, "Two to three minutes.")
    out = sent(c.finish(start.generation_id, prompt=42, completion=5))
    assert out[-1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IDLE"}
    assert out[-1]["usageMetadata"]["promptTokenCount"] == 82  # the judge read it too


def test_an_irrelevant_turn_ends_silently_waiting_for_input() -> None:
    c = proactive()
    judge = judged(say(c, "Honey, did you feed the dog?"))
    out = sent(c.feed(RelevanceJudged(judge.judge_id, 0.1, prompt_tokens=30)))
    assert out == [{"serverContent": {"turnComplete": True, "waitingForInput": True,
                                      "turnCompleteReason": "NEED_MORE_INPUT",
                                      "interactionStatus": "IDLE"},
                    "usageMetadata": {"promptTokenCount": 30, "responseTokenCount": 0,
                                      "totalTokenCount": 30,
                                      "promptTokensDetails": [{"modality": "TEXT",
                                                               "tokenCount": 30}],
                                      "responseTokensDetails": [{"modality": "TEXT",
                                                                 "tokenCount": 0}]}}]
    # the words stay in the history; the next turn is judged on its own words, the
    # aside before them as context, and answered with both in the history
    judge = judged(say(c, "Anyway, how do I make a risotto?"))
    assert [m.content for m in judge.request.messages[1:]] == [
        "Honey, did you feed the dog?", "Anyway, how do I make a risotto?"]
    (start,) = starts(c.feed(RelevanceJudged(judge.judge_id, 0.8)))
    assert start.request.messages[-1].content == (
        "Honey, did you feed the dog?\nAnyway, how do I make a risotto?")


def test_without_the_flag_every_turn_is_answered_at_once() -> None:
    c = Conversation()
    c.setup(systemInstruction=COOKING)
    actions = say(c, "Honey, did you feed the dog?")
    assert starts(actions)
    assert not [a for a in actions if isinstance(a, JudgeRelevance)]


def test_without_a_system_instruction_nothing_is_judged() -> None:
    c = Conversation()
    c.setup(proactivity={"proactiveAudio": True})
    actions = say(c, "Honey, did you feed the dog?")
    assert starts(actions) and not [a for a in actions if isinstance(a, JudgeRelevance)]


def test_a_new_turn_while_judging_cancels_the_judgment() -> None:
    c = proactive()
    first = judged(say(c, "Hm."))
    actions = say(c, "What goes into a carbonara?")
    assert CancelGeneration(first.judge_id) in actions
    second = judged(actions)
    assert c.feed(RelevanceJudged(first.judge_id, 0.9)) == []  # stale
    assert starts(c.feed(RelevanceJudged(second.judge_id, 0.9)))


def test_function_results_told_later_are_not_judged() -> None:
    c = proactive(tools=[{"functionDeclarations": [
        {"name": "timer", "behavior": "NON_BLOCKING"}]}])
    judge = judged(say(c, "Set a pasta timer."))
    (start,) = starts(c.feed(RelevanceJudged(judge.judge_id, 0.9)))
    c.feed(GenerationToolCalls(start.generation_id, (ToolCall("call-1", "timer"),)))
    (going_on,) = starts(c.finish(start.generation_id))  # the model goes on: no judging
    c.delta(going_on.generation_id, "Timer started.")
    c.finish(going_on.generation_id)
    actions = c.client({"toolResponse": {"functionResponses": [
        {"id": "call-1", "name": "timer", "response": {"output": "set"},
         "scheduling": "WHEN_IDLE"}]}})
    assert starts(actions) and not [a for a in actions if isinstance(a, JudgeRelevance)]
