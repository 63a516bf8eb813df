"""When the user's voice really interrupts the model, and when it is only noise.

Pure. The moment the VAD commits a start while the model speaks, the session *pauses*
the reply's audio (it stops sending within one chunk: the barge-in reaction), but it does
not yet throw the reply away. Once the user has spoken for :data:`CONFIRM_SECONDS`, the
recognizer hears that speech (about 0.1 s for half a second of audio): words that are
not a backchannel and not the model's own voice coming back confirm the interruption.
A cough, a click, an "mm-hm" or an echo resumes the reply where it paused, and the rest
of that speech is not judged again; the client's ~0.5 s of buffered audio usually hides
the pause completely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONFIRM_SECONDS = 0.4  # continuous speech that confirms an interruption without waiting
# A frame whose echo score reaches this is not the user's speech. Measured on espeak
# speech: played-back answers score 0.94-0.97 (median), other voices at most 0.82.
ECHO_THRESHOLD = 0.85
ECHO_WORDS = 0.7  # share of a transcript's words found in the reply: the model heard itself

# Acknowledgements that keep the floor with the speaker (English; lower case).
BACKCHANNELS = frozenset({
    "mm", "mmm", "hm", "hmm", "mhm", "mm-hm", "mm-hmm", "uh-huh", "uh", "um", "ah", "oh",
    "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright", "i", "see",
    "got", "it", "cool", "nice", "wow", "great", "good", "exactly", "true",
})
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_HUM = re.compile(r"[mh]*m[mh]*(?:-[mh]+)*")  # "mmh", "mhm", "hmm-mm": spelled any way


def is_backchannel(text: str) -> bool:
    """True for an empty transcript or a short acknowledgement like "mm-hm" or "I see"."""
    words = _WORD.findall(text.lower())
    return len(words) <= 3 and all(w in BACKCHANNELS or _HUM.fullmatch(w) for w in words)


def is_echo_of(transcript: str, reply_text: str) -> bool:
    """True when the transcript is mostly the model's own words coming back."""
    words = _WORD.findall(transcript.lower())
    content = [w for w in words if len(w) > 2] or words  # "a", "of": no evidence either way
    if not content:
        return False
    said = set(_WORD.findall(reply_text.lower()))
    return sum(w in said for w in content) / len(content) >= ECHO_WORDS


@dataclass(slots=True)
class PendingBargeIn:
    """User speech that started while the model was replying, not yet judged."""

    onset: float  # audio time the start was committed
    resumed: bool = False  # the speech stopped short and the reply plays on
    checking: int | None = None  # the id of the transcription judging this speech
    dismissed: bool = False  # the words were not an interruption: ignore this speech

    def confirmed(self, at: float, speaking: bool) -> bool:
        """Has the user now spoken long enough for their words to be judged?"""
        return (speaking and not self.resumed and not self.dismissed
                and self.checking is None and at - self.onset >= CONFIRM_SECONDS)
