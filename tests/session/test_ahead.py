"""Answering ahead: a reply generated during the user's pause, held until the turn ends."""

from __future__ import annotations

from openlive.chat import ToolCall
from openlive.session.actions import (
    CancelGeneration,
    CancelSynthesis,
    ScoreEndOfTurn,
    Synthesize,
    Transcribe,
)
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    EndOfTurnScored,
    GenerationToolCalls,
    SpeechSynthesized,
    SynthesisDrained,
    TranscriptReady,
)
from tests.session.conversation import Conversation, sent, starts
from tests.session.test_voice import done, of, speak

AHEAD = ServerCapabilities(audio_output=True, audio_input=True, end_of_turn_model=True,
                           answer_ahead=True)
SECOND = b"\x00\x00" * 24000


def voice(capabilities: ServerCapabilities = AHEAD, modality: str = "AUDIO",
          **setup: object) -> Conversation:
    c = Conversation(capabilities)
    c.setup(generationConfig={"responseModalities": [modality]}, **setup)
    return c


def pause_after(c: Conversation, words: str, start: float = 0.0) -> tuple[list, object]:
    """The user says ``words`` for a second, then pauses; returns the actions once the
    pause's transcript is back, and the end-of-turn check they ask for."""
    speak(c, start, 1.0, 0.9)
    [spec] = of(Transcribe, speak(c, start + 1.0, 0.25, 0.01))
    actions = c.feed(TranscriptReady(spec.turn_id, words, end=spec.end))
    [score] = of(ScoreEndOfTurn, actions)
    return actions, score


def audio_parts(frames: list[dict]) -> int:
    return sum(1 for f in frames
               if "modelTurn" in f.get("serverContent", {}))


def test_the_pause_starts_an_answer_that_is_held_until_the_turn_ends() -> None:
    c = voice()
    actions, score = pause_after(c, "what time is it")
    [start] = starts(actions)  # answered at the pause, before the end-of-turn verdict
    assert start.request.messages[-1].content == "what time is it"
    assert start.speculative  # thrown away if the user goes on: after waited-for work
    gid = start.generation_id
    [piece] = of(Synthesize, c.delta(gid, "It is noon. "))
    assert audio_parts(sent(c.feed(SpeechSynthesized(gid, piece.piece_id, SECOND)))) == 0
    c.finish(gid, prompt=7, completion=4)
    c.feed(SynthesisDrained(gid))
    assert c.session.history.turns() == ()  # nothing of it is in the history yet

    out = done(c, score.turn_id, 1.0)  # done: the held answer goes out
    assert starts(out) == []  # no second generation
    frames = sent(out)
    assert audio_parts(frames) >= 1
    [complete] = [f for f in frames if f.get("serverContent", {}).get("turnComplete")]
    assert complete["usageMetadata"]["promptTokenCount"] == 7
    assert [m.content for m in c.session.history.turns()] == ["what time is it", "It is noon."]


def test_audio_synthesized_after_adoption_is_paced_as_usual() -> None:
    c = voice()
    actions, score = pause_after(c, "tell me a story")
    [start] = starts(actions)
    gid = start.generation_id
    done(c, score.turn_id, 1.0)  # adopted before any text came
    [piece] = of(Synthesize, c.delta(gid, "Once upon a time. "))
    frames = sent(c.feed(SpeechSynthesized(gid, piece.piece_id, SECOND)))
    assert audio_parts(frames) == 1


def test_the_answer_is_dropped_when_the_user_goes_on() -> None:
    c = voice()
    actions, score = pause_after(c, "I would like")
    [start] = starts(actions)
    gid = start.generation_id
    c.feed(EndOfTurnScored(score.turn_id, 0.2))  # not done, says the model
    actions = speak(c, 1.25, 0.3, 0.9)  # and the user goes on
    assert CancelGeneration(gid) in actions and CancelSynthesis(gid) in actions
    actions = speak(c, 1.55, 0.25, 0.01)
    [spec2] = of(Transcribe, actions)
    actions = c.feed(TranscriptReady(spec2.turn_id, "I would like tea", end=spec2.end))
    [score2], [again] = of(ScoreEndOfTurn, actions), starts(actions)
    assert again.request.messages[-1].content == "I would like tea"
    assert again.generation_id != gid
    out = done(c, score2.turn_id, 1.55)
    assert starts(out) == []  # the second answer ahead is the one adopted
    assert [m.content for m in c.session.history.turns()] == ["I would like tea"]


def test_a_click_in_the_pause_does_not_drop_the_answer() -> None:
    c = voice()
    actions, _score = pause_after(c, "what time is it")
    [start] = starts(actions)
    actions = speak(c, 1.25, 0.032, 0.9)  # one loud frame: the silence window runs on
    assert CancelGeneration(start.generation_id) not in actions


def test_function_calls_of_a_held_answer_go_out_only_once_it_is_adopted() -> None:
    tools = [{"functionDeclarations": [{"name": "get_time", "description": "clock"}]}]
    c = voice(tools=tools)
    actions, score = pause_after(c, "what time is it")
    [start] = starts(actions)
    gid = start.generation_id
    assert [t.name for t in start.request.tools] == ["get_time"]
    out = sent(c.feed(GenerationToolCalls(gid, (ToolCall("function-call-1", "get_time"),))))
    assert out == []
    c.finish(gid)
    c.feed(SynthesisDrained(gid))
    frames = sent(done(c, score.turn_id, 1.0))
    [call] = [f["toolCall"] for f in frames if "toolCall" in f]
    assert call["functionCalls"][0]["name"] == "get_time"


def test_client_content_in_the_pause_drops_the_answer() -> None:
    c = voice()
    actions, _ = pause_after(c, "what time is it")
    [start] = starts(actions)
    out = c.client({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}]}})
    assert CancelGeneration(start.generation_id) in out


def test_an_empty_final_transcript_drops_the_answer() -> None:
    c = voice(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 300}})
    speak(c, 0.0, 1.0, 0.9)
    actions = speak(c, 1.0, 0.2, 0.01)
    [spec] = of(Transcribe, actions)
    [start] = starts(c.feed(TranscriptReady(spec.turn_id, "hm", end=spec.end)))
    actions = speak(c, 1.2, 0.2, 0.01)  # the 300 ms window runs out: the turn ends here
    assert starts(actions) == []  # adopted, as the transcript was already there
    assert c.session.reply is not None
    assert c.session.reply.generation_id == start.generation_id


def test_no_answer_ahead_for_text_replies_or_when_the_server_says_not() -> None:
    for c in (voice(modality="TEXT"),
              voice(ServerCapabilities(audio_output=True, audio_input=True,
                                       end_of_turn_model=True))):
        actions, score = pause_after(c, "what time is it")
        assert starts(actions) == []
        [start] = starts(done(c, score.turn_id, 1.0))
        assert start.request.messages[-1].content == "what time is it"
