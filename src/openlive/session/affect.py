"""Affective dialog: the user's tone, judged from how they spoke and what they said.

Pure. With ``generationConfig.enableAffectiveDialog`` the hosted native-audio models
hear how the user sounds and answer in kind. The cascade hears the words only, so the
runtime measures each user turn's voice (:func:`openlive.audio.prosody.measure_prosody`)
and this module judges the tone from that and from the words, and says how the reply
adapts: a note told to the model with its instructions (``SpokenReply.tone``) and a
:class:`~openlive.audio.delivery.Delivery` for the synthesizer.

Theory of operation. Two dimensions, as in the usual circumplex model of emotion:

* *Arousal* (calm .. agitated), from the voice: the active speech level, the pace (words
  per second of speech; syllable nuclei when there are no words), the pitch's range
  and, once the user has been heard before, the pitch against their own. Each is
  measured in steps of a typical spread away from a reference, clipped, and averaged
  with weights. The reference starts at a typical voice (:data:`REFERENCE`) and moves
  towards the user's own manner as their turns are heard (their microphone's gain,
  their natural pace), so a loud-mic user is not judged angry for ever.
* *Valence* (negative .. positive) and its kind, from the words: a small English lexicon
  of anger, sadness, worry and joy, with negation ("not happy" is displeasure).

The tone is then: :data:`UPSET` for words of anger, or an agitated voice without happy
words; :data:`EXCITED` for an agitated voice with happy words; :data:`ANXIOUS` for words of
worry; :data:`DOWN` for words of sadness; else :data:`NEUTRAL`, which changes nothing. A calm
or slow voice alone is no reason to treat anyone differently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from openlive.audio.delivery import Delivery
from openlive.audio.prosody import Prosody

Tone = Literal["neutral", "upset", "excited", "anxious", "down"]
NEUTRAL: Tone = "neutral"
UPSET: Tone = "upset"
EXCITED: Tone = "excited"
ANXIOUS: Tone = "anxious"
DOWN: Tone = "down"


@dataclass(frozen=True, slots=True)
class VoiceReference:
    """A voice's typical manner, and how far from it one step of arousal is.

    The defaults are what :func:`~openlive.audio.prosody.measure_prosody` gives for the
    evaluation set's human recordings (LibriVox readers, spoken card names and channel
    names, 30 clips): active speech level -18 to -30 dBFS (median -21), 2.6 to 3.3 words
    and 2 to 3 syllable nuclei per second of speech, pitch ranges of 3 to 9 semitones.
    """

    level_db: float = -22.0  # active speech level, dBFS
    level_step: float = 6.0
    words_per_second: float = 3.0  # per second of speech, pauses left out
    words_step: float = 0.8
    syllable_rate: float = 3.0  # nuclei per second of speech
    syllable_step: float = 1.0
    pitch_range: float = 7.0  # semitones, 10th to 90th percentile
    pitch_range_step: float = 3.0
    pitch_step: float = 2.0  # semitones above or below the user's own pitch


REFERENCE = VoiceReference()
# Weights of the cues in the arousal score (renormalized over the cues measured).
WEIGHTS = {"level": 0.3, "pace": 0.3, "range": 0.2, "pitch": 0.2}
# Each cue counts at most this many steps, so that no cue alone, however extreme,
# makes a voice agitated (0.3 * 1.5 / 0.8 < AGITATED): a hot microphone is not anger.
CLIP = 1.5
AGITATED = 0.6  # arousal at or above this: an agitated voice
PRIOR_TURNS = 2.0  # the typical voice counts as this many turns of the user's own
KEEP_TURNS = 8  # the user's latest turns that make their reference


@dataclass(frozen=True, slots=True)
class ToneEstimate:
    """What the user's last turn sounded like (see the module docstring)."""

    tone: Tone
    arousal: float | None  # steps from the reference; None: no voice to judge
    feeling: str | None  # the kind of words heard: anger, sadness, worry, joy


@dataclass(frozen=True, slots=True)
class Treatment:
    """How a reply adapts to a tone: the note told to the model with its instructions
    (None: none) and how it is spoken (None: as the voice is)."""

    note: str | None
    delivery: Delivery | None


# Told to the model in the system message (see engines/llm/spoken.py). Tried on the 0.5B
# default model (2026-12-07): "sorry" anywhere in the note, or a note after the user's
# words, made it refuse ("I'm sorry, but I can't assist with that."); these acknowledge
# the feeling and still answer ("Understood. I understand. I apologize for the
# inconvenience. I'm here to help."), and leave a factual question's answer alone.
TREATMENTS: dict[Tone, Treatment] = {
    NEUTRAL: Treatment(None, None),
    UPSET: Treatment(
        "The user is upset and frustrated. Stay calm and kind: say briefly that you "
        "understand, then help.",
        Delivery(rate=0.8, pitch_semitones=-1.5, expressiveness=0.6)),
    EXCITED: Treatment(
        "The user sounds excited and happy. Share their joy warmly, then answer.",
        Delivery(rate=1.06, pitch_semitones=1.0, expressiveness=1.25)),
    ANXIOUS: Treatment(
        "The user sounds worried. Stay calm and reassuring: say briefly that you "
        "understand, then help.",
        Delivery(rate=0.92, pitch_semitones=-0.5, expressiveness=0.7)),
    DOWN: Treatment(
        "The user sounds sad. Be gentle and warm: say briefly that you understand, then "
        "help with some encouragement.",
        Delivery(rate=0.9, pitch_semitones=-0.5, expressiveness=0.8)),
}


def treatment(tone: Tone) -> Treatment:
    """How the reply to a user in ``tone`` adapts."""
    return TREATMENTS[tone]


# -- the words --------------------------------------------------------------------------------

_LEXICON: dict[str, frozenset[str]] = {
    "anger": frozenset({
        "angry", "annoyed", "annoying", "frustrated", "frustrating", "furious", "mad",
        "ridiculous", "unacceptable", "hate", "terrible", "awful", "useless", "stupid",
        "worst", "outrageous", "pathetic", "nonsense", "damn", "hell", "sick", "fed",
        "enough", "rubbish", "garbage", "incompetent", "broken",
    }),
    "sadness": frozenset({
        "sad", "unhappy", "lonely", "alone", "depressed", "miserable", "hopeless",
        "heartbroken", "crying", "cry", "lost", "tired", "exhausted", "disappointed",
        "hurt", "grief", "died",
    }),
    "worry": frozenset({
        "worried", "worry", "scared", "afraid", "anxious", "nervous", "panic", "panicking",
        "frightened", "terrified", "urgent", "emergency",
    }),
    "joy": frozenset({
        "happy", "glad", "great", "awesome", "amazing", "wonderful", "fantastic",
        "excited", "love", "brilliant", "excellent", "yay", "hooray", "thrilled",
        "delighted", "perfect",
    }),
}
# Words that are a feeling only in company ("fed up", "sick of", "broken again", "what the
# hell", "I feel lost"): counted only with one of these words next to them.
_PAIRED = {"fed": {"up"}, "sick": {"of"}, "enough": {"is", "already"},
           "broken": {"still", "again", "keeps"}, "hell": {"the", "what"},
           "lost": {"feel", "feeling", "i'm"}}
_NEGATIONS = frozenset({"not", "no", "never", "isn't", "wasn't", "don't", "didn't",
                        "aren't", "can't", "cannot", "won't", "hardly"})
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def feeling_of(text: str) -> str | None:
    """The kind of feeling ``text``'s words carry most (anger, sadness, worry, joy), or
    None. A negated joy word ("not happy") counts as anger."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    counts = dict.fromkeys(_LEXICON, 0)
    for index, word in enumerate(words):
        around = set(words[max(0, index - 2):index]) | set(words[index + 1:index + 2])
        if word in _PAIRED and not _PAIRED[word] & around:
            continue
        for kind, lexicon in _LEXICON.items():
            if word not in lexicon:
                continue
            negated = bool(_NEGATIONS & set(words[max(0, index - 2):index]))
            if kind == "joy" and negated:
                kind = "anger"
            elif negated:
                continue  # "not angry", "don't worry": no feeling to answer
            counts[kind] += 1
    best = max(counts, key=lambda kind: counts[kind])
    return best if counts[best] > 0 else None


# -- the voice --------------------------------------------------------------------------------


@dataclass(slots=True)
class Affect:
    """One session's judgement of the user's tone; their own manner becomes the
    reference as their turns are heard (:meth:`settle`)."""

    heard: list[tuple[Prosody, float | None]] = field(default_factory=list)

    def judge(self, prosody: Prosody | None, text: str) -> ToneEstimate:
        """The tone of a user turn: its voice (None for typed text) and its words."""
        arousal = self.arousal(prosody, text) if prosody is not None else None
        feeling = feeling_of(text)
        agitated = arousal is not None and arousal >= AGITATED
        if feeling == "anger":
            tone = UPSET
        elif agitated:
            tone = EXCITED if feeling == "joy" else UPSET
        elif feeling == "worry":
            tone = ANXIOUS
        elif feeling == "sadness":
            tone = DOWN
        else:
            tone = NEUTRAL
        return ToneEstimate(tone, arousal, feeling)

    def settle(self, prosody: Prosody | None, text: str) -> None:
        """The user's turn is over: its manner joins their reference."""
        if prosody is None:
            return
        self.heard.append((prosody, _words_per_second(prosody, text)))
        del self.heard[:-KEEP_TURNS]

    def arousal(self, prosody: Prosody, text: str) -> float:
        """Steps of agitation above the reference (negative: calmer than it)."""
        ref = self._reference()
        cues: dict[str, float] = {"level": (prosody.level_db - ref.level_db) / ref.level_step}
        pace = _words_per_second(prosody, text)
        if pace is not None:
            cues["pace"] = (pace - ref.words_per_second) / ref.words_step
        elif prosody.syllable_rate is not None:
            cues["pace"] = (prosody.syllable_rate - ref.syllable_rate) / ref.syllable_step
        if prosody.pitch_range is not None:
            cues["range"] = (prosody.pitch_range - ref.pitch_range) / ref.pitch_range_step
        own = self._own_pitch()
        if prosody.pitch_hz is not None and own is not None:
            cues["pitch"] = semitones(prosody.pitch_hz, own) / ref.pitch_step
        total = sum(WEIGHTS[name] for name in cues)
        return sum(WEIGHTS[name] * max(-CLIP, min(CLIP, value))
                   for name, value in cues.items()) / total

    def _reference(self) -> VoiceReference:
        """The typical voice, moved towards the user's own by the turns heard."""
        if not self.heard:
            return REFERENCE

        def blend(typical: float, own: list[float]) -> float:
            return (typical * PRIOR_TURNS + sum(own)) / (PRIOR_TURNS + len(own))

        ranges = [p.pitch_range for p, _ in self.heard if p.pitch_range is not None]
        paces = [w for _, w in self.heard if w is not None]
        syllables = [p.syllable_rate for p, _ in self.heard if p.syllable_rate is not None]
        return VoiceReference(
            level_db=blend(REFERENCE.level_db, [p.level_db for p, _ in self.heard]),
            words_per_second=blend(REFERENCE.words_per_second, paces),
            syllable_rate=blend(REFERENCE.syllable_rate, syllables),
            pitch_range=blend(REFERENCE.pitch_range, ranges),
        )

    def _own_pitch(self) -> float | None:
        pitches = sorted(p.pitch_hz for p, _ in self.heard if p.pitch_hz is not None)
        return pitches[len(pitches) // 2] if pitches else None


def semitones(pitch: float, reference: float) -> float:
    """How many semitones ``pitch`` is above ``reference``."""
    return 12.0 * math.log2(pitch / reference)


def _words_per_second(prosody: Prosody, text: str) -> float | None:
    words = len(_WORD.findall(text.lower()))
    if words < 3 or prosody.seconds <= 0:
        return None  # too few words for a pace
    return words / prosody.seconds
