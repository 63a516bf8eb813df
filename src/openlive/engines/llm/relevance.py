"""Proactive audio's question to the model: is the user's last message for you?

The session judges each user turn of a proactive-audio session before answering it
(:mod:`openlive.session.relevance`); a backend answers with a probability. The prompt is
the conversation as the answer would see it (system instruction first), followed by one
note, :data:`JUDGE_PROMPT`; the model's answer is read from its next-token odds of
"yes" against "no", so the answer is a number the session can set a threshold on, and
the judgment costs one prompt evaluation that the answer's prompt shares up to the note.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama

JUDGE_PROMPT = (
    "You are a voice assistant listening in a room where people also talk to each "
    "other. Before answering, decide whether the last message is meant for you and is "
    "something your instructions above want you to respond to. Answer no if it is "
    "people talking among themselves, talk addressed to someone else, or a topic your "
    "instructions say is not yours. Answer yes if it asks or tells you something your "
    "instructions cover. Reply with one word: yes or no."
)

_YES = ("yes", "Yes", "YES", " yes", " Yes")
_NO = ("no", "No", "NO", " no", " No")


@dataclass(frozen=True, slots=True)
class YesNo:
    """The first tokens of "yes" and "no" in a vocabulary, to read a model's answer from
    its next-token logits."""

    yes: tuple[int, ...]
    no: tuple[int, ...]

    @classmethod
    def of(cls, llama: Llama) -> YesNo:
        def first_tokens(words: Sequence[str]) -> tuple[int, ...]:
            ids = {llama.tokenize(word.encode(), add_bos=False, special=False)[0]
                   for word in words}
            return tuple(sorted(ids))

        return cls(first_tokens(_YES), first_tokens(_NO))

    def probability(self, logits: Any) -> float:
        """P(yes) against P(no), from the next token's logits."""
        scores = np.asarray(logits, dtype=np.float64)
        return yes_share(scores[list(self.yes)], scores[list(self.no)])


def yes_share(yes_logits: Any, no_logits: Any) -> float:
    """The share of "yes" in the probability of "yes" or "no", from their logits."""
    yes = np.asarray(yes_logits, dtype=np.float64)
    no = np.asarray(no_logits, dtype=np.float64)
    top = max(yes.max(), no.max())
    p_yes = float(np.exp(yes - top).sum())
    p_no = float(np.exp(no - top).sum())
    return p_yes / (p_yes + p_no)


def yes_from_logprobs(top: Sequence[dict[str, Any]]) -> float | None:
    """P(yes) against P(no) from an OpenAI ``top_logprobs`` list of the first token;
    None when neither word is among them."""
    p_yes = p_no = 0.0
    for entry in top:
        token = str(entry.get("token", "")).strip().lower()
        logprob = entry.get("logprob")
        if not isinstance(logprob, int | float):
            continue
        if token == "yes":
            p_yes += math.exp(logprob)
        elif token == "no":
            p_no += math.exp(logprob)
    if p_yes + p_no == 0.0:
        return None
    return p_yes / (p_yes + p_no)


def yes_from_text(text: str) -> float:
    """A server without logprobs: its answer's first word (yes unless it says no)."""
    words = text.strip().lower().split()
    return 0.0 if words and words[0].strip(".,!") == "no" else 1.0
