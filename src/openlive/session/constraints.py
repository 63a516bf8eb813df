"""Setup fields an ephemeral token locks (spec §9): the token's values win.

A token carries ``bidiGenerateContentSetup`` and an optional ``fieldMask``. Without a
mask the whole setup is locked: the client's own setup is ignored except for what the
token leaves unset. With a mask, each named field (``model``,
``generationConfig.temperature``, ``systemInstruction.parts``; snake_case accepted, as
the Python SDK sends ``generationConfig.top_k``) takes the token's value, or is removed
when the token does not set it. Pure functions over camelCase wire dicts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from openlive.errors import InvalidArgument
from openlive.protocol.client import Setup
from openlive.protocol.codec import describe_validation_error


@dataclass(frozen=True, slots=True)
class SetupConstraints:
    """What a token fixes: the setup it was issued for, and which fields are locked."""

    setup: dict[str, Any] = field(hash=False)
    field_mask: tuple[str, ...] | None = None  # None: the whole setup


def normalize_setup(raw: dict[str, Any]) -> dict[str, Any]:
    """A setup (or part of one) in canonical camelCase; InvalidArgument if it is wrong."""
    try:
        setup = Setup.model_validate({"model": "models/placeholder", **raw})
    except ValidationError as exc:
        raise InvalidArgument(describe_validation_error(exc)) from None
    wire = setup.model_dump(mode="json", by_alias=True, exclude_none=True)
    if "model" not in raw:
        del wire["model"]
    return wire


def apply_constraints(client: Setup, constraints: SetupConstraints) -> Setup:
    """The client's setup with the token's locked fields forced onto it."""
    mine = client.model_dump(mode="json", by_alias=True, exclude_none=True)
    locked = constraints.setup
    if constraints.field_mask is None:
        merged = {**mine, **copy.deepcopy(locked)}
    else:
        merged = mine
        for path in constraints.field_mask:
            _lock(merged, locked, [to_camel(p.strip()) for p in path.split(".") if p.strip()])
    try:
        return Setup.model_validate(merged)
    except ValidationError as exc:
        raise InvalidArgument(describe_validation_error(exc)) from None


def _lock(target: dict[str, Any], source: dict[str, Any], path: Sequence[str]) -> None:
    if not path:
        return
    *parents, leaf = path
    src: Any = source
    for key in parents:
        src = src.get(key) if isinstance(src, dict) else None
    dst = target
    for key in parents:
        child = dst.get(key)
        if not isinstance(child, dict):
            child = dst[key] = {}
        dst = child
    if isinstance(src, dict) and leaf in src:
        dst[leaf] = copy.deepcopy(src[leaf])
    else:
        dst.pop(leaf, None)
