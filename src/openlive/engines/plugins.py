"""What every engine factory shares: user plugins named ``package.module:attr``, and
option checking with messages that name the backend kind (LLM, ASR, TTS).

A factory describes its kind once as :class:`Backends` and asks it to check each
built-in backend's options and to load anything else as a plugin.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from openlive.errors import ConfigError

Engine = TypeVar("Engine")


@dataclass(frozen=True, slots=True)
class Backends(Generic[Engine]):
    """The backends of one engine kind, as its factory names and checks them."""

    kind: str  # "LLM", "ASR", "TTS": every error names it
    known: tuple[str, ...]  # the built-in backends, listed when a name is unknown
    members: tuple[str, ...]  # what a plugin's engine must have (the kind's Protocol)

    def checked(self, backend: str, options: dict[str, Any], allowed: Collection[str],
                required: Collection[str] = ()) -> dict[str, Any]:
        """A built-in backend's ``options``, refused when one is unknown or missing."""
        return checked_options(self.kind, backend, options, allowed, required)

    def plugin(self, backend: str, options: Mapping[str, Any]) -> Engine:
        """Load ``package.module:attr``; call for any name that is not a built-in.

        Raises :class:`ConfigError` listing the known backends for a name without ``:``.
        """
        if ":" not in backend:
            raise ConfigError(
                f"unknown {self.kind} backend {backend!r}; known: {', '.join(self.known)}, "
                "or 'package.module:attr' for your own"
            )
        return cast(Engine, load_plugin(self.kind, backend, options, self.members))


def given_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without those whose value is ``None``: they count as not given."""
    return {name: value for name, value in options.items() if value is not None}


def load_plugin(kind: str, spec: str, options: Mapping[str, Any],
                members: Collection[str]) -> Any:
    """Import ``module:attr``, call it with ``options`` and check the result has ``members``.

    Raises :class:`ConfigError` naming ``kind`` ("LLM", "ASR", "TTS") when any step fails.
    """
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {kind} backend module {module_name!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"{kind} backend {spec!r}: {module_name} has no callable {attr!r}")
    engine = factory(**options)
    missing = [name for name in members if not hasattr(engine, name)]
    if missing:
        raise ConfigError(
            f"{kind} backend {spec!r} returned {type(engine).__name__}, "
            f"which lacks {', '.join(missing)}"
        )
    return engine


def checked_options(kind: str, backend: str, options: dict[str, Any],
                    allowed: Collection[str], required: Collection[str] = ()) -> dict[str, Any]:
    """``options`` if every name is ``allowed`` and every ``required`` one is given."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown option(s) for {kind} backend {backend!r}: {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    missing = [name for name in required if name not in options]
    if missing:
        raise ConfigError(f"{kind} backend {backend!r} needs {', '.join(missing)}")
    return options
