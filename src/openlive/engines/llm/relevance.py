"""Proactive audio's question to the model: is the user's last message for you?

The session judges each user turn of a proactive-audio session with a system instruction
before answering it (:mod:`openlive.session.relevance`); a backend answers with a
probability, and the session answers at 0.5 or more.

The in-process model (Qwen2.5 0.5B) is asked without being asked: a 0.5B model told to
answer "should you respond? yes or no" after the conversation scored relevant and
irrelevant turns alike (0.48-0.58 on bench/data/proactive.jsonl; with six worked
examples and a calibration against an empty message, 75 % of relevant turns answered for
21 % of irrelevant ones at its best threshold). What it does know is how likely words
are. So the score is the pointwise mutual information between the user's words and the
conversation: how much better the conversation (the system instruction, the history)
predicts the words than a generic assistant's prompt does, in nats per token::

    score = mean log P(words | conversation) - mean log P(words | GENERIC_SYSTEM)

A question the instruction is about ("How long should I boil fresh pasta?" to an Italian
cooking assistant) is far likelier after it; talk among people ("Honey, did you feed the
dog?") and other topics are not. :func:`probability_from_pmi` maps the score to a
probability centred on :data:`PMI_CENTER`, chosen on the tuning half of the data set
and measured on the other half (docs/benchmarks.md). Both prompts carry the spoken-reply
guidance whatever the session's modality: it is part of what was measured (without it the
scores shift, and the same centre answers more background talk), and proactive audio is
a voice feature. Both passes run on the context the answer uses: the conversation's
pass comes last, so the answer's prompt finds the conversation in the KV cache (the
generic pass is kept and restored by the KV snapshots).

An OpenAI-compatible server is asked the question outright (:data:`JUDGE_PROMPT`), its
answer read from the first token's ``top_logprobs`` ("yes" against "no"): a served model
is usually large enough to follow it, and such servers do not all return the logprobs of
a prompt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: The prompt the user's words are compared against: an assistant with no topic.
GENERIC_SYSTEM = "You are a helpful assistant."

#: The PMI (nats per token) at which the words are as likely for the model as not:
#: the middle of the gap between the highest-scoring irrelevant turn (0.04) and the
#: lowest-scoring relevant one (0.17) of the tuning half of bench/data/proactive.jsonl.
PMI_CENTER = 0.10
#: How fast the probability moves around the centre (nats per token for e-fold odds).
PMI_SCALE = 0.15

#: Words scored per judgment: the first this many tokens of the message are enough.
SCORED_TOKENS = 64


def probability_from_pmi(score: float) -> float:
    """The probability the session decides on, from the PMI ``score``."""
    return 1.0 / (1.0 + math.exp(-(score - PMI_CENTER) / PMI_SCALE))


JUDGE_PROMPT = (
    "You are a voice assistant listening in a room where people also talk to each "
    "other. Before answering, decide whether the last message is meant for you and is "
    "something your instructions above want you to respond to. Answer no if it is "
    "people talking among themselves, talk addressed to someone else, or a topic your "
    "instructions say is not yours. Answer yes if it asks or tells you something your "
    "instructions cover. Reply with one word: yes or no."
)

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
