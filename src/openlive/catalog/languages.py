"""The language codes the Live API defines for ``speechConfig.languageCode``.

The vocabulary a setup is checked against. Which of them a local synthesizer speaks,
and how, lives with the synthesizers (``engines/tts/voices.py``); which of them the
server can speak at all is a capability handed to the session at setup.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.errors import InvalidArgument

#: In the order the API documents them; the first of a family is its default region.
LIVE_LANGUAGES: tuple[str, ...] = (
    "en-US", "en-GB", "en-AU", "en-IN", "es-US", "es-ES", "it-IT", "pt-BR", "ja-JP",
    "fr-FR", "fr-CA", "hi-IN", "de-DE", "ar-XA", "id-ID", "tr-TR", "vi-VN", "bn-IN",
    "gu-IN", "kn-IN", "ml-IN", "mr-IN", "ta-IN", "te-IN", "nl-NL", "ko-KR", "cmn-CN",
    "pl-PL", "ru-RU", "th-TH",
)
_BY_LOWER = {code.lower(): code for code in LIVE_LANGUAGES}
# English names, to tell a model which language to answer in
_NAMES = {
    "en": "English", "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ja": "Japanese",
    "fr": "French", "hi": "Hindi", "de": "German", "ar": "Arabic", "id": "Indonesian",
    "tr": "Turkish", "vi": "Vietnamese", "bn": "Bengali", "gu": "Gujarati", "kn": "Kannada",
    "ml": "Malayalam", "mr": "Marathi", "ta": "Tamil", "te": "Telugu", "nl": "Dutch",
    "ko": "Korean", "cmn": "Mandarin Chinese", "pl": "Polish", "ru": "Russian", "th": "Thai",
}


@dataclass(frozen=True, slots=True)
class LiveLanguage:
    """A ``languageCode`` in its canonical spelling, e.g. ``en-US``."""

    code: str

    @property
    def family(self) -> str:
        """The language without region: ``"en"`` for ``en-GB``, ``"cmn"`` for ``cmn-CN``."""
        return self.code.split("-")[0].lower()

    @property
    def name(self) -> str:
        """The language's English name: ``"Spanish"`` for ``es-US``."""
        return _NAMES[self.family]


def live_language(code: str) -> LiveLanguage:
    """The language ``code`` names (any case; ``en`` or ``de-AT`` → the first code of
    that language). Raises :class:`InvalidArgument` (1007) when the Live API defines no
    such language.
    """
    key = code.strip().lower().replace("_", "-")
    found = _BY_LOWER.get(key)
    if found is None:
        family = key.split("-")[0]
        found = next((c for c in LIVE_LANGUAGES if c.split("-")[0].lower() == family), None)
    if found is None:
        raise InvalidArgument(
            f"unknown languageCode {code!r}; use a BCP-47 code such as en-US, es-US, fr-FR, ja-JP"
        )
    return LiveLanguage(found)
