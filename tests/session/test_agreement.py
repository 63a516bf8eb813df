"""The LocalAgreement policy (session/agreement.py): decodes in, settled words out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openlive.session.agreement import LocalAgreement, Update, Word, join, words_of


def texts(update: Update) -> tuple[list[str], list[str]]:
    return [w.text for w in update.committed], [w.text for w in update.tail]


def timed(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(text, start, end) for text, start, end in spec]


# -- agreement ------------------------------------------------------------------------------


def test_a_word_is_committed_once_two_decodes_agree_on_it() -> None:
    policy = LocalAgreement(2)
    assert texts(policy.update(words_of("what is"))) == ([], ["what", "is"])
    assert texts(policy.update(words_of("what is the"))) == (["what", "is"], ["the"])
    assert texts(policy.update(words_of("what is the capital"))) == (["the"], ["capital"])
    assert policy.text == "what is the"


def test_a_revised_word_is_not_committed() -> None:
    policy = LocalAgreement(2)
    policy.update(words_of("I want for"))
    update = policy.update(words_of("I want four apples"))
    assert texts(update) == (["I", "want"], ["four", "apples"])


def test_three_decodes_must_agree_with_n_3() -> None:
    policy = LocalAgreement(3)
    policy.update(words_of("hello there"))
    assert texts(policy.update(words_of("hello there friend"))) == ([], ["hello", "there",
                                                                         "friend"])
    assert texts(policy.update(words_of("hello there friends"))) == (["hello", "there"],
                                                                     ["friends"])


def test_agreement_ignores_case_and_punctuation_and_keeps_the_newest_spelling() -> None:
    policy = LocalAgreement(2)
    policy.update(words_of("hello world"))
    update = policy.update(words_of("Hello, world and"))
    assert texts(update) == (["Hello,", "world"], ["and"])


def test_a_decode_that_revises_a_committed_word_does_not_commit_it_again() -> None:
    policy = LocalAgreement(2)
    policy.update(words_of("the cat sat"))
    policy.update(words_of("the cat sat on"))  # commits the cat sat
    update = policy.update(words_of("the cap sat on the"))  # "cat" revised: ignored
    assert texts(update) == (["on"], ["the"])
    assert policy.text == "the cat sat on"


def test_a_word_the_decode_inserts_among_committed_ones_is_skipped() -> None:
    policy = LocalAgreement(2)
    policy.update(words_of("go forward"))
    policy.update(words_of("go forward ten"))
    update = policy.update(words_of("go uh forward ten meters"))
    assert texts(update) == (["ten"], ["meters"])


def test_an_empty_decode_commits_nothing_and_resets_agreement() -> None:
    policy = LocalAgreement(2)
    policy.update(words_of("one two"))
    assert texts(policy.update([])) == ([], [])
    assert texts(policy.update(words_of("one two three"))) == ([], ["one", "two", "three"])


def test_n_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LocalAgreement(0)


# -- trimming -------------------------------------------------------------------------------


def test_trim_point_is_the_end_of_the_last_committed_timed_word() -> None:
    policy = LocalAgreement(2)
    assert policy.trim_point() is None
    policy.update(timed(("what", 0.1, 0.4), ("is", 0.45, 0.6)))
    policy.update(timed(("what", 0.1, 0.4), ("is", 0.45, 0.62), ("the", 0.7, 0.8)))
    assert policy.trim_point() == pytest.approx(0.62)
    untimed = LocalAgreement(2)
    untimed.update(words_of("a b"))
    untimed.update(words_of("a b"))
    assert untimed.trim_point() is None


def test_after_a_trim_word_times_count_from_the_cut_and_the_prompt_is_the_text_before_it(
) -> None:
    policy = LocalAgreement(2)
    policy.update(timed(("what", 0.1, 0.4), ("is", 0.45, 0.6)))
    policy.update(timed(("what", 0.1, 0.4), ("is", 0.45, 0.6), ("the", 0.7, 0.8)))
    policy.trim(0.6)
    assert policy.offset == 0.6
    assert policy.prompt() == "what is"
    update = policy.update(timed(("the", 0.1, 0.2), ("capital", 0.3, 0.7)))
    assert texts(update) == (["the"], ["capital"])
    assert update.committed[0].start == pytest.approx(0.7)
    assert update.committed[0].end == pytest.approx(0.8)
    assert update.tail[0].end == pytest.approx(1.3)


def test_a_word_repeated_across_the_cut_is_dropped() -> None:
    policy = LocalAgreement(2)
    policy.update(timed(("go", 0.0, 0.3), ("forward", 0.3, 0.8)))
    policy.update(timed(("go", 0.0, 0.3), ("forward", 0.3, 0.8), ("ten", 0.9, 1.1)))
    policy.trim(0.8)
    # Whisper's timing was a little late: "forward" comes again from the audio's first frames
    # (the tail heard before the cut, "ten", still counts towards agreement)
    update = policy.update(timed(("forward", 0.0, 0.05), ("ten", 0.1, 0.3)))
    assert texts(update) == (["ten"], [])
    update = policy.update(timed(("ten", 0.1, 0.3), ("meters", 0.4, 0.8)))
    assert texts(update) == ([], ["meters"])
    assert policy.text == "go forward ten"


def test_committed_words_after_the_cut_are_still_aligned() -> None:
    policy = LocalAgreement(2)
    policy.update(timed(("a", 0.0, 0.2), ("b", 0.3, 0.5)))
    policy.update(timed(("a", 0.0, 0.2), ("b", 0.3, 0.5), ("c", 0.6, 0.8)))
    policy.trim(0.2)  # "b" stays inside the buffer
    assert policy.prompt() == "a"
    update = policy.update(timed(("b", 0.1, 0.3), ("c", 0.4, 0.6), ("d", 0.7, 0.9)))
    assert texts(update) == (["c"], ["d"])


def test_trim_refuses_a_cut_outside_the_committed_audio() -> None:
    policy = LocalAgreement(2)
    with pytest.raises(ValueError):
        policy.trim(0.5)  # nothing committed
    policy.update(timed(("a", 0.0, 0.4)))
    policy.update(timed(("a", 0.0, 0.4)))
    with pytest.raises(ValueError):
        policy.trim(0.9)  # after the committed word
    policy.trim(0.4)
    with pytest.raises(ValueError):
        policy.trim(0.3)  # before the buffer's start


# -- flushing -------------------------------------------------------------------------------


def test_flush_commits_the_final_decode_after_the_committed_words() -> None:
    policy = LocalAgreement(2)
    policy.update(words_of("what is"))
    policy.update(words_of("what is the"))
    update = policy.flush(words_of("what is the capital of France?"))
    assert texts(update) == (["the", "capital", "of", "France?"], [])
    assert policy.text == "what is the capital of France?"


def test_flush_without_a_final_decode_commits_the_last_tail() -> None:
    policy = LocalAgreement(2)
    policy.update(words_of("what is"))
    policy.update(words_of("what is the time"))
    assert texts(policy.flush()) == (["the", "time"], [])
    assert policy.text == "what is the time"


def test_nothing_is_accepted_after_a_flush() -> None:
    policy = LocalAgreement(2)
    policy.flush(words_of("done"))
    with pytest.raises(ValueError):
        policy.update(words_of("done"))
    with pytest.raises(ValueError):
        policy.flush()


def test_join_spaces_words_once() -> None:
    assert join([Word(" Hello,"), Word(" world"), Word("")]) == "Hello, world"


# -- properties -----------------------------------------------------------------------------

VOCABULARY = ["the", "a", "cat", "sat", "on", "mat", "four", "for", "Four,", "ten"]
sentences = st.lists(st.sampled_from(VOCABULARY), min_size=0, max_size=12)
decodes = st.lists(sentences, min_size=0, max_size=8)


@given(decodes, st.integers(1, 4), sentences)
def test_committed_words_never_change_once_committed(hypotheses: list[list[str]], n: int,
                                                     final: list[str]) -> None:
    policy = LocalAgreement(n)
    before: tuple[Word, ...] = ()
    for words in hypotheses:
        update = policy.update([Word(w) for w in words])
        assert policy.committed == before + update.committed
        before = policy.committed
    policy.flush([Word(w) for w in final])
    assert policy.committed[: len(before)] == before


@given(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=15),
       st.lists(st.integers(0, 15), min_size=1, max_size=10), st.integers(1, 3))
def test_growing_prefixes_of_one_sentence_commit_a_prefix_and_flush_gives_it_all(
        sentence: list[str], cuts: list[int], n: int) -> None:
    policy = LocalAgreement(n)
    for cut in sorted(cuts):
        policy.update([Word(w) for w in sentence[:cut]])
        committed = [w.text for w in policy.committed]
        assert committed == sentence[: len(committed)]
    policy.flush([Word(w) for w in sentence])
    assert [w.text for w in policy.committed] == sentence


@given(decodes, st.integers(1, 4))
def test_a_committed_word_was_in_each_of_the_last_n_decodes(hypotheses: list[list[str]],
                                                              n: int) -> None:
    policy = LocalAgreement(n)
    for i, words in enumerate(hypotheses):
        update = policy.update([Word(w) for w in words])
        if update.committed:
            assert i + 1 >= n
            for earlier in hypotheses[i + 1 - n: i + 1]:
                keys = [Word(w).key for w in earlier]
                for word in update.committed:
                    assert word.key in keys


@given(sentences)
def test_with_n_1_every_decode_is_committed_at_once(words: list[str]) -> None:
    policy = LocalAgreement(1)
    update = policy.update([Word(w) for w in words])
    assert [w.text for w in update.committed] == words
    assert update.tail == ()
