"""StopScanner: stop sequences found across streamed pieces, partial matches held back."""

from __future__ import annotations

from openlive.engines.llm.stops import StopScanner


def run(stops: tuple[str, ...], pieces: list[str]) -> tuple[list[str], bool]:
    scanner = StopScanner(stops)
    emitted: list[str] = []
    for piece in pieces:
        text, stopped = scanner.feed(piece)
        if text:
            emitted.append(text)
        if stopped:
            return emitted, True
    if tail := scanner.flush():
        emitted.append(tail)
    return emitted, False


def test_no_stops_passes_everything_through() -> None:
    assert run((), ["a", "b"]) == (["a", "b"], False)


def test_stop_inside_one_piece() -> None:
    assert run(("5",), ["1, 2, 3, 4, 5, 6"]) == (["1, 2, 3, 4, "], True)


def test_stop_split_across_pieces_is_never_emitted() -> None:
    assert run(("END",), ["hello E", "N", "D more"]) == (["hello "], True)


def test_partial_match_that_does_not_complete_is_released() -> None:
    assert run(("END",), ["hello E", "Nx", " bye"]) == (["hello ", "ENx", " bye"], False)


def test_held_back_text_is_flushed_at_the_end() -> None:
    assert run(("END",), ["the E"]) == (["the ", "E"], False)


def test_earliest_of_several_stops_wins() -> None:
    assert run(("world", "lo"), ["hello world"]) == (["hel"], True)


def test_empty_stop_strings_are_ignored() -> None:
    assert run(("",), ["abc"]) == (["abc"], False)
