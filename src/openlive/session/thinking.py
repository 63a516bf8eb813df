"""How long the model thinks before it answers, from ``generationConfig.thinkingConfig``.

Pure. The Live API takes either a token budget (``thinkingBudget``: 0 turns thinking
off, -1 lets the model decide, a positive number caps it) or, on the newer models, a
level (``thinkingLevel``); not both. ``includeThoughts`` decides whether the thoughts
are sent to the client (``modelTurn`` parts with ``thought: true``); thoughts that
happen are counted in ``usageMetadata.thoughtsTokenCount`` either way.

A level becomes a budget (:data:`LEVEL_BUDGETS`): MINIMAL is no thinking, as the
hosted docs describe it ("matches no thinking for most queries"); the others are caps
that grow fourfold per level. The budgets are caps, not targets: a model that is done
thinking sooner answers sooner.

Without a ``thinkingConfig`` the hosted models think by default; here, a session that
did not ask gets the backend's default (``budget`` None): the local model does not
think, an OpenAI-compatible server does as its operator configured it. The operator can
turn on the hosted defaults instead (``--hosted-thinking``: the model decides, as with
``thinkingBudget: -1``). Thinking costs a voice turn its latency (docs/benchmarks.md),
so a program that wants it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.catalog.profiles import DEFAULT_PROFILE, ModelProfile
from openlive.chat import DYNAMIC_THINKING
from openlive.errors import InvalidArgument
from openlive.protocol.client import ThinkingConfig

#: Token budget per ``thinkingLevel`` (documented in docs/configuration.md's notes).
LEVEL_BUDGETS: dict[str, int] = {
    "MINIMAL": 0,
    "LOW": 128,
    "MEDIUM": 512,
    "HIGH": 2048,
    "XHIGH": 8192,
}


@dataclass(frozen=True, slots=True)
class Thinking:
    """What a session's generations are asked to think.

    ``budget``: tokens of thought before each answer (``None``: the backend's own
    default, 0: none, -1: as the model sees fit). ``include_thoughts``: send them.
    """

    budget: int | None = None
    include_thoughts: bool = False

    @classmethod
    def from_wire(cls, config: ThinkingConfig | None, *, hosted_defaults: bool,
                  profile: ModelProfile = DEFAULT_PROFILE) -> Thinking:
        """Read ``thinkingConfig``; raise InvalidArgument (1007) for a bad one.

        ``hosted_defaults``: a session that sets no budget and no level thinks as the
        hosted model it names does by default (its ``profile``: a level, a budget, or
        the model decides); otherwise it does not think.
        """
        include = bool(config and config.include_thoughts)
        level = config.thinking_level if config else None
        if level == "THINKING_LEVEL_UNSPECIFIED":
            level = None
        budget = config.thinking_budget if config else None
        if budget is not None and level is not None:
            raise InvalidArgument(
                "thinkingConfig: set thinkingBudget or thinkingLevel, not both."
            )
        if budget is not None and budget < DYNAMIC_THINKING:
            raise InvalidArgument(
                f"thinkingConfig.thinkingBudget must be -1 (dynamic), 0 (off) or positive, "
                f"not {budget}."
            )
        if level is not None:
            budget = LEVEL_BUDGETS[level]
        if budget is None and level is None and hosted_defaults:
            if profile.thinking_level_default is not None:
                budget = LEVEL_BUDGETS[profile.thinking_level_default]
            elif profile.thinking_budget_default is not None:
                budget = profile.thinking_budget_default
        if budget is None and (include or hosted_defaults):
            # includeThoughts alone asks for the model's default thinking, which is
            # dynamic on the hosted models. Nothing at all leaves it to the backend:
            # the local model does not think, a remote server does as it is configured
            # (an explicit 0 is sent to it as "do not think")
            budget = DYNAMIC_THINKING
        return cls(budget=budget, include_thoughts=include and budget != 0)
