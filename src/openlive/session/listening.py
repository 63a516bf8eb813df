"""The listening half of a session: from the user's audio to a finished user turn.

Pure, like the machine that owns it. Audio bytes never stop here: the session hands
them to the driver (``IngestAudio``), which resamples, keeps them, scores each 32 ms
frame with the VAD and feeds the scores back (``SpeechScored``). From the scores, or
from the client's ``activityStart`` / ``activityEnd``, this class decides where a user
turn starts and ends, asks the end-of-turn model when the user pauses (when the client
left ``silenceDurationMs`` unset), and asks for a transcript of the turn's audio.

Times are seconds of audio received (16 kHz stream time), not wall time.

Ending a turn at a pause takes two opinions. Smart Turn hears the prosody; on flat or
synthetic speech it often says "done" after "I would like a pizza and" (the benchmark
measured 9 cut-offs in 10). The speculative transcript of the same pause says what was
said: a turn whose last word is one that cannot end a sentence ("and", "the", "to"…)
or that ends with a comma is not over, whatever the prosody says; the silence window
then decides. So the words come first: at a pause the audio so far is transcribed, and
only when the words could end a sentence is Smart Turn asked, once per pause (its input,
the audio up to the end of speech, is the same at every report of one pause). Run side
by side on two cores the two models slowed each other (Whisper 0.33 s alone, 0.47 s
beside Smart Turn), and the transcript is what the answer ahead needs; Smart Turn then
runs while the answer is being generated, off the critical path.

Neither opinion is trusted inside a short pause. Replayed on the evaluation set's real
voices (``bench/endpointing.py``), Smart Turn says "done" with 0.96 after "Please set a
timer for." (Whisper adds the full stop), and readers of LibriVox pause 0.2-0.5 s inside
sentences: with engines fast enough to answer within the pause, 22 of 88 utterances were
cut. So a "done" verdict ends the turn only once the pause has lasted
:data:`MIN_END_SILENCE`; the transcript and the answer ahead still start at the first
pause report, so the wait overlaps the answer's generation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from openlive.audio.pcm import check_pcm_bytes, parse_audio_mime
from openlive.audio.prosody import Prosody
from openlive.audio.words import TimedWord
from openlive.errors import InvalidArgument
from openlive.protocol.types import Blob
from openlive.session.actions import (
    Action,
    IngestAudio,
    ScoreEndOfTurn,
    Transcribe,
    TranscriptKind,
)
from openlive.session.activity import (
    ActivityConfig,
    ActivityDetector,
    PauseDetected,
    SpeechEnded,
    SpeechStarted,
)
from openlive.session.activity import (
    State as ActivityState,
)
from openlive.session.events import TranscriptReady

# Smart Turn's "done" probability. Measured on the evaluation set (bench/endpointing.py,
# 2026-12-07): raising it to 0.7-0.9 hardly lowers cut-offs (Smart Turn is sure of the
# wrong pauses: 0.96 after "Please set a timer for.") and sends 5-20 of 78 finished turns
# to the silence window instead (p50 delay +0.1-0.3 s): it stays at 0.5.
END_OF_TURN_THRESHOLD = 0.5
# Silence (seconds since the end of speech) before a "done" verdict may end the turn; a
# verdict that comes sooner waits for it, and is dropped if the user talks again.
# Measured on the evaluation set with instant engines (the worst case: a fast machine):
# cut-offs 22/88 utterances at 0 s, 7/88 at 0.6 s, 3/88 at 0.7 s, 1/88 at 0.8 s, 0/88 at
# 0.9 s (the set's mid-sentence pauses last 0.4-0.8 s); the end-of-turn delay of finished
# turns, p50, rises from 0.20 s to 0.86 s with instant engines but only from 0.89 s to
# 0.93 s with this box's measured Whisper and Smart Turn times, which mostly fill it.
MIN_END_SILENCE = 0.8
# ...unless the pause's words close a question (Whisper's "?", CLOSING_MARKS) and Smart
# Turn is at least CONFIDENT_END_OF_TURN sure: then SHORT_END_SILENCE. Measured on the
# evaluation set with instant engines (bench/endpointing.py --short-end, 2026-12-07):
# end-of-turn delay p50 0.86 -> 0.80 s with the cut-offs unchanged (1/92); from 0.9 down
# the mid-sentence "Can you tell?" (0.93) was cut too, and "." as well as "?" cut 3-5 of
# the 10 pause items ("Please set a timer for." gets 0.96 and a full stop).
CONFIDENT_END_OF_TURN = 0.95
SHORT_END_SILENCE = 0.4
CLOSING_MARKS = "?"

# Words after which an English sentence is practically never complete: conjunctions,
# articles, possessive determiners, "to"/"of", fillers. Kept short on purpose: a word
# that can end a sentence ("it", "for", "so", "too") would delay many finished turns to
# the silence window; a language whose words collide here only waits that window.
CONTINUATION_WORDS = frozenset({
    "and", "or", "but", "nor", "because", "although", "though", "unless", "whereas", "than",
    "if", "the", "a", "an", "my", "your", "our", "their", "its", "to", "of", "very", "every",
    "um", "uh", "er", "erm",
})


def closes_sentence(text: str) -> bool:
    """Whether a transcript ends with a mark that closes a sentence (:data:`CLOSING_MARKS`)."""
    stripped = text.strip().rstrip("\"'”’»)")
    return bool(stripped) and stripped[-1] in CLOSING_MARKS


def sounds_unfinished(text: str) -> bool:
    """Whether a transcript stops where a sentence cannot end (a comma, "and"…)."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped[-1] in ",;:-–—":
        return True
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", stripped.lower())
    return bool(words) and words[-1] in CONTINUATION_WORDS


@dataclass(frozen=True, slots=True)
class UserTurnStarted:
    """The user began speaking (barge-in point): turn ``turn_id`` (its
    :class:`UserTurnEnded` carries the same id) began at ``onset``, committed at ``at``."""

    at: float
    onset: float
    turn_id: int


@dataclass(frozen=True, slots=True)
class UserTurnEnded:
    """The user's turn audio is complete; its transcript is on its way (or here).
    ``empty``: it ended where it began (no audio to transcribe, no transcript follows)."""

    turn_id: int
    speech_end: float
    empty: bool = False


@dataclass(frozen=True, slots=True)
class TurnTranscribed:
    """The final transcript of the user's turn, from the audio between ``start`` and
    ``end`` (audio time); ``words`` timed in audio time, when asked for."""

    turn_id: int
    text: str
    language: str | None = None  # as the recognizer heard it
    prosody: Prosody | None = None  # how it was said, when measured
    start: float = 0.0
    end: float = 0.0
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnHeardSoFar:
    """What the user has said so far in the turn in progress: a pause's transcript, or
    (``speaking``) a decode of the audio so far while they go on talking."""

    turn_id: int
    text: str
    speaking: bool = False
    prosody: Prosody | None = None  # how it was said, when measured (at a pause)
    start: float = 0.0  # the audio decoded (audio time)
    end: float = 0.0


Signal = UserTurnStarted | UserTurnEnded | TurnTranscribed | TurnHeardSoFar


@dataclass(slots=True)
class _Transcript:
    """A transcription asked for one turn's audio up to ``end``; ``text`` once back."""

    turn_id: int
    end: float
    text: str | None = None
    final: bool = False  # the turn ended exactly here: this is the user's turn
    language: str | None = None  # as the recognizer heard it
    speaking: bool = False  # asked while the user spoke: what they said so far
    prosody: Prosody | None = None  # how it was said, when measured
    start: float = 0.0  # where the audio transcribed began (audio time), once back
    words: tuple[TimedWord, ...] = ()  # timed in audio time, when asked for

    def turn(self) -> TurnTranscribed:
        """This transcript as the user's turn."""
        return TurnTranscribed(self.turn_id, self.text or "", self.language, self.prosody,
                               self.start, self.end, self.words)


class Listening:
    """Turn-taking for one session's audio stream."""

    def __init__(self, activity: ActivityConfig, *, end_of_turn_model: bool,
                 language: str | None, languages: tuple[str, ...] = (),
                 all_input: bool = False, interim_every: float | None = None,
                 context: Callable[[], str | None] = lambda: None,
                 prosody: bool = False, word_timings: bool = False) -> None:
        self.detector = ActivityDetector(activity)
        # time the words of transcripts that may be the turn's (inputAudioTranscription
        # .wordTimestamp): the final and each pause's, not those while the user speaks
        self._word_timings = word_timings
        # measure how the words of each transcript were said (affective dialog); those
        # asked while the user speaks too, as one may turn out to be a pause's
        self._prosody = prosody
        # turnCoverage TURN_INCLUDES_ALL_INPUT: a turn's audio reaches back to the end of
        # the previous turn, not only to the onset of speech.
        self._all_input = all_input
        self._last_end = 0.0
        self.manual = activity.disabled
        self._semantic = end_of_turn_model and self.detector.semantic_end_of_turn
        self._language = language  # languageCode: recognition is asked for it
        self._languages = languages  # the transcription config's languageCodes: narrows it
        # the model's last reply, Whisper's prompt: a user's answer often picks up its
        # words (bench/recognition.py: English WER 11.5 -> 8.6 % on the evaluation set)
        self._context = context
        # the language the user has been speaking, as the conversation learns it (only
        # when none is asked for): recognition expects it (see session/hearing.py)
        self.expected: str | None = None
        self.audio_time = 0.0  # seconds of audio received so far
        self._turn_from: float | None = None  # start of the current turn's audio
        self._next_turn_id = 1
        self._scoring: int | None = None  # turn id with an end-of-turn check in flight
        self._pause_end: float | None = None  # the latest pause (speech end) of the turn
        self._scored_end: float | None = None  # the pause the end-of-turn model was asked about
        self._done_at: float | None = None  # a pause judged "done", waiting for its silence
        self._done_silence = MIN_END_SILENCE  # the silence that pause needs (see above)
        self._heard_until = 0.0  # audio time of the latest VAD frame
        # Speculative: the turn's audio is transcribed at each pause, so that when the
        # turn ends there (the end-of-turn model says so, or the window runs out) the
        # transcript is ready or nearly; if the user goes on, the result is dropped.
        self._transcripts: list[_Transcript] = []
        # While the user speaks, the audio so far is decoded every ``interim_every``
        # seconds of it (None: only at pauses), one decode at a time, for the interim
        # transcript and the language model's prefill (session/hearing.py).
        self._interim_every = interim_every
        self._interim_from: float | None = None  # where the last such decode ended
        self._interim_busy = False

    @property
    def speaking(self) -> bool:
        """Whether the user is speaking now."""
        return self.detector.state is ActivityState.SPEAKING

    # -- input from the client ------------------------------------------------------------

    def on_audio(self, blob: Blob) -> list[Action]:
        """Validate one audio chunk and pass it to the driver."""
        fmt = parse_audio_mime(blob.mime_type)
        check_pcm_bytes(blob.data)
        self.audio_time += len(blob.data) / 2 / fmt.rate
        return [IngestAudio(blob.data, fmt.rate)]

    def on_activity_start(self) -> tuple[list[Action], list[Signal]]:
        if not self.manual:
            raise InvalidArgument(
                "activityStart needs automaticActivityDetection.disabled=true in setup."
            )
        self._turn_from = self._last_end if self._all_input else self.audio_time
        return [], [UserTurnStarted(self.audio_time, self.audio_time, self._next_turn_id)]

    def on_activity_end(self) -> tuple[list[Action], list[Signal]]:
        if not self.manual:
            raise InvalidArgument(
                "activityEnd needs automaticActivityDetection.disabled=true in setup."
            )
        return self._end_turn(self.audio_time)

    def on_stream_end(self) -> tuple[list[Action], list[Signal]]:
        """``audioStreamEnd``: the microphone closed; flush a pending utterance."""
        if self.manual or not self.detector.in_turn:
            return [], []
        ended = self.detector.end_turn_now(self.audio_time)
        return self._end_turn(ended.speech_end if ended else self.audio_time)

    # -- input from the driver ------------------------------------------------------------

    def on_score(self, at: float, probability: float) -> tuple[list[Action], list[Signal]]:
        """One VAD frame's score; may start or end a turn or ask the end-of-turn model."""
        actions: list[Action] = []
        signals: list[Signal] = []
        self._heard_until = at
        for event in self.detector.feed(at, probability):
            match event:
                case SpeechStarted(audio_from=audio_from):
                    self._turn_from = self._last_end if self._all_input else audio_from
                    self._scoring = self._pause_end = self._scored_end = self._done_at = None
                    self._interim_from, self._interim_busy = audio_from, False
                    signals.append(UserTurnStarted(event.at, event.onset,
                                                   self._next_turn_id))
                case PauseDetected():
                    actions += self._on_pause(event.speech_end)
                case SpeechEnded(speech_end=speech_end):
                    more_actions, more_signals = self._end_turn(speech_end)
                    actions += more_actions
                    signals += more_signals
        if self._done_at is not None:
            more_actions, more_signals = self._end_when_silent_enough()
            actions += more_actions
            signals += more_signals
        return actions + self._interim(at), signals

    def _interim(self, at: float) -> list[Action]:
        """While the user speaks: decode the turn so far, every ``interim_every`` s."""
        if (self._interim_every is None or self._turn_from is None or self._interim_busy
                or self._interim_from is None or not self.speaking
                or at - self._interim_from < self._interim_every):
            return []
        self._interim_from, self._interim_busy = at, True
        self._transcripts.append(_Transcript(self._next_turn_id, at, speaking=True))
        return [self._transcribe(self._next_turn_id, self._turn_from, at, "interim")]

    def _end_when_silent_enough(self) -> tuple[list[Action], list[Signal]]:
        """A pause judged "done" ends the turn once its silence has passed in it."""
        done_at = self._done_at
        if done_at is None or done_at != self._pause_end or not self._still_paused():
            self._done_at = None  # talking again: the verdict is about a pause that ended
            return [], []
        if self._heard_until - done_at < self._done_silence - 1e-9:
            return [], []
        return self._end_at_pause()

    def _on_pause(self, speech_end: float) -> list[Action]:
        if self._turn_from is None:
            return []
        self._pause_end = speech_end
        interim = self._transcript(self._next_turn_id, speech_end, speaking=True)
        if interim is not None:  # already asked for exactly this audio: it is the pause's
            interim.speaking, self._interim_busy = False, False
        if self._transcript(self._next_turn_id, speech_end) is None:
            self._transcripts.append(_Transcript(self._next_turn_id, speech_end))
            return [self._transcribe(self._next_turn_id, self._turn_from, speech_end,
                                     "partial")]
        return self._ask_end_of_turn()

    def _transcribe(self, turn_id: int, start: float, end: float,
                    kind: TranscriptKind) -> Transcribe:
        return Transcribe(turn_id, start, end, self._language, kind=kind, expected=self.expected,
                          languages=self._languages, prompt=self._context(),
                          prosody=self._prosody,
                          word_timings=self._word_timings and kind != "interim")

    def _transcript(self, turn_id: int, end: float, speaking: bool = False
                    ) -> _Transcript | None:
        """The transcript asked for turn ``turn_id``'s audio up to ``end`` (at a pause or
        the turn's end; ``speaking``: while the user spoke), if any."""
        return next((t for t in self._transcripts if t.turn_id == turn_id and t.end == end
                     and t.speaking == speaking), None)

    def _ask_end_of_turn(self) -> list[Action]:
        """Ask the end-of-turn model about the latest pause, once, when its words are
        back and could end a sentence (see the module doc)."""
        end = self._pause_end
        if (not self._semantic or end is None or self._turn_from is None
                or self._scoring is not None or self._scored_end == end
                or not self._still_paused()):
            return []
        words = self._transcript(self._next_turn_id, end)
        text = words.text if words is not None else None
        if text is None or not text.strip():
            return []  # not back yet, or no words at all: the silence window decides
        if sounds_unfinished(text):
            return []  # "…a pizza and": not over, whatever the prosody would say
        self._scoring, self._scored_end = self._next_turn_id, end
        return [ScoreEndOfTurn(self._next_turn_id, self._turn_from, end)]

    def on_transcript(self, heard: TranscriptReady) -> tuple[list[Action], list[Signal]]:
        """A transcript came back; signals the turn's final text when it is the one,
        or what was said so far, and asks the end-of-turn model if the words allow."""
        turn_id, end, text = heard.turn_id, heard.end, heard.text
        transcript = self._transcript(turn_id, end) or self._transcript(turn_id, end, True)
        if transcript is None:
            return [], []  # stale
        transcript.text, transcript.language = text, heard.language
        transcript.prosody, transcript.start = heard.prosody, heard.start
        transcript.words = heard.words
        if transcript.speaking:
            self._transcripts.remove(transcript)
            if turn_id != self._next_turn_id or self._turn_from is None:
                return [], []  # the turn has ended: its own transcript is the one
            self._interim_busy = False
            said: list[Signal] = []
            if text.strip():
                said.append(TurnHeardSoFar(turn_id, text.strip(), speaking=True,
                                           start=heard.start, end=end))
            return [], said
        if transcript.final:
            self._forget(turn_id)
            return [], [transcript.turn()]
        if turn_id != self._next_turn_id or self._turn_from is None:
            return [], []  # for a turn that has ended: kept until it is used
        signals: list[Signal] = []
        if text.strip():  # a partial result of the turn in progress
            signals.append(TurnHeardSoFar(turn_id, text.strip(), prosody=heard.prosody,
                                          start=heard.start, end=end))
        return self._ask_end_of_turn(), signals

    def _forget(self, turn_id: int) -> None:
        self._transcripts = [t for t in self._transcripts if t.turn_id > turn_id]

    def on_end_of_turn_score(self, turn_id: int, probability: float
                             ) -> tuple[list[Action], list[Signal]]:
        """The end-of-turn model's answer for the pause it was asked about."""
        if turn_id != self._scoring:
            return [], []
        self._scoring = None
        if (probability >= END_OF_TURN_THRESHOLD and self._scored_end == self._pause_end
                and self._still_paused()):
            self._done_at = self._pause_end
            self._done_silence = self._silence_for(self._scored_end, probability)
            return self._end_when_silent_enough()
        # mid-sentence, or talking again: the silence window decides, unless a later
        # pause is waiting for its own check
        return self._ask_end_of_turn(), []

    def _silence_for(self, end: float | None, probability: float) -> float:
        """How long the pause at ``end``, judged "done" with ``probability``, must last."""
        words = self._transcript(self._next_turn_id, end) if end is not None else None
        if (probability >= CONFIDENT_END_OF_TURN and words is not None
                and words.text is not None and closes_sentence(words.text)):
            return SHORT_END_SILENCE
        return MIN_END_SILENCE

    def _still_paused(self) -> bool:
        """The user is still silent after the pause a decision is about."""
        return self.detector.state is ActivityState.SILENCE

    def _end_at_pause(self) -> tuple[list[Action], list[Signal]]:
        ended = self.detector.end_turn_now(self.audio_time)
        return self._end_turn(ended.speech_end if ended else self.audio_time)

    # -- turn end -----------------------------------------------------------------------------

    def _end_turn(self, speech_end: float) -> tuple[list[Action], list[Signal]]:
        start = self._turn_from
        self._turn_from = None
        self._scoring = self._pause_end = self._scored_end = self._done_at = None
        if start is None:
            return [], []
        if speech_end <= start:  # every started turn is said to end, even with nothing in it
            return [], [UserTurnEnded(self._next_turn_id, speech_end, empty=True)]
        self._last_end = speech_end
        turn_id = self._next_turn_id
        self._next_turn_id += 1
        signals: list[Signal] = [UserTurnEnded(turn_id, speech_end)]
        ready = self._transcript(turn_id, speech_end)
        if ready is not None and ready.text is not None:
            self._forget(turn_id)
            return [], [*signals, ready.turn()]
        self._transcripts = [t for t in self._transcripts if t.turn_id != turn_id]
        self._transcripts.append(_Transcript(turn_id, speech_end, final=True))
        actions: list[Action] = []
        if ready is None:  # nothing speculative to wait for: transcribe now
            actions.append(self._transcribe(turn_id, start, speech_end, "final"))
        return actions, signals
