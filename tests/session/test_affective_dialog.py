"""Affective dialog through the session: the tone of a turn changes what the model is
told and how the reply is spoken; without ``enableAffectiveDialog`` nothing changes."""

from __future__ import annotations

from dataclasses import replace

from openlive.audio.prosody import Prosody
from openlive.session.actions import StartGeneration, Synthesize, Transcribe
from openlive.session.affect import UPSET, treatment
from openlive.session.events import GenerationDelta, GenerationFinished, TranscriptReady
from tests.session.conversation import Conversation, starts
from tests.session.test_voice import VOICE, of, speak

SENTENCE = "I have been waiting for my package since Monday."
AGITATED = Prosody(seconds=2.0, level_db=-12.0, pitch_hz=160.0, pitch_range=11.0,
                   syllable_rate=6.0)  # loud, 4.5 words per second, a wide pitch
CALM = Prosody(seconds=3.6, level_db=-27.0, pitch_hz=110.0, pitch_range=5.0,
               syllable_rate=3.0)  # soft, 2.5 words per second


def session(affective: bool | None, modality: str = "AUDIO") -> Conversation:
    c = Conversation(VOICE)
    config: dict[str, object] = {"responseModalities": [modality]}
    if affective is not None:
        config["enableAffectiveDialog"] = affective
    c.setup(generationConfig=config,
            realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 300}})
    return c


def voice_turn(c: Conversation, prosody: Prosody | None, words: str = SENTENCE
               ) -> tuple[Transcribe, StartGeneration, list[Synthesize]]:
    """The user says ``words`` in the manner ``prosody``; the model answers."""
    speak(c, 0.0, 1.0, 0.9)
    [asked] = of(Transcribe, speak(c, 1.0, 0.4, 0.01))
    [start] = starts(c.feed(TranscriptReady(asked.turn_id, words, end=asked.end,
                                            prosody=prosody)))
    gid = start.generation_id
    pieces = c.feed(GenerationDelta(gid, "I am sorry to hear that. Let me check it now."))
    pieces += c.feed(GenerationFinished(gid, 10, 12))
    return asked, start, of(Synthesize, pieces)


def told(start: StartGeneration) -> str | None:
    spoken = start.request.spoken
    assert spoken is not None
    return spoken.tone


def test_an_agitated_voice_changes_the_note_and_the_delivery_a_calm_one_does_not() -> None:
    c = session(True)
    assert c.session.config is not None and c.session.config.affective_dialog
    asked, upset, upset_speech = voice_turn(c, AGITATED)
    assert asked.prosody  # the session asked for the turn's manner to be measured
    _, calm, calm_speech = voice_turn(session(True), CALM)
    assert told(upset) == treatment(UPSET).note and told(calm) is None
    assert upset.request.messages == calm.request.messages  # the words are the words
    assert upset_speech and all(s.delivery == treatment(UPSET).delivery
                                for s in upset_speech)
    assert calm_speech and all(s.delivery is None for s in calm_speech)


def test_without_the_flag_both_renditions_are_treated_alike() -> None:
    for flag in (None, False):
        asked, upset, upset_speech = voice_turn(session(flag), AGITATED)
        assert not asked.prosody  # nothing is measured
        _, calm, calm_speech = voice_turn(session(flag), CALM)
        assert upset.request == calm.request and told(upset) is None
        assert [s.delivery for s in upset_speech] == [s.delivery for s in calm_speech]
        assert all(s.delivery is None for s in upset_speech)


def test_a_text_session_accepts_the_flag_and_ignores_it() -> None:
    c = session(True, modality="TEXT")
    assert c.session.config is not None and not c.session.config.affective_dialog
    [start] = starts(c.client({"realtimeInput": {"text": "This is ridiculous!"}}))
    assert start.request.spoken is None


def test_typed_words_of_anger_are_heard_too() -> None:
    c = session(True)
    [start] = starts(c.client({"realtimeInput": {"text": "This is ridiculous, I'm fed up."}}))
    assert told(start) == treatment(UPSET).note
    c.feed(GenerationFinished(start.generation_id, 5, 0))
    [start] = starts(c.client({"clientContent": {"turns": [
        {"role": "user", "parts": [{"text": "OK, what is the weather like?"}]}],
        "turnComplete": True}}))
    assert told(start) is None  # the next turn is judged afresh


def test_every_transcript_asked_measures_the_manner_too() -> None:
    """Decodes while the user speaks are measured as well: one that ends exactly at a
    pause becomes that pause's transcript (listening.py), and the answer ahead of it."""
    c = Conversation(replace(VOICE, interim_every=1.0))
    c.setup(generationConfig={"responseModalities": ["AUDIO"], "enableAffectiveDialog": True})
    asked = of(Transcribe, speak(c, 0.0, 2.5, 0.9) + speak(c, 2.5, 0.3, 0.01))
    assert {t.kind for t in asked} == {"interim", "partial"}
    assert all(t.prosody for t in asked)
