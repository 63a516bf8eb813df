"""The text chunker in front of speech synthesis: pure, so every case is plain data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlive.session.chunker import TextChunker, speakable, split_text


def stream(text: str, step: int = 1, **options: int) -> list[tuple[int, str]]:
    """Feed ``text`` ``step`` characters at a time; (characters fed, piece) per piece."""
    chunker = TextChunker(**options)
    out: list[tuple[int, str]] = []
    for start in range(0, len(text), step):
        out += [(start + step, piece) for piece in chunker.feed(text[start : start + step])]
    out += [(-1, piece) for piece in chunker.flush()]
    return out


def pieces(text: str, step: int = 1, **options: int) -> list[str]:
    return [piece for _, piece in stream(text, step, **options)]


# --- where the pieces end -----------------------------------------------------------


def test_first_piece_ends_at_first_clause_after_four_words() -> None:
    text = "Well, the answer to your question is, in short, yes. It is."
    assert pieces(text) == ["Well, the answer to your question is,", "in short, yes.", "It is."]


def test_first_piece_is_emitted_as_soon_as_its_boundary_is_seen() -> None:
    text = "The weather today is sunny, with a light breeze from the west."
    (fed, first), *_ = stream(text)
    assert first == "The weather today is sunny,"
    assert fed == len("The weather today is sunny, ")  # the space after the comma decides


def test_a_short_opening_clause_waits_for_the_sentence() -> None:
    assert pieces("Sure, I can help you. Here goes.") == [
        "Sure, I can help you.",
        "Here goes.",
    ]


def test_without_a_clause_the_first_piece_ends_where_a_phrase_opens() -> None:
    assert pieces("There are seven days in a week. It is so.") == [
        "There are seven days", "in a week.", "It is so."]
    # before four words, or with no word that opens a phrase: the whole sentence
    assert pieces("The capital of France is Paris.") == ["The capital of France is Paris."]
    assert pieces("Sure, I can help with that.") == ["Sure, I can help", "with that."]
    # later pieces stay whole sentences, and 0 turns the phrase cut off
    assert pieces("Yes. Paris is the capital of France.") == [
        "Yes.", "Paris is the capital of France."]
    assert pieces("There are seven days in a week.", first_phrase_words=0) == [
        "There are seven days in a week."]


def test_a_phrase_cut_waits_for_the_whole_next_word() -> None:
    # "in" might be the start of "inside": no cut until the word is complete
    assert stream("There are seven days in") == [(-1, "There are seven days in")]
    assert stream("There are seven days in a")[0] == (len("There are seven days in "),
                                                       "There are seven days")
    assert stream("There are seven days inside it.")[0][1] == "There are seven days inside it."


def test_later_pieces_end_at_sentence_ends_not_at_commas() -> None:
    text = "First, let me say this clearly. Then, after that, we will talk, OK? Fine!"
    assert pieces(text) == [
        "First, let me say this clearly.",
        "Then, after that, we will talk, OK?",
        "Fine!",
    ]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("One two three four; five six.", "One two three four;"),
        ("One two three four: five six.", "One two three four:"),
        ("One two three four — five six.", "One two three four —"),
        ("One two three four—five six.", "One two three four—"),
        ("One two three four - five six.", "One two three four -"),
        ("One two three four – five six.", "One two three four –"),
        ("One two three four... five six.", "One two three four..."),
    ],
)
def test_clause_marks(text: str, first: str) -> None:
    assert pieces(text)[0] == first


def test_exclamation_and_question_cut_without_waiting_for_the_next_token() -> None:
    (fed, first), *_ = stream("Hello there! How are you?")
    assert (fed, first) == (len("Hello there!"), "Hello there!")


def test_a_period_waits_for_the_next_character() -> None:
    chunker = TextChunker()
    assert chunker.feed("It costs 3.") == []
    assert chunker.feed("5 dollars. And") == ["It costs 3.5 dollars."]


def test_first_clause_words_option() -> None:
    assert pieces("Yes, of course.", first_clause_words=1) == ["Yes,", "of course."]


def test_run_on_sentence_is_cut_at_a_clause_after_max_words() -> None:
    words = " ".join(f"word{i}" for i in range(12))
    text = f"{words}, and then some more words follow here. End."
    got = pieces(text, first_clause_words=2, max_words=10)
    assert got[0] == f"{words},"


def test_very_long_text_without_punctuation_is_cut_at_a_space() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    got = pieces(text, max_words=20, hard_max_words=30)
    assert len(got) > 2
    assert all(len(p.split()) <= 32 for p in got)
    assert " ".join(got) == text


# --- abbreviations, numbers, ellipses -----------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "Mr. Smith and Dr. Jones met Mrs. Brown at St. Paul's church today.",
        "Bring fruit, e.g. apples, and also i.e. not vegetables at all.",
        "The price is 3.5 percent or $1,000.50 at 10:30 in the morning.",
        "J. K. Rowling wrote it, said Prof. Tolkien to the U.N. delegate.",
        "See version 2.0.1 of example.com for details about Fig. 3 here.",
        "It was No. 5 on the list vs. the other one in Vol. 2 of it.",
    ],
)
def test_abbreviations_and_numbers_do_not_end_a_sentence(sentence: str) -> None:
    assert pieces(f"{sentence} Next one.", first_clause_words=30, first_phrase_words=0) == [
        sentence, "Next one."]


def test_etc_ends_a_sentence_only_before_a_capital() -> None:
    assert pieces(
        "Apples, pears, etc. are fruit. We eat apples, pears, etc. Then we rest.",
        first_clause_words=30,
    ) == [
        "Apples, pears, etc. are fruit.",
        "We eat apples, pears, etc.",
        "Then we rest.",
    ]


def test_ellipsis_before_a_capital_ends_a_sentence() -> None:
    assert pieces("I see... That is fine. Hmm... let me think about it.") == [
        "I see...",
        "That is fine.",
        "Hmm... let me think about it.",
    ]


def test_unicode_ellipsis_and_closing_quotes() -> None:
    assert pieces('He said "Stop." Then he left… Why? (Nobody knows.) Fine.') == [
        'He said "Stop."',
        "Then he left…",
        "Why?",
        "(Nobody knows.)",
        "Fine.",
    ]


def test_decimal_at_a_delta_boundary() -> None:
    assert pieces("Pi is about 3.14159 and e is 2.718. Done.", step=7, first_phrase_words=0) == [
        "Pi is about 3.14159 and e is 2.718.",
        "Done.",
    ]


# --- Markdown, emoji, code ----------------------------------------------------------


def test_code_fences_are_not_read_aloud() -> None:
    text = "Here is the code:\n\n```python\nx = 1. \nprint(x)\n```\n\nThat prints one."
    assert pieces(text) == ["Here is the code:", "That prints one."]


def test_tilde_fences_and_an_unclosed_fence() -> None:
    assert pieces("Look:\n~~~\nrm -rf /\n~~~\nDone.") == ["Look:", "Done."]
    assert pieces("Look:\n```\nstill code when the turn ends") == ["Look:"]


def test_inline_code_keeps_its_text_without_backticks() -> None:
    assert pieces("Call `print()` with `end=''` to avoid a newline.") == [
        "Call print() with end='' to avoid a newline."
    ]


def test_headings_lists_and_quotes() -> None:
    text = "# Plan\n\n1. Buy milk\n2. Bake bread\n- Eat *well*\n* Sleep\n> Quoted words\n"
    assert pieces(text) == ["Plan", "Buy milk", "Bake bread", "Eat well", "Sleep", "Quoted words"]


def test_list_markers_split_across_deltas() -> None:
    text = "Steps:\n1. Open the door\n2. Walk in\n10. Sit down\n"
    for step in (1, 2, 3, 5):
        assert pieces(text, step) == ["Steps:", "Open the door", "Walk in", "Sit down"]


def test_a_line_starting_with_a_number_is_not_a_list() -> None:
    assert pieces("2024 was a good year. 200 people came.") == [
        "2024 was a good year.",
        "200 people came.",
    ]


def test_emphasis_is_stripped() -> None:
    assert speakable("This is **very** _important_ and __bold__, ~~not~~ *really*.") == (
        "This is very important and bold, not really."
    )


def test_underscores_inside_names_stay() -> None:
    assert speakable("Set max_tokens and snake_case_name.") == "Set max_tokens and snake_case_name."


def test_links_read_as_their_text_and_urls_as_their_host() -> None:
    assert speakable("See [the docs](https://example.com/a.html) now.") == "See the docs now."
    assert speakable("Go to https://www.python.org/downloads.") == "Go to python.org."
    assert speakable("Or <https://docs.example.org/x>.") == "Or docs.example.org."
    assert speakable("A picture ![a cat](cat.png) here.") == "A picture here."


def test_a_link_is_never_cut_in_the_middle() -> None:
    text = "Read [this guide, part one. It helps](https://x.y/a. b) today. Next."
    assert pieces(text) == ["Read this guide, part one. It helps today.", "Next."]


def test_parentheses_hold_a_clause_together() -> None:
    assert pieces("The answer (as far as I know, anyway) is yes. Ok.")[0] == (
        "The answer (as far as I know, anyway) is yes."
    )


def test_emoji_are_dropped() -> None:
    assert pieces("Great job! 🎉🎉 You did it 👍🏽. ✨") == ["Great job!", "You did it."]
    assert speakable("🇺🇸 flag and 👨‍👩‍👧 family") == "flag and family"


def test_hashtags_html_and_tables() -> None:
    assert speakable("#1 choice in C# <br> today") == "1 choice in C# today"
    assert pieces("| a | b |\n|---|:--:|\n| 1 | 2 |\n") == ["a b", "1 2"]


def test_horizontal_rules_are_silent() -> None:
    assert pieces("Part one.\n\n---\n\n***\nPart two.") == ["Part one.", "Part two."]


def test_markdown_only_text_gives_nothing() -> None:
    assert pieces("```\ncode\n```\n---\n🎉\n* \n") == []


# --- other scripts, flush, edge cases -----------------------------------------------


def test_japanese_sentences_need_no_space() -> None:
    assert pieces("こんにちは。今日はいい天気ですね！元気ですか？") == [
        "こんにちは。",
        "今日はいい天気ですね！",
        "元気ですか？",
    ]


def test_flush_returns_the_unfinished_sentence() -> None:
    chunker = TextChunker()
    assert chunker.feed("This has no end") == []
    assert chunker.flush() == ["This has no end"]


def test_flush_decides_a_pending_period_and_a_pending_list_marker() -> None:
    chunker = TextChunker()
    assert chunker.feed("The end.") == []
    assert chunker.flush() == ["The end."]
    chunker = TextChunker()
    assert chunker.feed("Items:\n1") == ["Items:"]
    assert chunker.flush() == ["1"]


def test_empty_and_whitespace_input() -> None:
    assert pieces("") == []
    assert pieces("   \n\n  ") == []


def test_invalid_options() -> None:
    with pytest.raises(ValueError):
        TextChunker(first_clause_words=0)
    with pytest.raises(ValueError):
        TextChunker(max_words=50, hard_max_words=40)


def test_split_text_matches_streaming() -> None:
    text = "Hi there, my good friend. How was your day? Mine was fine, thanks."
    assert split_text(text) == pieces(text) == pieces(text, step=4)


# --- properties ---------------------------------------------------------------------

_words = st.sampled_from(
    ["hello", "world", "Mr.", "3.5", "yes,", "no.", "well...", "e.g.", "ok!", "why?", "the", "a"]
)


@settings(max_examples=150, deadline=None)
@given(words=st.lists(_words, max_size=40), step=st.integers(min_value=1, max_value=9))
def test_streaming_in_any_step_gives_the_same_pieces(words: list[str], step: int) -> None:
    text = " ".join(words)
    assert pieces(text, step) == pieces(text, len(text) or 1)


@settings(max_examples=150, deadline=None)
@given(words=st.lists(_words, max_size=40))
def test_no_word_is_lost_or_invented(words: list[str]) -> None:
    text = " ".join(words)
    assert " ".join(pieces(text)).split() == text.split()


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes_and_pieces_are_clean(text: str) -> None:
    for piece in pieces(text, step=3):
        assert piece == piece.strip()
        assert "`" not in piece and "*" not in piece
        assert any(ch.isalnum() for ch in piece)
