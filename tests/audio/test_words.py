"""Timed words: moving them onto the session's stream, and making aligned times sane."""

from __future__ import annotations

from openlive.audio.words import TimedWord, ordered, shifted


def test_shifted_moves_every_time_by_the_audio_start() -> None:
    words = (TimedWord("hello", 0.1, 0.4), TimedWord("there", 0.4, 0.9))
    assert shifted(words, 12.5) == (TimedWord("hello", 12.6, 12.9),
                                    TimedWord("there", 12.9, 13.4))
    assert shifted((), 3.0) == ()


def test_ordered_strips_words_and_drops_empty_ones() -> None:
    assert ordered([(" Hello,", 0.0, 0.3), ("", 0.3, 0.3), ("  ", 0.3, 0.4),
                    (" world.", 0.4, 0.8)], 1.0) == (TimedWord("Hello,", 0.0, 0.3),
                                                     TimedWord("world.", 0.4, 0.8))


def test_ordered_keeps_times_inside_the_audio() -> None:
    # cross-attention alignment can end the last word past the audio
    assert ordered([(" last", 0.9, 1.7)], 1.2) == (TimedWord("last", 0.9, 1.2),)
    assert ordered([(" early", -0.05, 0.2)], 1.0) == (TimedWord("early", 0.0, 0.2),)
    assert ordered([(" late", 1.5, 1.8)], 1.0) == (TimedWord("late", 1.0, 1.0),)


def test_ordered_words_never_go_back_in_time_or_end_before_they_start() -> None:
    timed = ordered([(" a", 0.5, 0.7), (" b", 0.4, 0.6), (" c", 0.8, 0.75)], 2.0)
    assert [w.word for w in timed] == ["a", "b", "c"]
    starts = [w.start for w in timed]
    assert starts == sorted(starts) == [0.5, 0.5, 0.8]
    assert all(w.end >= w.start for w in timed)
    assert timed[2] == TimedWord("c", 0.8, 0.8)
