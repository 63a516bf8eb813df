"""The Live API's 30 prebuilt voice names, as Google describes them.

The vocabulary a setup's ``speechConfig.voiceConfig`` is checked against; how a local
synthesizer renders each name lives with the synthesizers (``engines/tts/voices.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from openlive.errors import InvalidArgument

DEFAULT_VOICE = "Puck"  # the Live API's default voice name


@dataclass(frozen=True, slots=True)
class LiveVoice:
    """A prebuilt voice name and Google's description of it."""

    name: str
    gender: str  # "female" or "male"
    character: str  # Google's one-word description ("bright", "firm", ...)


VOICES: tuple[LiveVoice, ...] = (
    LiveVoice("Zephyr", "female", "bright"),
    LiveVoice("Puck", "male", "upbeat"),
    LiveVoice("Charon", "male", "informative"),
    LiveVoice("Kore", "female", "firm"),
    LiveVoice("Fenrir", "male", "excitable"),
    LiveVoice("Leda", "female", "youthful"),
    LiveVoice("Orus", "male", "firm"),
    LiveVoice("Aoede", "female", "breezy"),
    LiveVoice("Callirrhoe", "female", "easy-going"),
    LiveVoice("Autonoe", "female", "bright"),
    LiveVoice("Enceladus", "male", "breathy"),
    LiveVoice("Iapetus", "male", "clear"),
    LiveVoice("Umbriel", "male", "easy-going"),
    LiveVoice("Algieba", "male", "smooth"),
    LiveVoice("Despina", "female", "smooth"),
    LiveVoice("Erinome", "female", "clear"),
    LiveVoice("Algenib", "male", "gravelly"),
    LiveVoice("Rasalgethi", "male", "informative"),
    LiveVoice("Laomedeia", "female", "upbeat"),
    LiveVoice("Achernar", "female", "soft"),
    LiveVoice("Alnilam", "male", "firm"),
    LiveVoice("Schedar", "male", "even"),
    LiveVoice("Gacrux", "female", "mature"),
    LiveVoice("Pulcherrima", "female", "forward"),
    LiveVoice("Achird", "male", "friendly"),
    LiveVoice("Zubenelgenubi", "male", "casual"),
    LiveVoice("Vindemiatrix", "female", "gentle"),
    LiveVoice("Sadachbia", "male", "lively"),
    LiveVoice("Sadaltager", "male", "knowledgeable"),
    LiveVoice("Sulafat", "female", "warm"),
)
VOICE_NAMES: tuple[str, ...] = tuple(voice.name for voice in VOICES)
_BY_LOWER = {voice.name.lower(): voice for voice in VOICES}


def live_voice(name: str | None) -> LiveVoice:
    """The voice called ``name`` (any case; ``None`` → :data:`DEFAULT_VOICE`).

    Raises :class:`InvalidArgument` (close code 1007) for a name the Live API lacks.
    """
    voice = _BY_LOWER.get((name or DEFAULT_VOICE).strip().lower())
    if voice is None:
        raise InvalidArgument(
            f"unknown voiceName {name!r}; use a prebuilt voice such as "
            f"{', '.join(VOICE_NAMES[:6])} ({len(VOICE_NAMES)} in all)"
        )
    return voice
