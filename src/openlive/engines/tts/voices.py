"""The Live API's 30 prebuilt voice names and its language codes, mapped to local voices.

One table, :data:`_TABLE`, is the single source of truth: each Live voice name, Google's
description of it (gender, character), the backend that renders it best under
``tts_backend="auto"``, and how each backend renders it. Local voices are few — Piper
has one (en_US "joe", male), the Kokoro package five (``jf_alpha``, ``jf_gongitsune``,
``jf_nezumi``, ``jf_tebukuro``: female; ``jm_kumo``: male) — so each name is a variant of
one of them: a pitch shift in semitones and a speaking rate (``length_scale`` > 1 is
slower). Female names go to Kokoro's female voices, male names to Piper joe (fast) or
Kokoro ``jm_kumo``; where names outnumber voices, no two names of one backend share
both pitch and rate, and neighbours differ by a semitone or more. A character maps to
the variant: bright/upbeat/excitable/lively/youthful → faster and higher;
firm/informative/knowledgeable → lower; soft/gentle/breathy/smooth/warm → slower;
gravelly/mature → lowest.

Languages: :data:`LANGUAGES` lists every ``languageCode`` the Live API defines and how
Kokoro speaks it (an espeak-ng voice for its phonemes, Japanese via pyopenjtalk), or
``None`` where no local voice speaks it. Piper speaks its voice's own language (joe:
English). Nothing here loads a model: the session imports this module to validate a
setup message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from openlive.catalog.languages import LIVE_LANGUAGES, live_language
from openlive.catalog.voices import DEFAULT_VOICE, VOICE_NAMES, live_voice
from openlive.engines.tts.base import Voice

__all__ = [
    "DEFAULT_VOICE",
    "LANGUAGES",
    "VOICE_NAMES",
    "SpeechLanguage",
    "VoiceProfile",
    "resolve_language",
    "resolve_voice",
    "voice_profile",
]

Backend = Literal["piper", "kokoro"]
BACKENDS: tuple[Backend, ...] = ("piper", "kokoro")

PIPER_VOICE = "joe"  # the bundled Piper voice (a user's own Piper voice takes its place)

# Live voice name (catalog/voices.py describes it), auto backend,
#   kokoro voice, kokoro semitones, kokoro length_scale, piper semitones, piper length_scale
_TABLE: tuple[tuple[str, Backend, str, float, float, float, float], ...] = (
    ("Zephyr", "kokoro", "jf_alpha", +1, 0.95, +6, 0.92),
    ("Puck", "piper", "jm_kumo", 0, 0.95, 0, 0.95),
    ("Charon", "piper", "jm_kumo", -2, 1.00, -2, 1.00),
    ("Kore", "kokoro", "jf_nezumi", -1, 1.00, +3, 1.00),
    ("Fenrir", "piper", "jm_kumo", +2, 0.90, +2, 0.90),
    ("Leda", "kokoro", "jf_tebukuro", 0, 0.95, +7, 0.95),
    ("Orus", "piper", "jm_kumo", -1, 1.00, -1, 1.00),
    ("Aoede", "kokoro", "jf_alpha", 0, 1.05, +5, 1.05),
    ("Callirrhoe", "kokoro", "jf_gongitsune", +1, 1.00, +4, 1.08),
    ("Autonoe", "kokoro", "jf_tebukuro", -2, 0.95, +6, 1.00),
    ("Enceladus", "piper", "jm_kumo", -1, 1.10, -1, 1.10),
    ("Iapetus", "piper", "jm_kumo", +1, 1.00, +1, 1.00),
    ("Umbriel", "piper", "jm_kumo", 0, 1.08, 0, 1.08),
    ("Algieba", "piper", "jm_kumo", -3, 1.05, -3, 1.05),
    ("Despina", "kokoro", "jf_nezumi", +1, 1.05, +4, 1.00),
    ("Erinome", "kokoro", "jf_alpha", -2, 1.00, +5, 1.00),
    ("Algenib", "piper", "jm_kumo", -4, 1.00, -4, 1.00),
    ("Rasalgethi", "piper", "jm_kumo", -2, 0.92, -2, 0.92),
    ("Laomedeia", "kokoro", "jf_tebukuro", -1, 0.90, +5, 0.92),
    ("Achernar", "kokoro", "jf_gongitsune", 0, 1.10, +5, 1.12),
    ("Alnilam", "piper", "jm_kumo", -3, 0.95, -3, 0.95),
    ("Schedar", "piper", "jm_kumo", +1, 1.08, +1, 1.08),
    ("Gacrux", "kokoro", "jf_gongitsune", -2, 1.05, +3, 1.08),
    ("Pulcherrima", "kokoro", "jf_alpha", +2, 0.92, +4, 0.92),
    ("Achird", "piper", "jm_kumo", +1, 0.92, +1, 0.92),
    ("Zubenelgenubi", "piper", "jm_kumo", -1, 0.92, -1, 0.92),
    ("Vindemiatrix", "kokoro", "jf_nezumi", -2, 1.10, +6, 1.10),
    ("Sadachbia", "piper", "jm_kumo", +2, 1.00, +2, 1.00),
    ("Sadaltager", "piper", "jm_kumo", -2, 1.08, -2, 1.08),
    ("Sulafat", "kokoro", "jf_gongitsune", -1, 1.00, +7, 1.05),
)


@dataclass(frozen=True, slots=True)
class VoiceProfile:
    """One row of the table: a Live voice name and its renderings."""

    name: str
    gender: str  # as Google describes the voice: "female" or "male"
    character: str  # Google's one-word description ("bright", "firm", ...)
    preferred: Backend  # the backend ``tts_backend="auto"`` renders it with
    renderings: Mapping[str, Voice]  # backend name -> how that backend renders it


def _profiles() -> dict[str, VoiceProfile]:
    profiles: dict[str, VoiceProfile] = {}
    for name, preferred, kvoice, kst, klen, pst, plen in _TABLE:
        live = live_voice(name)
        renderings = {
            "kokoro": Voice(name, kvoice, length_scale=klen, pitch_semitones=kst),
            "piper": Voice(name, PIPER_VOICE, length_scale=plen, pitch_semitones=pst),
        }
        profiles[name.lower()] = VoiceProfile(name, live.gender, live.character, preferred,
                                              renderings)
    return profiles


_PROFILES = _profiles()
assert tuple(p.name for p in _PROFILES.values()) == VOICE_NAMES, "a Live voice lacks a rendering"


def voice_profile(name: str | None) -> VoiceProfile:
    """The table row for a Live voice name (any case; ``None`` → :data:`DEFAULT_VOICE`).

    Raises :class:`InvalidArgument` (close code 1007) for a name not in the table.
    """
    return _PROFILES[live_voice(name).name.lower()]


def resolve_voice(name: str | None, backend: str = "piper") -> Voice:
    """How ``backend`` ("piper" or "kokoro") renders the Live voice ``name``.

    Call when a session's ``speechConfig`` arrives, so an unknown name closes the session
    with 1007 before any audio is made.
    """
    profile = voice_profile(name)
    try:
        return profile.renderings[backend]
    except KeyError:
        raise ValueError(f"no voice table for backend {backend!r}; known: {BACKENDS}") from None


@dataclass(frozen=True, slots=True)
class SpeechLanguage:
    """A Live API ``languageCode`` and whether/how the local voices speak it."""

    code: str  # canonical spelling, e.g. "en-US"
    kokoro: str | None  # espeak-ng voice for Kokoro's phonemes, "ja" (pyopenjtalk), or None
    note: str = ""  # what a listener should expect, for docs and error messages

    @property
    def family(self) -> str:
        """The language without region: ``"en"`` for ``en-GB``, ``"cmn"`` for ``cmn-CN``."""
        return self.code.split("-")[0].lower()


_EXPERIMENTAL = "experimental: Kokoro was trained on it, but with these voices it is hard to follow"
_UNSUPPORTED = "no local voice speaks it"

LANGUAGES: dict[str, SpeechLanguage] = {
    lang.code: lang
    for lang in (
        SpeechLanguage("en-US", "en-us"),
        SpeechLanguage("en-GB", "en-gb", "British phonemes on Kokoro; Piper joe sounds American"),
        SpeechLanguage("en-AU", "en-gb", "spoken with British phonemes"),
        SpeechLanguage("en-IN", "en-gb", "spoken with British phonemes"),
        SpeechLanguage("es-US", "es-419", "Kokoro only; Latin American phonemes"),
        SpeechLanguage("es-ES", "es", "Kokoro only"),
        SpeechLanguage("it-IT", "it", "Kokoro only"),
        SpeechLanguage("pt-BR", "pt-br", "Kokoro only"),
        SpeechLanguage("ja-JP", "ja", "Kokoro only; needs pyopenjtalk-plus and sudachipy"),
        SpeechLanguage("fr-FR", "fr-fr", _EXPERIMENTAL),
        SpeechLanguage("fr-CA", "fr-fr", _EXPERIMENTAL),
        SpeechLanguage("hi-IN", "hi", _EXPERIMENTAL),
        *(
            SpeechLanguage(code, None, _UNSUPPORTED)
            for code in re.findall(
                r"\S+",
                "de-DE ar-XA id-ID tr-TR vi-VN bn-IN gu-IN kn-IN ml-IN mr-IN ta-IN te-IN "
                "nl-NL ko-KR cmn-CN pl-PL ru-RU th-TH",
            )
        ),
    )
}
assert tuple(LANGUAGES) == LIVE_LANGUAGES, "the table must list every Live languageCode"


def resolve_language(code: str) -> SpeechLanguage:
    """How the local voices speak ``languageCode`` (see :func:`live_language` for the
    spellings taken). Raises :class:`InvalidArgument` (1007) when the Live API defines no
    such language; check ``.kokoro`` (and a synthesizer's ``languages()``) to learn
    whether a local voice speaks it.
    """
    return LANGUAGES[live_language(code).code]
