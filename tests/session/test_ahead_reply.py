"""AheadReply on its own: the held generation's events are kept, not acted on."""

from __future__ import annotations

from openlive.chat import ChatMessage, ToolCall
from openlive.protocol.client import RealtimeInput, ToolResponse
from openlive.protocol.types import Blob
from openlive.session.actions import CancelGeneration, CancelSynthesis, Synthesize
from openlive.session.ahead import AheadReply, changes_context
from openlive.session.events import (
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
    GenerationMalformedCall,
    GenerationToolCalls,
    SpeechSynthesized,
    SynthesisDrained,
    Tick,
)
from openlive.session.speaking import Reply, Voicing


def held(gid: int = 7) -> AheadReply:
    reply = Reply(gid, Voicing("Puck", None, transcribe_output=False))
    reply.pause(0.0)
    return AheadReply(ChatMessage("user", "what time is it"), reply)


def test_it_owns_the_events_of_its_generation_only() -> None:
    ahead = held()
    assert ahead.owns(GenerationDelta(7, "It"))
    assert ahead.owns(SynthesisDrained(7))
    assert not ahead.owns(GenerationDelta(8, "It"))
    assert not ahead.owns(Tick())


def test_it_synthesizes_but_sends_nothing_and_keeps_the_rest() -> None:
    ahead = held()
    actions, failed = ahead.hold(GenerationDelta(7, "It is noon. "), 0.1)
    assert not failed and [type(a) for a in actions] == [Synthesize]
    assert ahead.hold(SpeechSynthesized(7, 0, b"\x00\x00" * 2400), 0.2) == ([], False)
    calls = GenerationToolCalls(7, (ToolCall("c1", "clock"),))
    assert ahead.hold(calls, 0.3) == ([], False) and ahead.calls == calls
    assert ahead.hold(GenerationMalformedCall(7, ("bad args",)), 0.3) == ([], False) and ahead.malformed
    finished = GenerationFinished(7, 5, 3)
    _, failed = ahead.hold(finished, 0.4)
    assert not failed and ahead.finished == finished
    assert ahead.hold(SynthesisDrained(7), 0.5) == ([], False)
    assert ahead.reply.synthesis_done and ahead.reply.spoken == []  # held: nothing sent


def test_a_failure_says_so_and_cancelling_stops_both_engines() -> None:
    ahead = held()
    assert ahead.hold(GenerationFailed(7, "boom"), 0.1) == ([], True)
    assert ahead.cancel() == [CancelGeneration(7), CancelSynthesis(7)]


def test_what_makes_an_answer_ahead_stale() -> None:
    audio = Blob(mime_type="audio/pcm;rate=16000", data=b"\x00\x00")
    assert not changes_context(RealtimeInput(audio=audio))
    assert changes_context(RealtimeInput(text="hi"))
    assert changes_context(ToolResponse(function_responses=[]))
