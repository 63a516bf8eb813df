"""The tone estimator: measured manners and words in, a tone and its treatment out."""

from __future__ import annotations

import pytest

from openlive.audio.prosody import Prosody
from openlive.session.affect import (
    AGITATED,
    ANXIOUS,
    DOWN,
    EXCITED,
    NEUTRAL,
    REFERENCE,
    UPSET,
    Affect,
    feeling_of,
    treatment,
)

SENTENCE = "I have been waiting for my package since Monday."  # 9 words, no feeling


def manner(level_db: float = REFERENCE.level_db, words_per_second: float = 3.0,
           pitch_hz: float | None = 120.0, pitch_range: float | None = 7.0,
           syllable_rate: float | None = 3.0, words: int = 9) -> Prosody:
    """A measured utterance of ``words`` words, said at ``words_per_second``."""
    return Prosody(words / words_per_second, level_db, pitch_hz, pitch_range, syllable_rate)


CALM = manner(level_db=-28.0, words_per_second=2.4, pitch_range=5.0)
TYPICAL = manner()
AGITATED_VOICE = manner(level_db=-12.0, words_per_second=4.4, pitch_range=11.0)


@pytest.mark.parametrize(("text", "feeling"), [
    ("This is ridiculous, I am so frustrated.", "anger"),
    ("I'm fed up with this.", "anger"),
    ("I am not happy with the service.", "anger"),  # a negated joy is displeasure
    ("I feel so lonely and sad today.", "sadness"),
    ("I'm really worried about the surgery.", "worry"),
    ("That's amazing, I love it!", "joy"),
    ("Don't worry about it.", None),  # a negated worry is no feeling
    ("What is the capital of France?", None),
    ("Tell me a joke about a fed cat.", None),  # "fed" alone is not "fed up"
    ("", None),
])
def test_the_words_carry_a_feeling(text: str, feeling: str | None) -> None:
    assert feeling_of(text) == feeling


def test_an_agitated_voice_is_upset_and_a_calm_or_typical_one_is_neutral() -> None:
    affect = Affect()
    upset = affect.judge(AGITATED_VOICE, SENTENCE)
    assert upset.tone == UPSET and upset.arousal is not None and upset.arousal >= AGITATED
    for calm in (CALM, TYPICAL):
        estimate = affect.judge(calm, SENTENCE)
        assert estimate.tone == NEUTRAL and estimate.arousal is not None
        assert estimate.arousal < AGITATED
    assert affect.judge(CALM, SENTENCE).arousal < affect.judge(TYPICAL, SENTENCE).arousal  # type: ignore[operator]


def test_happy_words_in_an_agitated_voice_are_excitement() -> None:
    assert Affect().judge(AGITATED_VOICE, "We won the match, that's amazing!").tone == EXCITED
    assert Affect().judge(TYPICAL, "That's amazing!").tone == NEUTRAL  # calmly glad


def test_words_decide_when_the_voice_is_calm_or_absent() -> None:
    affect = Affect()
    assert affect.judge(None, "This is ridiculous, nothing works.").tone == UPSET
    assert affect.judge(CALM, "This is ridiculous, nothing works.").tone == UPSET
    assert affect.judge(None, "I'm so worried about my exam.").tone == ANXIOUS
    assert affect.judge(CALM, "I feel sad and lonely.").tone == DOWN
    typed = affect.judge(None, SENTENCE)
    assert typed.tone == NEUTRAL and typed.arousal is None


def test_each_cue_raises_arousal_on_its_own() -> None:
    affect = Affect()
    base = affect.arousal(TYPICAL, SENTENCE)
    louder = affect.arousal(manner(level_db=REFERENCE.level_db + 6), SENTENCE)
    faster = affect.arousal(manner(words_per_second=3.8), SENTENCE)
    wider = affect.arousal(manner(pitch_range=10.0), SENTENCE)
    assert base == pytest.approx(0.0, abs=1e-9)
    assert louder > base and faster > base and wider > base
    # with too few words for a pace, the syllables stand in
    short = manner(syllable_rate=5.0, words=2)
    assert affect.arousal(short, "Hurry up") > affect.arousal(manner(words=2), "Hurry up")


def test_one_extreme_cue_cannot_make_a_voice_agitated() -> None:
    shouted = manner(level_db=+20.0)  # absurdly loud, everything else typical
    assert Affect().judge(shouted, SENTENCE).tone == NEUTRAL


def test_the_users_own_manner_becomes_the_reference() -> None:
    """A user whose microphone is hot and who speaks fast is upset at first hearing,
    but once a few such turns are heard, that is how they talk."""
    loud_talker = manner(level_db=-12.0, words_per_second=4.2, pitch_range=9.0)
    affect = Affect()
    assert affect.judge(loud_talker, SENTENCE).tone == UPSET
    for _ in range(4):
        affect.settle(loud_talker, SENTENCE)
    assert affect.judge(loud_talker, SENTENCE).tone == NEUTRAL
    # and their voice rising well above its own pitch and level is noticed again
    rising = manner(level_db=-4.0, words_per_second=5.2, pitch_hz=170.0, pitch_range=13.0)
    assert affect.judge(rising, SENTENCE).tone == UPSET
    affect.settle(None, SENTENCE)  # typed turns leave the reference alone
    assert len(affect.heard) == 4


def test_each_tone_has_its_treatment_and_neutral_changes_nothing() -> None:
    assert treatment(NEUTRAL).note is None and treatment(NEUTRAL).delivery is None
    upset = treatment(UPSET)
    assert upset.note is not None and "calm" in upset.note
    assert upset.delivery is not None and upset.delivery.rate < 1.0
    assert upset.delivery.pitch_semitones < 0 and upset.delivery.expressiveness < 1.0
    excited = treatment(EXCITED)
    assert excited.delivery is not None and excited.delivery.rate > 1.0
    notes = {treatment(tone).note for tone in (UPSET, EXCITED, ANXIOUS, DOWN)}
    assert len(notes) == 4
