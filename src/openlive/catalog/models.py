"""Which backend serves which Live model id.

The SDKs send ``models/<id>``; the hosted service closes 1008 for an id it does not serve
(spec §7). Here every documented Live model id maps to a named language-model backend,
and operators add or change aliases in configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_BACKEND = "default"

# Every Live model id named by the SDKs, docs and cookbook (spec §11).
KNOWN_LIVE_MODELS: tuple[str, ...] = (
    "gemini-3.8-live",
    "gemini-3.8-live-extended-thinking",
    "gemini-3.1-flash-live-preview",
    "gemini-3.5-live-translate-preview",
    "gemini-2.5-flash-native-audio-preview-12-2025",
    "gemini-2.5-flash-native-audio-preview-09-2025",
    "gemini-2.5-flash-native-audio-latest",
    "gemini-2.5-flash-native-audio-dialog",
    "gemini-live-2.5-flash-preview",
    "gemini-live-2.5-flash",
    "gemini-live-2.5-flash-native-audio",
    "gemini-2.0-flash-live-001",
    "gemini-2.0-flash-live-preview-04-09",
    "gemini-2.5-flash-preview-native-audio-dialog",
    "gemini-2.5-flash-exp-native-audio-thinking-dialog",
    "gemini-2.0-flash-exp",
)


def bare_model_id(name: str) -> str:
    """``models/x`` → ``x``; other names unchanged."""
    return name.removeprefix("models/")


@dataclass(frozen=True, slots=True)
class ModelCatalog:
    """Maps Live model ids (without ``models/``) to backend names."""

    aliases: Mapping[str, str] = field(
        default_factory=lambda: {m: DEFAULT_BACKEND for m in KNOWN_LIVE_MODELS}
    )

    def resolve(self, model: str) -> str | None:
        """The backend name serving ``model`` (with or without ``models/``), or None."""
        return self.aliases.get(bare_model_id(model))

    def with_aliases(self, extra: Mapping[str, str]) -> ModelCatalog:
        """A catalog with ``extra`` aliases added or overriding existing ones."""
        return ModelCatalog({**self.aliases, **{bare_model_id(k): v for k, v in extra.items()}})
