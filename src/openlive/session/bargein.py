"""When the user's voice really interrupts the model, and when it is only noise.

Pure. The moment the VAD commits a start while the model speaks, the session *pauses*
the reply's audio (it stops sending within one chunk: the barge-in reaction), but it does
not yet throw the reply away. Once the user has spoken for :data:`CONFIRM_SECONDS`, the
recognizer hears that speech (about 0.1 s for half a second of audio): words that are
not a backchannel and not the model's own voice coming back confirm the interruption.
A cough, a click, an "mm-hm" or an echo resumes the reply where it paused, and the rest
of that speech is not judged again; the client's ~0.5 s of buffered audio usually hides
the pause completely. Speech that stops before the confirmation is heard too when it
lasted :data:`SHORT_WORD_SECONDS` (a lone "Stop!" is the commonest interruption there
is); only shorter sounds resume the reply without asking the recognizer.

:class:`BargeInJudge` does the judging for the machine: the machine tells it where
speech started over a reply, hands it each VAD frame and the recognizer's words, and
carries out the interruption when the judge says the words are the user's. The judge
pauses and resumes the reply itself; it never touches the history or the turn state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openlive.session.actions import Action, BargeIn, Transcribe
from openlive.session.speaking import Reply

# Continuous speech that confirms an interruption without waiting. Measured on the
# evaluation set's 86 sounds over a reply (bench/endpointing.py, 2026-12-07): 0.25 s keeps
# its false barge-ins (18/54, none of 32 missed) and decides sooner (speech onset ->
# interrupted p50 745 -> 568 ms), but on a speakerphone under CPU load the model's own
# answer coming back was taken for the user in 1 of 4 runs (the CI run's speakerphone
# test too; a shorter clip of echo matches the reply's words less often), where 0.4 s
# passed 4 of 4. Kept at 0.4 s until the echo check holds up on short clips.
CONFIRM_SECONDS = 0.4
# Speech that stops short of CONFIRM_SECONDS but lasted this long may be a word ("Stop!")
# rather than a cough or a click: the recognizer hears it before the reply goes on.
SHORT_WORD_SECONDS = 0.15
# A frame whose echo score reaches this is not the user's speech (runtime/echo.py).
# Measured on espeak speech: cancelled echo scores 0.9-1.0 (26 dB or more removed),
# another voice's fit is at most 0.66, a user talking over echo mostly below 0.6.
ECHO_THRESHOLD = 0.85
# A stretch of speech whose energy the server's own audio explains this much is that
# audio coming back (runtime/echo.py ``EchoGuard.replayed``, judged whole when its words
# would take the floor). Echo fits 0.85-1.0 (audio/echo_delay.py), another voice at most
# 0.66; the user's voice over a louder echo counts as echo only when the echo carries
# over four fifths of the energy (the user 7 dB or more below it at their own microphone).
ECHO_REPLAYED = 0.8
ECHO_WORDS = 0.7  # share of a transcript's words found in the reply: the model heard itself
BARGE_PREROLL = 0.3  # audio before the onset given to the recognizer (the VAD commits late)

# Acknowledgements that keep the floor with the speaker (English; lower case).
BACKCHANNELS = frozenset({
    "mm", "mmm", "hm", "hmm", "mhm", "mm-hm", "mm-hmm", "uh-huh", "uh", "um", "ah", "oh",
    "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright", "i", "see",
    "got", "it", "cool", "nice", "wow", "great", "good", "exactly", "true",
})
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_HUM = re.compile(r"[mh]*m[mh]*(?:-[mh]+)*")  # "mmh", "mhm", "hmm-mm": spelled any way
# Vowel-and-h interjections however Whisper spells them: "uh-huh", "oh, ho", "aha",
# "haha", "ooh". Measured (bench/endpointing.py, 2026-12-07): Kokoro's "uh-huh" and
# "yeah" come back as "Oh, ho." and "Yeah, ho.", espeak's as "haha"; 4 of the 17 false
# barge-ins of 47 sounds that must not interrupt. Only a/o/u: "hi" and "he" are words.
_SYLLABLE = r"(?:[aou]+h*|h+[aou]+h*)"
INTERJECTION = re.compile(rf"{_SYLLABLE}(?:-?{_SYLLABLE})*")


def is_backchannel(text: str) -> bool:
    """True for an empty transcript or a short acknowledgement like "mm-hm" or "I see".

    Short counts distinct words: Whisper hears espeak's "uh-huh" as "uh" ten times over."""
    words = _WORD.findall(text.lower())
    return len(set(words)) <= 3 and all(
        w in BACKCHANNELS or _HUM.fullmatch(w) or INTERJECTION.fullmatch(w) for w in words)


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


def keeps_floor(text: str, reply: Reply) -> bool:
    """Whether words heard over ``reply`` leave it the floor: a backchannel, or the
    model's own voice coming back."""
    return is_backchannel(text) or is_echo_of(text, reply.spoken_text())


class BargeInJudge:
    """Judges user speech over the reply: pause it, resume it, or say it is interrupted.

    Call :meth:`start` when the VAD commits a start while a reply plays,
    :meth:`on_score` after every VAD frame, :meth:`on_words` with the transcript of a
    check it asked for, :meth:`on_user_turn` with the final words of a user turn, and
    :meth:`forget` when the reply is interrupted.
    """

    def __init__(self) -> None:
        self.pending: PendingBargeIn | None = None  # speech over the reply, being judged
        self._next_check = -1  # barge-in checks are transcriptions with negative ids

    @staticmethod
    def is_check(turn_id: int) -> bool:
        """Whether a transcript is one of these checks rather than a user turn."""
        return turn_id < 0

    def start(self, onset: float, reply: Reply, now: float) -> list[Action]:
        """Speech started at ``onset`` over ``reply``: stop its audio now, judge next."""
        reply.pause(now)
        self.pending = PendingBargeIn(onset=onset)
        return [BargeIn(onset)]

    def forget(self) -> None:
        """Nothing is being judged any more (the turn was interrupted, or it ended)."""
        self.pending = None

    def on_score(self, at: float, now: float, reply: Reply | None, *, speaking: bool,
                 language: str | None, expected: str | None = None) -> list[Action]:
        """One more VAD frame, at audio time ``at``; ``speaking``: the user is speaking.

        ``language`` and ``expected`` go with the recognition it asks for (see
        :class:`~openlive.session.actions.Transcribe`)."""
        barge = self.pending
        if barge is None or reply is None:
            self.pending = None
            return []
        if barge.dismissed:
            # the rest of speech already judged harmless is not judged again
            barge.dismissed = speaking
            return []
        if barge.checking is not None:
            return []  # waiting for the recognizer's verdict
        if barge.resumed and speaking:
            # the user went on after a dip (or a frame taken for echo): judge afresh
            barge.resumed, barge.onset = False, at
            reply.pause(now)
            return []
        if barge.confirmed(at, speaking):
            # long enough to matter: let the recognizer say what it is (is it words?)
            return [self._check(barge, at, language, expected)]
        if not speaking and not barge.resumed:
            if at - barge.onset >= SHORT_WORD_SECONDS:
                # short, but maybe a word ("Stop!"): held until the recognizer says
                return [self._check(barge, at, language, expected)]
            barge.resumed = True  # a click or a tap: the reply goes on
            return reply.resume(now)
        return []

    def _check(self, barge: PendingBargeIn, at: float, language: str | None,
               expected: str | None) -> Transcribe:
        """Ask the recognizer what the speech since the onset is."""
        barge.checking = self._next_check
        self._next_check -= 1
        return Transcribe(barge.checking, max(0.0, barge.onset - BARGE_PREROLL), at, language,
                          expected=expected)

    def on_words(self, check_id: int, text: str, reply: Reply | None,
                 now: float) -> tuple[list[Action], bool]:
        """The recognizer's verdict on speech over the reply: (actions, interrupted).

        Words interrupt (the machine then interrupts the turn); noise, a backchannel or
        the model's own voice coming back let the reply go on.
        """
        barge = self.pending
        if barge is None or reply is None or barge.checking != check_id:
            return [], False  # the reply ended meanwhile, or an older check
        barge.checking = None
        text = text.strip()
        if not text or keeps_floor(text, reply):
            barge.dismissed = barge.resumed = True
            return reply.resume(now), False
        return [], True

    def on_user_turn(self, text: str, reply: Reply | None,
                     now: float) -> tuple[list[Action], bool]:
        """A user turn ended with ``text`` (stripped): (actions, kept).

        While the model speaks, "mm-hm", its own voice coming back or a turn with no
        words at all keeps the floor, whether or not the speech was loud or long enough
        to pause the reply: the reply goes on (kept) and the turn is not answered.
        """
        self.pending = None
        if reply is not None and (not text or keeps_floor(text, reply)):
            # no words (noise that ended the user's turn, e.g. the microphone closed
            # right after the onset paused the reply) or not for us: the reply goes on
            return reply.resume(now), True
        return [], False
