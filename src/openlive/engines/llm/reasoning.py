"""Thinking for a model that has no reasoning mode of its own: a step before the answer.

Pure (no model is run here). The in-process model (Qwen2.5 0.5B by default) is not a
reasoning model, so a request with a thinking budget runs in two steps on it:

1. the conversation, plus a note asking for brief notes on how to answer (not the
   answer), is continued for at most the budget's tokens: those are the thoughts;
2. the conversation, plus a note that hands the model its notes, is continued as
   usual: that is the answer, conditioned on the thoughts.

Both prompts are the conversation followed by one note, so the second evaluates only
its note: the conversation is in the KV cache from the first. The thoughts are the
model's own words and are never part of the answer or the history.
"""

from __future__ import annotations

from openlive.chat import DYNAMIC_THINKING

#: Thinking tokens when the model is left to decide (``thinkingBudget: -1``): the
#: 0.5B model does not stop thinking on its own, so "dynamic" needs a cap; this one
#: costs a few seconds of decoding on 2 cores (docs/benchmarks.md).
DYNAMIC_BUDGET = 256

THINK_PROMPT = (
    "Before you answer the last message, think it through in a few short notes: what "
    "is being asked, what you know that helps, and how best to answer. Write only the "
    "notes, not the answer."
)

# Without a label to copy: told "Your notes from thinking about the last message: ...",
# the 0.5B model began its answers with that line (bench/thinking.py's first run).
ANSWER_PROMPT = (
    "You have already thought about the last message: {thoughts} Now reply to it "
    "directly; do not mention that you thought about it."
)


def local_budget(budget: int | None) -> int:
    """Tokens the in-process model thinks for a request's ``thinking_budget``:
    none unless asked, :data:`DYNAMIC_BUDGET` for "the model decides"."""
    if budget is None or budget == 0:
        return 0
    return DYNAMIC_BUDGET if budget == DYNAMIC_THINKING else max(budget, 0)


def answer_note(thoughts: str) -> str:
    """The note that hands the model its thoughts before it answers."""
    return ANSWER_PROMPT.format(thoughts=thoughts.strip())
