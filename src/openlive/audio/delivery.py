"""How a reply is spoken, beyond the voice: its pace, pitch and liveliness.

Neutral data: the session chooses a :class:`Delivery` for a reply (affective dialog,
:mod:`openlive.session.affect`) and the synthesizers honour what they can of it
(:mod:`openlive.engines.tts`); neither layer owns it, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delivery:
    """A change to a voice's own manner; the default changes nothing.

    ``rate`` multiplies the speaking rate (below 1 is slower), ``pitch_semitones`` is
    added to the voice's pitch, ``expressiveness`` scales how much intonation and timing
    vary (below 1 is flatter and steadier: Piper's noise scales; a synthesizer without
    such a control ignores it).
    """

    rate: float = 1.0
    pitch_semitones: float = 0.0
    expressiveness: float = 1.0
