"""One model turn: what it owns from the user's complete turn to ``turnComplete``.

Pure data. A turn starts when the model starts answering a complete user turn (or
telling a function result that waited) and ends with ``turnComplete``, after its
reply ran to the end or was interrupted. While it lasts it owns the reply going out,
its open round of function calls, the results of earlier NON_BLOCKING calls that come
back meanwhile, and why it ended. The client's input that arrives meanwhile under
NO_INTERRUPTION belongs to the turn that will answer it: the next one (see
:class:`~openlive.session.responder.Responder`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openlive.chat import ChatMessage
from openlive.session.speaking import Reply
from openlive.session.tools import ToolRound


@dataclass(slots=True)
class Turn:
    """One model turn (see the module docstring)."""

    reply: Reply | None = None  # the generation whose output is going out now
    round: ToolRound | None = None  # its function calls, until every one is answered
    rounds: int = 0  # rounds of calls the turn has made (MAX_TOOL_ROUNDS caps them)
    said: bool = False  # an earlier generation of the turn said words
    reason: str | None = None  # turnCompleteReason, e.g. MALFORMED_FUNCTION_CALL
    # it answers a user's turn (not a function result told later): under proactive
    # audio such a turn is judged before it is answered (session/relevance.py)
    from_user: bool = False
    judging: int | None = None  # the JudgeRelevance in flight, by id
    # results of NON_BLOCKING calls of earlier rounds that came back while the turn
    # was busy: they join the history when its round closes or it ends, so that a
    # turn's output and its function calls stay together
    held_results: list[ChatMessage] = field(default_factory=list)
    # the client's input held for this turn (it was queued under NO_INTERRUPTION):
    # it joins the history when the turn starts
    held_input: list[ChatMessage] = field(default_factory=list)

    def current(self, generation_id: int) -> Reply | None:
        """The reply going out, if it is generation ``generation_id``."""
        reply = self.reply
        return reply if reply is not None and reply.generation_id == generation_id else None
