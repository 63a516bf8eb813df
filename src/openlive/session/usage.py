"""Token counts: what each model turn used, and how big the context has grown.

Pure. The engine reports each generation's prompt and completion tokens
(``GenerationFinished``). A model turn's usage is the sum over its generations (more
than one when it calls functions) and goes out as the ``usageMetadata`` of its
``turnComplete``. The newest generation's total is the context's size by the model's
own count: before each turn it decides whether the oldest turns are dropped
(:mod:`~openlive.session.compression`) or, without compression, whether the session
has outgrown the model's window and ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.errors import InternalError
from openlive.protocol.server import ModalityTokenCount, UsageMetadata
from openlive.session.compression import SlidingWindow, turns_to_drop
from openlive.session.events import GenerationFinished
from openlive.session.history import History


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """Token counts of one model turn, as reported in ``usageMetadata``."""

    prompt_tokens: int
    response_tokens: int
    thought_tokens: int = 0  # the model's reasoning before its answers

    def __add__(self, other: TurnUsage) -> TurnUsage:
        return TurnUsage(self.prompt_tokens + other.prompt_tokens,
                         self.response_tokens + other.response_tokens,
                         self.thought_tokens + other.thought_tokens)


def usage_metadata(usage: TurnUsage) -> UsageMetadata:
    """The ``usageMetadata`` of one text turn. Thoughts are counted apart from the
    response (``thoughtsTokenCount``, only when there were some) and in the total, as
    the Gemini API counts them."""
    return UsageMetadata(
        prompt_token_count=usage.prompt_tokens,
        response_token_count=usage.response_tokens,
        thoughts_token_count=usage.thought_tokens or None,
        total_token_count=usage.prompt_tokens + usage.response_tokens + usage.thought_tokens,
        prompt_tokens_details=[
            ModalityTokenCount(modality="TEXT", token_count=usage.prompt_tokens)
        ],
        response_tokens_details=[
            ModalityTokenCount(modality="TEXT", token_count=usage.response_tokens)
        ],
    )


class Usage:
    """A session's token counts. Call :meth:`count` when a generation of the turn
    finishes, :meth:`new_turn` and :meth:`end_turn` around each model turn."""

    def __init__(self) -> None:
        self.turns: list[TurnUsage] = []  # of every completed model turn, in order
        self.context_tokens = 0  # context size after the last turn, by the model's count
        self._turn: TurnUsage | None = None  # of the model turn going on, so far

    def new_turn(self) -> None:
        self._turn = None

    def count(self, event: GenerationFinished) -> None:
        usage = TurnUsage(event.prompt_tokens, event.completion_tokens, event.thought_tokens)
        self._turn = usage if self._turn is None else self._turn + usage
        self.context_tokens = event.prompt_tokens + event.completion_tokens

    def end_turn(self) -> UsageMetadata:
        """The model turn is complete: what it used, for its ``turnComplete``."""
        usage = self._turn or TurnUsage(0, 0)
        self.turns.append(usage)
        return usage_metadata(usage)

    def fits(self, history: History, compression: SlidingWindow | None,
             context_window: int) -> bool:
        """Whether a turn could be asked now without dropping turns, within the window."""
        if compression is not None:
            return not turns_to_drop(history.turns(), self.context_tokens, compression)
        return self.context_tokens < context_window

    def fit(self, history: History, compression: SlidingWindow | None,
            context_window: int) -> None:
        """Before a turn: compress the history, or end the session when it no longer
        fits the model (:class:`InternalError`, 1011)."""
        if compression is not None:
            drop = turns_to_drop(history.turns(), self.context_tokens, compression)
            if drop:
                history.drop_oldest(drop)
                self.context_tokens = 0  # unknown until the next turn reports it
            return
        if self.context_tokens >= context_window:
            raise InternalError(
                f"The session outgrew the model's context window "
                f"({context_window} tokens); enable "
                "contextWindowCompression to keep talking."
            )
