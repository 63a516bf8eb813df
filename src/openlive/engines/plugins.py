"""What every engine factory shares: user plugins named ``package.module:attr``, and
option checking with messages that name the backend kind (LLM, ASR, TTS)."""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from typing import Any

from openlive.errors import ConfigError


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
