"""Spoken replies: the instruction a backend adds, and the sentence bound that ends them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openlive.chat import ChatMessage, SpokenReply
from openlive.engines.llm.spoken import (
    SentenceBound,
    spoken_guidance,
    spoken_length,
    with_spoken_guidance,
)


def run(chars: int | None, pieces: list[str]) -> tuple[str, bool]:
    bound = SentenceBound(chars)
    out = ""
    for piece in pieces:
        text, reached = bound.feed(piece)
        out += text
        if reached:
            return out, True
    return out + bound.flush(), False


def test_no_bound_passes_everything() -> None:
    assert run(None, ["One. ", "Two. ", "Three."]) == ("One. Two. Three.", False)


def test_ends_at_the_first_sentence_end_past_the_bound() -> None:
    pieces = ["Paris is old. ", "It was founded by the Parisii. ", "Later it grew. ", "More."]
    assert run(20, pieces) == ("Paris is old. It was founded by the Parisii.", True)


def test_a_sentence_end_before_the_bound_does_not_stop() -> None:
    assert run(200, ["Yes. ", "No. "]) == ("Yes. No. ", False)


def test_a_decimal_point_is_not_a_sentence_end() -> None:
    # "3." at the end of a delta is held until the next shows it was "3.5"
    text, reached = run(5, ["It is about 3.", "5 metres long. Then more."])
    assert (text, reached) == ("It is about 3.5 metres long.", True)


def test_a_held_end_released_when_the_stream_ends() -> None:
    assert run(5, ["That is all."]) == ("That is all.", False)


def test_question_and_exclamation_marks_and_quotes_end_sentences() -> None:
    assert run(3, ['He said "stop!" and left. ', "Next."]) == ('He said "stop!"', True)
    assert run(3, ["Why? ", "Because."]) == ("Why?", True)


def test_ideographs_count_more_and_need_no_space() -> None:
    assert spoken_length("東京です") == 4 * 3
    assert run(10, ["東京は日本の首都です。", "人口は多いです。"]) == ("東京は日本の首都です。", True)


def test_nothing_after_the_bound_is_reached() -> None:
    bound = SentenceBound(3)
    assert bound.feed("Done. And") == ("Done.", True)
    assert bound.feed(" more.") == ("", True)
    assert bound.flush() == ""


@given(st.lists(st.text(alphabet="ab .!?3\n", max_size=12), max_size=12),
       st.integers(min_value=1, max_value=40))
def test_output_is_a_prefix_of_the_input(pieces: list[str], chars: int) -> None:
    text, reached = run(chars, pieces)
    whole = "".join(pieces)
    assert whole.startswith(text)
    if not reached:
        assert text == whole


def test_guidance_names_the_users_language() -> None:
    assert "Reply in Spanish." in spoken_guidance(SpokenReply("es-ES"))
    assert "Reply in English." in spoken_guidance(SpokenReply("en"))
    assert "the language you are spoken to in" in spoken_guidance(SpokenReply(None))
    assert "the language you are spoken to in" in spoken_guidance(SpokenReply("xx-nope"))
    assert "user" not in spoken_guidance(SpokenReply("en"))


def test_guidance_follows_the_system_instruction() -> None:
    messages = (ChatMessage("system", "You are a pirate."), ChatMessage("user", "Hi"))
    guided = with_spoken_guidance(messages, SpokenReply("en-US"))
    assert guided[0].content.startswith("You are a pirate.\n\n")
    assert "spoken aloud" in guided[0].content
    assert guided[1:] == messages[1:]


def test_guidance_is_the_system_message_when_there_is_none() -> None:
    messages = (ChatMessage("user", "Hi"),)
    guided = with_spoken_guidance(messages, SpokenReply())
    assert [m.role for m in guided] == ["system", "user"]
    assert with_spoken_guidance(messages, None) == messages


def test_the_users_tone_joins_the_spoken_instruction() -> None:
    """Affective dialog: the note on the user's tone follows the spoken-reply guidance in
    the system message; the conversation itself is as it was."""
    history = [ChatMessage("system", "Be brief."), ChatMessage("user", "Where is my order?")]
    plain = with_spoken_guidance(history, SpokenReply())
    noted = with_spoken_guidance(history, SpokenReply(tone="The user is upset."))
    assert noted[1:] == plain[1:] == tuple(history[1:])
    assert noted[0].content == plain[0].content + " The user is upset."
    assert noted[0].content.startswith("Be brief.\n\n")
    assert spoken_guidance(SpokenReply(tone="")) == spoken_guidance(SpokenReply())
