"""BargeInJudge: speech over a reply, judged on its own (no machine, no listening)."""

from __future__ import annotations

from openlive.session.actions import Action, Transcribe
from openlive.session.bargein import BARGE_PREROLL, CONFIRM_SECONDS, BargeInJudge
from openlive.session.speaking import Reply, Voicing


def speaking_reply(text: str = "The weather in Paris is sunny today.") -> Reply:
    reply = Reply(1, Voicing("Puck", None, transcribe_output=False))
    reply.on_text(text)
    reply.on_llm_finished()
    return reply


def the_check(actions: list[Action]) -> Transcribe:
    [check] = actions
    assert isinstance(check, Transcribe)
    return check


def started(onset: float = 1.0) -> tuple[BargeInJudge, Reply]:
    judge, reply = BargeInJudge(), speaking_reply()
    judge.start(onset, reply, now=10.0)
    return judge, reply


def test_speech_over_the_reply_pauses_it_at_once() -> None:
    judge, reply = started()
    assert reply.paused_at == 10.0
    assert judge.pending is not None and judge.pending.onset == 1.0


def test_a_short_sound_resumes_the_reply() -> None:
    judge, reply = started()
    assert judge.on_score(1.1, 10.1, reply, speaking=False, language=None) == []
    assert reply.paused_at is None  # a cough: it plays on
    assert judge.pending is not None and judge.pending.resumed


def test_long_speech_is_checked_by_the_recognizer_with_a_preroll() -> None:
    judge, reply = started()
    at = 1.0 + CONFIRM_SECONDS + 0.1
    check = the_check(judge.on_score(at, 10.5, reply, speaking=True, language="en"))
    assert check == Transcribe(check.turn_id, 1.0 - BARGE_PREROLL, at, "en")
    assert judge.is_check(check.turn_id)
    assert judge.on_score(at + 0.1, 10.6, reply, speaking=True, language="en") == []  # waits
    assert judge.on_words(check.turn_id, "stop, tell me about Rome", reply, 10.7) == ([], True)


def test_a_backchannel_or_an_echo_lets_the_reply_go_on() -> None:
    for words in ("mm-hm", "the weather in Paris", ""):
        judge, reply = started()
        check = the_check(judge.on_score(2.0, 10.5, reply, speaking=True, language=None))
        _, interrupted = judge.on_words(check.turn_id, words, reply, 10.7)
        assert not interrupted and reply.paused_at is None
        # the rest of that speech is not judged again
        assert judge.on_score(2.5, 11.0, reply, speaking=True, language=None) == []


def test_an_old_check_or_a_finished_reply_changes_nothing() -> None:
    judge, reply = started()
    check = the_check(judge.on_score(2.0, 10.5, reply, speaking=True, language=None))
    assert judge.on_words(check.turn_id - 1, "stop", reply, 10.7) == ([], False)
    assert judge.on_words(check.turn_id, "stop", None, 10.7) == ([], False)
    assert judge.on_score(2.1, 10.8, None, speaking=True, language=None) == []
    assert judge.pending is None  # the reply ended: nothing left to judge


def test_checks_have_their_own_negative_ids() -> None:
    judge = BargeInJudge()
    ids = []
    for _ in range(2):
        reply = speaking_reply()
        judge.start(1.0, reply, now=0.0)
        check = the_check(judge.on_score(2.0, 1.0, reply, speaking=True, language=None))
        ids.append(check.turn_id)
    assert ids == [-1, -2]
    assert not judge.is_check(1)


def test_the_words_of_a_user_turn_keep_the_floor_only_if_they_are_aside() -> None:
    judge, reply = started()
    _, kept = judge.on_user_turn("uh-huh", reply, 11.0)
    assert kept and reply.paused_at is None and judge.pending is None
    assert judge.on_user_turn("what about Rome", speaking_reply(), 11.0) == ([], False)
    # no words at all (noise ended the turn): the reply goes on, paused or not
    assert judge.on_user_turn("", speaking_reply(), 11.0) == ([], True)
    judge, reply = started()
    _, kept = judge.on_user_turn("", reply, 11.0)
    assert kept and reply.paused_at is None
    assert judge.on_user_turn("uh-huh", None, 11.0) == ([], False)


def test_interjections_are_backchannels_however_whisper_spells_them() -> None:
    from openlive.session.bargein import is_backchannel

    # as Whisper wrote Kokoro's "uh-huh" and "yeah" and espeak's "uh-huh"
    for text in ("Oh, ho.", "Yeah, ho.", "haha", "Uh-huh.", "Aha!", "Ooh.", "Mm-hmm.",
                 "uh uh uh uh uh uh uh uh uh uh"):
        assert is_backchannel(text), text
    for text in ("Hi.", "He was not", "Who?", "How?", "Oh, sir.", "Hold on.", "No.", "Stop.",
                 "yeah okay right sure"):
        assert not is_backchannel(text), text
