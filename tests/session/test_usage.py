"""Usage: token counts of turns, and the context's size against the model's window."""

from __future__ import annotations

import pytest

from openlive.chat import ChatMessage
from openlive.errors import InternalError
from openlive.session.compression import SlidingWindow
from openlive.session.events import GenerationFinished
from openlive.session.history import History
from openlive.session.usage import TurnUsage, Usage


def test_a_turn_sums_its_generations_and_reports_them_once_complete() -> None:
    usage = Usage()
    usage.new_turn()
    usage.count(GenerationFinished(1, prompt_tokens=10, completion_tokens=3))
    usage.count(GenerationFinished(2, prompt_tokens=20, completion_tokens=4))  # after calls
    metadata = usage.end_turn()
    assert metadata.prompt_token_count == 30 and metadata.response_token_count == 7
    assert metadata.total_token_count == 37
    assert usage.turns == [TurnUsage(30, 7)]
    assert usage.context_tokens == 24  # the newest generation's count
    usage.new_turn()
    assert usage.end_turn().total_token_count == 0  # a turn that generated nothing


def history_of(turns: int) -> History:
    history = History()
    for n in range(turns):
        history.append(ChatMessage("user" if n % 2 == 0 else "assistant", "x" * 100))
    return history


def test_without_compression_outgrowing_the_window_ends_the_session() -> None:
    usage = Usage()
    usage.count(GenerationFinished(1, prompt_tokens=90, completion_tokens=10))
    assert usage.fits(history_of(2), None, context_window=101)
    assert not usage.fits(history_of(2), None, context_window=100)
    with pytest.raises(InternalError, match="outgrew the model's context window"):
        usage.fit(history_of(2), None, context_window=100)


def test_with_compression_the_oldest_turns_are_dropped() -> None:
    usage, history = Usage(), history_of(6)
    window = SlidingWindow(trigger_tokens=500, target_tokens=300)
    usage.count(GenerationFinished(1, prompt_tokens=550, completion_tokens=50))
    assert not usage.fits(history, window, context_window=4096)
    usage.fit(history, window, context_window=4096)
    assert len(history) < 6 and history.turns()[0].role == "user"
    assert usage.context_tokens == 0  # unknown until the next turn reports it
