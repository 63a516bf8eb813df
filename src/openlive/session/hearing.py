"""What the conversation does with what it hears: user turns, barge-in, answering ahead.

Pure. :mod:`~openlive.session.listening` turns audio and activity signals into user
turns (``UserTurnEnded``, ``TurnHeardSoFar``, ``TurnTranscribed``...); this module
decides what each means for the conversation: the transcript goes to the client
(``inputTranscription``, revisable ``interimInputTranscription``; with
``wordTimestamp``, timed in the session's input audio: :func:`timed_transcription`), a
final transcript becomes a user turn for the
:class:`~openlive.session.responder.Responder`, speech over the reply is judged by
:mod:`~openlive.session.bargein` (pause it, let it go on, or interrupt it), and at each
pause the words so far may be answered ahead (:mod:`~openlive.session.ahead`), held
until the turn ends there. Where the user starts and stops speaking goes to the
client as ``voiceActivity`` (:mod:`~openlive.session.voice_activity`).
"""

from __future__ import annotations

from dataclasses import replace

from openlive.audio.prosody import Prosody
from openlive.audio.words import TimedWord
from openlive.chat import ChatMessage
from openlive.errors import PolicyViolation
from openlive.protocol.server import (
    ServerContent,
    ServerMessage,
    Transcription,
    WordInfo,
    duration,
)
from openlive.protocol.types import Blob
from openlive.session.actions import Action, EndOfTurn, Send, StartGeneration
from openlive.session.agreement import LocalAgreement, join, words_of
from openlive.session.ahead import AheadReply
from openlive.session.bargein import ECHO_REPLAYED, ECHO_THRESHOLD
from openlive.session.config import SessionConfig
from openlive.session.events import EndOfTurnScored, SpeechScored, TranscriptReady
from openlive.session.listening import (
    Listening,
    Signal,
    TurnHeardSoFar,
    TurnTranscribed,
    UserTurnEnded,
)
from openlive.session.responder import Responder
from openlive.session.seeing import Sight
from openlive.session.state import State, StateMachine
from openlive.session.voice_activity import VoiceActivityReport


class Hearing:
    """The listening half of a conversation (see the module docstring).

    ``listening`` is None when the server has no speech recognition: audio is then
    refused (1008). ``answer_ahead``: the server answers during pauses.
    """

    def __init__(self, machine: StateMachine, config: SessionConfig,
                 listening: Listening | None, responder: Responder, sight: Sight, *,
                 answer_ahead: bool, context_window: int) -> None:
        self._machine = machine
        self._config = config
        self._listening = listening
        self._responder = responder
        self._sight = sight
        self._ahead_allowed = answer_ahead
        self._context_window = context_window
        # the words of the turn in progress that repeated decodes agree on, while the
        # user speaks (LocalAgreement-2: docs/asr.md "Recognizing while the user speaks")
        self._agreement = LocalAgreement(2)
        # voiceActivity: only where the server detects activity (not under manual)
        self._activity = VoiceActivityReport(listening is not None and not listening.manual)

    @property
    def speaking(self) -> bool:
        """The user is speaking now."""
        return self._listening is not None and self._listening.speaking

    @property
    def language(self) -> str | None:
        """The language the user has been heard speaking (no languageCode), if any."""
        return self._listening.expected if self._listening is not None else None

    def _ears(self) -> Listening:
        if self._listening is None:
            raise PolicyViolation(
                "Audio input needs speech recognition; this server has none configured."
            )
        return self._listening

    # -- input --------------------------------------------------------------------------

    def on_audio(self, blob: Blob) -> list[Action]:
        return self._ears().on_audio(blob)

    @property
    def audio_seconds(self) -> float:
        """Seconds of the client's audio received so far."""
        return self._listening.audio_time if self._listening is not None else 0.0

    def on_activity_start(self, now: float) -> list[Action]:
        return self._listen(*self._ears().on_activity_start(), now)

    def on_activity_end(self, now: float) -> list[Action]:
        return self._listen(*self._ears().on_activity_end(), now)

    def on_stream_end(self, now: float) -> list[Action]:
        if self._listening is None:
            return []
        return self._listen(*self._listening.on_stream_end(), now)

    def on_score(self, event: SpeechScored, now: float) -> list[Action]:
        # The model's own voice coming back is not the user speaking.
        probability = 0.0 if event.echo >= ECHO_THRESHOLD else event.probability
        actions = self._listen(*self._ears().on_score(event.at, probability), now)
        if self._responder.ahead is not None and self.speaking:
            actions += self._responder.drop_ahead()  # only a pause: the user goes on
        return actions + self._judge_barge_in(event.at, now)

    def on_end_of_turn_score(self, event: EndOfTurnScored, now: float) -> list[Action]:
        ears = self._ears()
        return self._listen(*ears.on_end_of_turn_score(event.turn_id, event.probability), now)

    def on_transcript(self, event: TranscriptReady, now: float) -> list[Action]:
        barge, responder = self._responder.barge, self._responder
        if event.echo >= ECHO_REPLAYED:
            # the model's own voice came back before the echo guard caught it: no words
            # of the user's, whatever the recognizer made of them
            event = replace(event, text="", words=())
        if barge.is_check(event.turn_id):  # not a user turn: is it an interruption?
            actions, interrupted = barge.on_words(event.turn_id, event.text,
                                                  responder.reply, now)
            if not interrupted:
                return actions + responder.maybe_complete(now)  # resumed: maybe all sent
            # the user's words: where they started goes out before the interruption
            return [*self._activity.release_all(), *responder.interrupt("speech")]
        actions, signals = self._ears().on_transcript(event)
        return self._listen(actions, signals, now)

    # -- what the signals mean ------------------------------------------------------------

    def _listen(self, actions: list[Action], signals: list[Signal], now: float) -> list[Action]:
        for signal in signals:
            if isinstance(signal, UserTurnEnded):
                actions += self._activity.ended(signal.turn_id, signal.speech_end,
                                                heard=not signal.empty)
                if not signal.empty:
                    actions.append(EndOfTurn(signal.speech_end))
                continue
            if isinstance(signal, TurnTranscribed):
                self._heard_language(signal)
                actions += self._on_user_words(signal, now)
                continue
            if isinstance(signal, TurnHeardSoFar) and signal.speaking:
                actions += self._heard_while_speaking(signal)
                continue
            if isinstance(signal, TurnHeardSoFar):
                if self._config.input_transcription:
                    # revisable, unlike inputTranscription, whose pieces clients append
                    interim = self._transcription(signal.text, signal.start, signal.end)
                    actions.append(Send(ServerMessage(server_content=ServerContent(
                        interim_input_transcription=interim))))
                actions += self._answer_ahead(signal.text, now, signal.prosody)
                continue
            self._agreement = LocalAgreement(2)  # UserTurnStarted: a new utterance
            reply = self._responder.reply
            judged = self._config.interrupt_on_activity and reply is not None
            actions += self._activity.started(signal.turn_id, signal.onset, held=judged)
            if not self._config.interrupt_on_activity:
                continue
            if self._ears().manual:
                # the client said so
                actions = self._responder.interrupt("activity_start") + actions
            elif reply is not None:
                actions += self._responder.barge.start(signal.at, reply, now)  # pause, judge
        return actions

    def _heard_language(self, turn: TurnTranscribed) -> None:
        """A user turn was heard in ``turn.language``: with no languageCode, the session's
        language sticks to it. The recognizer is then told to expect it, and leaves it
        only for another language it is sure of (engines/asr/whisper.py LanguageRule),
        so one unsure detection neither sets nor changes it back and forth."""
        if self._config.language or not turn.text.strip() or not turn.language:
            return
        if self._listening is not None:
            self._listening.expected = turn.language

    def _judge_barge_in(self, at: float, now: float) -> list[Action]:
        actions = self._responder.barge.on_score(at, now, self._responder.reply,
                                                 speaking=self.speaking,
                                                 language=self._config.language,
                                                 expected=self.language)
        if actions:  # it resumed the reply (a click): what was held may have been the last
            actions += self._responder.maybe_complete(now)
        return actions

    def _transcription(self, text: str, start: float, end: float,
                       words: tuple[TimedWord, ...] = (), finished: bool | None = None
                       ) -> Transcription:
        """A transcript for the client, timed when the session asked (``wordTimestamp``)."""
        if not self._config.input_word_timestamp:
            return Transcription(text=text, finished=finished)
        return timed_transcription(text, start, end, words, finished)

    def _on_user_words(self, turn: TurnTranscribed, now: float) -> list[Action]:
        """The final transcript of a user turn (said as ``turn.prosody``, when measured):
        answer it, unless it is not for us."""
        responder = self._responder
        text, prosody = turn.text.strip(), turn.prosody
        actions: list[Action] = []
        if self._config.input_transcription and text:
            heard = self._transcription(text, turn.start, turn.end, turn.words, finished=True)
            actions.append(Send(ServerMessage(server_content=ServerContent(
                input_transcription=heard))))
        resumed, kept = responder.barge.on_user_turn(text, responder.reply, now)
        if kept or not text:
            self._activity.drop(turn.turn_id)  # not the user's turn: the client is not told
        if kept:  # "mm-hm" while the model speaks: it keeps the floor
            # the rest of the reply went out as it resumed: that may have been all of it
            return actions + resumed + responder.maybe_complete(now)
        if not text:
            # noise or silence: no turn to answer, but a function result may be waiting
            return actions + responder.drop_ahead() + responder.tell_pending_result()
        if self._config.interrupt_on_activity:
            actions = responder.interrupt("speech") + actions
        # the user's turn: where it started and ended goes out before what it causes
        actions = self._activity.release(turn.turn_id) + actions
        responder.hear_tone(text, prosody, settle=True)
        ahead = responder.ahead
        if ahead is not None and ahead.answers(text) and self._may_answer_ahead():
            return actions + responder.adopt(now)
        actions += responder.drop_ahead()
        responder.add_input(ChatMessage("user", text))
        return actions + responder.user_turn_complete()

    def _heard_while_speaking(self, decoded: TurnHeardSoFar) -> list[Action]:
        """A decode of the turn so far, the user still talking: the words two decodes
        agree on are settled; the client sees them and the rest as the interim
        transcript, and the language model evaluates the settled words already."""
        before = (self._agreement.text, self._agreement.tail)
        update = self._agreement.update(words_of(decoded.text))
        actions: list[Action] = []
        if self._config.input_transcription and (self._agreement.text, update.tail) != before:
            heard = join((*self._agreement.committed, *update.tail))
            interim = self._transcription(heard, decoded.start, decoded.end)
            actions.append(Send(ServerMessage(server_content=ServerContent(
                interim_input_transcription=interim))))
        if update.committed:
            actions += self._responder.prefill(self._agreement.text)
        return actions

    # -- answering ahead (ahead.py) -------------------------------------------------------

    def _may_answer_ahead(self) -> bool:
        """Idle, with nothing waiting that a new turn would add, and room in the context."""
        responder = self._responder
        # under proactive audio a turn is judged before it is answered: no answer ahead
        if (not self._ahead_allowed or self._config.modality != "AUDIO"
                or self._config.proactive_audio
                or self._machine.state is not State.IDLE or responder.held_input()):
            return False
        return responder.usage.fits(responder.history, self._config.compression,
                                    self._context_window)

    def _answer_ahead(self, text: str, now: float, prosody: Prosody | None = None
                      ) -> list[Action]:
        """The user paused after ``text`` (said as ``prosody``, when measured): answer it
        now, held until the turn ends here."""
        responder = self._responder
        if not self._may_answer_ahead():
            return responder.drop_ahead()
        if responder.ahead is not None and responder.ahead.answers(text):
            return []  # the same words at a later pause: that answer stands
        actions = responder.drop_ahead()
        responder.hear_tone(text, prosody)
        message = ChatMessage("user", text, images=self._sight.peek())
        reply = responder.new_reply(follows_words=False)
        reply.pause(now)  # nothing goes out until the turn ends at this pause
        responder.ahead = AheadReply(message, reply)
        request = responder.request_with(message)
        return actions + [StartGeneration(reply.generation_id, self._config.backend, request,
                                          speculative=True)]


def timed_transcription(text: str, start: float, end: float, words: tuple[TimedWord, ...],
                        finished: bool | None = None) -> Transcription:
    """A transcript with its offsets in the session's input audio (seconds of user audio
    received since the session began): each word's, when the recognizer timed them,
    and the transcript's own, from its first word's start to its last word's end, or
    without words the audio it was recognized from (the speech the VAD found, with its
    pre-roll: less precise)."""
    if words:
        start, end = words[0].start, words[-1].end
    return Transcription(
        text=text, finished=finished,
        words=[WordInfo(word=w.word, start_offset=duration(w.start),
                        end_offset=duration(w.end)) for w in words] or None,
        start_offset=duration(start), end_offset=duration(end))
