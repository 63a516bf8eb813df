"""Context window compression (``contextWindowCompression.slidingWindow``).

When the conversation's context has grown past ``triggerTokens``, the oldest turns are
dropped until it is about ``targetTokens`` (the system instruction and tools are never
dropped); a session without compression that outgrows the model's window ends, as on
the Live API. The context size is the model's own count from the last turn
(prompt + completion tokens, reported by the engine's tokenizer); how much each old
turn weighs is apportioned from that count by length. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.chat import ChatMessage
from openlive.errors import InvalidArgument
from openlive.protocol.client import ContextWindowCompression


@dataclass(frozen=True, slots=True)
class SlidingWindow:
    trigger_tokens: int
    target_tokens: int

    @classmethod
    def from_wire(cls, wire: ContextWindowCompression | None,
                  context_window: int) -> SlidingWindow | None:
        """Read the setup's compression; the Live API's defaults where a field is unset:
        trigger at 80 % of the window, target half the trigger."""
        if wire is None:
            return None
        trigger = wire.trigger_tokens or int(context_window * 0.8)
        target = (wire.sliding_window.target_tokens if wire.sliding_window else None) or (
            trigger // 2)
        if trigger <= 0 or target <= 0:
            raise InvalidArgument("contextWindowCompression token counts must be positive.")
        if target > trigger:
            raise InvalidArgument("slidingWindow.targetTokens must not exceed triggerTokens.")
        return cls(trigger, target)


def turns_to_drop(turns: tuple[ChatMessage, ...], context_tokens: int,
                  window: SlidingWindow) -> int:
    """How many of the oldest turns to drop so the context fits ``target_tokens``.

    Drops whole user/model exchanges (an even count when it can) so the history still
    starts with a user turn.
    """
    if context_tokens <= window.trigger_tokens or not turns:
        return 0
    chars = sum(len(m.content) for m in turns) or 1
    per_char = context_tokens / chars
    excess = context_tokens - window.target_tokens
    dropped, freed = 0, 0.0
    while dropped < len(turns) - 1 and freed < excess:
        freed += len(turns[dropped].content) * per_char
        dropped += 1
    while dropped < len(turns) - 1 and turns[dropped].role != "user":
        dropped += 1  # keep the history starting with a user turn
    return dropped
