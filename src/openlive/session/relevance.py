"""Proactive audio: whether the model answers what it heard, or stays silent.

Pure. With ``proactivity.proactiveAudio`` the Live API's model "can reject responding to
the last prompt", e.g. "ignore out of context speech or stay silent if the user did not
make a request" (the SDK's ProactivityConfig). Here every user turn of such a session is
first judged: the driver asks the language model how likely it is that the words are
for the assistant, given its system instruction (``JudgeRelevance``, an engine call),
and the session decides with :func:`answers` (``RelevanceJudged``). An answered turn
goes on as any other; a declined one ends at once, with nothing said:

    {"serverContent": {"turnComplete": true, "waitingForInput": true,
                       "turnCompleteReason": "NEED_MORE_INPUT"}, "usageMetadata": {...}}

Those are the fields the newest SDKs have for such a turn: ``waitingForInput`` ("the
model is not generating content because it is waiting for more input from the user")
and ``turnCompleteReason: NEED_MORE_INPUT`` ("needs more input from the user"). The
``turnComplete`` ends the client's ``receive()`` loop for the turn, as it would after an
answer; the usage counts the prompt the model read to decide. The user's words stay in
the history: the model heard them, and a later question may refer to them.

Without the flag no turn is judged, and every turn is answered as before; nor is one
without a system instruction: there is no topic to be off, and the local judgment
measures the words against the instruction (engines/llm/relevance.py).
"""

from __future__ import annotations

#: The probability (that the words are for the assistant) at or above which the model
#: answers. Chosen on the tuning half of bench/data/proactive.jsonl and measured on the
#: other half (bench/proactive.py, docs/benchmarks.md).
RELEVANCE_THRESHOLD = 0.5

#: ``turnCompleteReason`` of a turn the model chose not to answer.
DECLINED_REASON = "NEED_MORE_INPUT"


def answers(probability: float) -> bool:
    """Whether the model answers words it judged for it with ``probability``."""
    return probability >= RELEVANCE_THRESHOLD
