"""Answering ahead: a spoken reply prepared during the user's pause, held until the turn
ends there.

Pure, like the machine that owns it. Theory of operation: at each pause of a voice turn
the listening half transcribes what the user has said so far (``TurnHeardSoFar``). When
the session is idle, the machine starts generating *and synthesizing* the answer to
those words at once, into a :class:`~openlive.session.speaking.Reply` that is paused
from birth: nothing reaches the client. Whether the turn is really over is still being
decided (the end-of-turn model, the words, the silence window). If it ends at this pause,
its final transcript is the same text (the same audio, the same recognizer result), and
the machine adopts the held reply: audio that is ready goes out at once, so the user
waits for the endpoint decision instead of for recognition + generation + synthesis
after it. If the user goes on speaking, says something else, or anything changes what
the model would be asked (client content, a function result, a context update), the
ahead reply is dropped: its generation and synthesis are cancelled, and nothing of it
was ever sent or added to the history.

Events of the held generation are kept, not acted on (:meth:`AheadReply.hold`): its
function calls go to the client only once the reply is adopted, its usage counts only
then. Starting and adopting the answer stay in the machine: one is a generation like
any other, asked with the history, instruction and tools it owns; the other is the
start of a model turn.

The cost is compute spent on answers that are thrown away when the user was only
pausing; the server can turn it off (``ServerCapabilities.answer_ahead``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openlive.chat import ChatMessage
from openlive.protocol.client import ClientMessage, RealtimeInput
from openlive.session.actions import Action
from openlive.session.events import (
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
    GenerationMalformedCall,
    GenerationThought,
    GenerationToolCalls,
    SpeechSynthesized,
    SynthesisDrained,
    SynthesisFailed,
)
from openlive.session.speaking import Reply

_GENERATION_EVENTS = (GenerationDelta, GenerationThought, GenerationFinished, GenerationToolCalls,
                      GenerationMalformedCall, GenerationFailed, SpeechSynthesized,
                      SynthesisDrained, SynthesisFailed)


@dataclass(slots=True)
class AheadReply:
    """A reply to ``message`` (the user's words so far), generated while they pause."""

    message: ChatMessage  # the user turn it answers, as the history will hold it
    reply: Reply  # paused: generated and synthesized, not sent
    calls: GenerationToolCalls | None = None  # function calls it asked for, held
    malformed: bool = False  # it tried to call functions and every call was malformed
    finished: GenerationFinished | None = None  # its token counts, once generation ended
    thoughts: list[str] = field(default_factory=list)  # its thinking, sent on adoption

    @property
    def generation_id(self) -> int:
        return self.reply.generation_id

    def answers(self, text: str) -> bool:
        """Whether this is the reply to a user turn whose final words are ``text``."""
        return self.message.content == text

    def owns(self, event: Event) -> bool:
        """Whether ``event`` is an engine event of this held generation."""
        return (isinstance(event, _GENERATION_EVENTS)
                and event.generation_id == self.generation_id)

    def hold(self, event: Event, now: float) -> tuple[list[Action], bool]:
        """The held generation made progress: synthesize, but keep everything back.

        Call with the events it :meth:`owns`; returns (actions, failed). When it failed,
        drop it: the turn, if it ends here, is answered the usual way.
        """
        match event:
            case GenerationDelta(text=text):
                return (self.reply.on_text(text) if text else []), False
            case GenerationThought(text=text):
                self.thoughts.append(text)
            case GenerationFinished():
                self.finished = event
                return self.reply.on_llm_finished(), False
            case GenerationToolCalls():
                self.calls = event
            case GenerationMalformedCall():
                self.malformed = True
            case SpeechSynthesized():
                return self.reply.on_audio(event.piece_id, event.pcm, now), False  # paused
            case SynthesisDrained():
                self.reply.on_synthesis_drained()
            case _:
                return [], True
        return [], False

    def cancel(self) -> list[Action]:
        """Stop its generation and synthesis (none of it was sent)."""
        return self.reply.cancel()


def changes_context(message: ClientMessage) -> bool:
    """Whether a message changes what the model would be asked, making an answer ahead
    stale (audio and video do not: they are the turn being listened to)."""
    if not isinstance(message, RealtimeInput):
        return True
    return (message.text is not None or message.activity_start is not None
            or message.activity_end is not None)
