"""The scoring of bench/understanding.py: normalization, WER, script and language checks."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from textnorm import (
    has_answer,
    number_words,
    word_errors,
    words,
    wrong_language,
    wrong_script,
)


def test_written_forms_match_the_spoken_reference() -> None:
    assert words("Mr. Dashwood walked 10 metres, at 24 km!") == [
        "mister", "dashwood", "walked", "ten", "meters", "at", "twenty", "four", "km"]
    assert word_errors("go forward ten meters", "Go forward, 10 meters.") == (0, 4)


def test_numbers_are_spelled_as_said() -> None:
    assert number_words(0) == ["zero"]
    assert number_words(115) == ["one", "hundred", "fifteen"]
    assert number_words(2024) == ["two", "thousand", "twenty", "four"]


def test_word_errors_count_substitutions_deletions_and_insertions() -> None:
    assert word_errors("a spider has eight legs", "a spider has eight lands") == (1, 5)
    assert word_errors("he was not an ill disposed young man",
                       "he was not an illness those young man") == (2, 8)
    assert word_errors("ten of clubs", "") == (3, 3)
    assert word_errors("ten of clubs", "ten of the clubs") == (1, 3)


def test_other_languages_keep_their_words_without_accents() -> None:
    assert words("¿Cuántas patas tiene una araña?", "es-ES") == [
        "cuantas", "patas", "tiene", "una", "arana"]
    assert word_errors("Qual è la capitale della Francia?",
                       "Qual e la capitale della Francia", "it-IT") == (0, 6)


def test_thai_script_for_english_speech_is_wrong() -> None:
    assert wrong_script("สไปเดอร์มีกี่ขา", "en-US")
    assert wrong_language("สไปเดอร์มีกี่ขา", "en-US")
    assert not wrong_script("How many legs does a spider have?", "en-US")
    assert not wrong_script("¿Cuántas patas tiene una araña?", "es-ES")
    assert not wrong_script("クモの足は何本?", "ja-JP")


def test_a_transcript_in_another_latin_language_is_wrong() -> None:
    assert wrong_language("¿Cuántas patas tiene una araña?", "en-US")
    assert not wrong_language("How many legs does a spider have?", "en-US")
    assert not wrong_language("Front center", "en-US")  # too short to tell: not flagged


def test_answers_are_found_in_either_form() -> None:
    assert has_answer("A spider has 8 legs.", ["8"])
    assert has_answer("A spider has eight legs.", ["8"])
    assert has_answer("There are twenty-four hours in a day.", ["24"])
    assert not has_answer("A spider has 10 lands.", ["8"])
    assert has_answer("Una araña tiene ocho patas.", ["8", "ocho"], "es-ES")
