"""The model's side of a conversation: starting, continuing and ending its turns.

Pure. Theory of operation: a complete user turn (or a function result that waited)
starts a :class:`~openlive.session.turn.Turn`: ``StartGeneration`` with the history,
and a :class:`~openlive.session.speaking.Reply` that sends the text at once or has it
spoken and paces the audio. When everything is out, ``generationComplete``, then
``turnComplete`` with the turn's usage, and the model's words join the history. A
generation that asks for function calls opens a round (:mod:`~openlive.session.calling`):
once its reply is out the turn waits (AWAITING_TOOLS) for every blocking call's
response, then the model goes on in the same turn. Interrupting a turn cancels the
engines working on it and its open calls, sends ``interrupted`` and ``turnComplete``,
and keeps in the history only what the client got.

Under NO_INTERRUPTION a user turn that completes while the model is busy is queued
(the state table's GENERATING_QUEUED...) in :attr:`Responder.next`, with the input it
brought; it starts when the model's turn ends. The answer prepared during a user's
pause (:mod:`~openlive.session.ahead`) is adopted here as a turn's reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from openlive.audio.prosody import Prosody
from openlive.catalog.languages import live_language
from openlive.chat import ChatMessage, GenerationRequest, SpokenReply, ToolSpec
from openlive.errors import InvalidArgument
from openlive.protocol.server import ServerContent, ServerMessage
from openlive.protocol.types import Content, Part
from openlive.session.actions import (
    Action,
    CancelGeneration,
    InterruptCause,
    JudgeRelevance,
    PlaybackFlushed,
    Prefill,
    Send,
    StartGeneration,
    TurnComplete,
)
from openlive.session.affect import NEUTRAL, Affect, ToneEstimate, Treatment, treatment
from openlive.session.ahead import AheadReply
from openlive.session.bargein import BargeInJudge
from openlive.session.calling import Answered, Calling
from openlive.session.config import SessionConfig
from openlive.session.events import GenerationFinished, GenerationToolCalls, RelevanceJudged
from openlive.session.history import History
from openlive.session.relevance import DECLINED_REASON, answers
from openlive.session.seeing import Sight
from openlive.session.speaking import OutputClock, Reply, Voicing
from openlive.session.state import AWAITING, QUIET, State, StateMachine, Trigger
from openlive.session.tools import Answer, Toolbox
from openlive.session.turn import Turn
from openlive.session.usage import Usage


def thought_message(text: str) -> Send:
    """A piece of the model's thinking, as the Live API sends it: a ``thought`` part."""
    part = Part(text=text, thought=True)
    return Send(ServerMessage(server_content=ServerContent(
        model_turn=Content(role="model", parts=[part]))))


class Responder:
    """Runs the model's turns of one conversation (see the module docstring).

    ``snapshot`` returns the actions that save a resumption snapshot (none when the
    client did not ask for them); ``user_speaking`` says whether the user is speaking,
    ``spoken_language`` which language they have been heard speaking (if known).
    """

    def __init__(self, machine: StateMachine, config: SessionConfig, history: History,
                 calling: Calling, *, context_window: int, sight: Sight,
                 speech_languages: frozenset[str] | None = None,
                 snapshot: Callable[[], list[Action]],
                 user_speaking: Callable[[], bool],
                 spoken_language: Callable[[], str | None] = lambda: None,
                 prefill: bool = False) -> None:
        self._machine = machine
        self._config = config
        self.history = history
        self.calling = calling
        # token counts: each turn's, and the context's size
        self.usage = Usage(audio_reply=config.modality == "AUDIO",
                           image_tokens=config.image_tokens)
        self.barge = BargeInJudge()
        self.toolbox: Toolbox = config.tools  # a contextUpdate may replace them
        self.instruction: str | None = config.system_instruction
        self.turn: Turn | None = None  # the model's turn in flight (the state is BUSY)
        self.next: Turn | None = None  # a user turn queued behind it (NO_INTERRUPTION)
        self.ahead: AheadReply | None = None  # answered during the user's pause, held
        self._context_window = context_window
        self._sight = sight
        self._snapshot = snapshot
        self._user_speaking = user_speaking
        self._next_generation_id = 1
        # the output audio sent in this session: where outputTranscription offsets count
        # from (outputAudioTranscription.wordTimestamp)
        self.output_clock = OutputClock()
        # the language the user speaks, once heard (no languageCode): the reply is
        # spoken in it where a voice of ``speech_languages`` can
        self._spoken_language = spoken_language
        self._speech_languages = speech_languages
        self._prefill = prefill  # the model can evaluate a prompt ahead of its request
        # affective dialog: the tone of the user's latest turn, which the replies that
        # follow adapt to (None: not asked for, or nothing heard yet)
        self._affect = Affect() if config.affective_dialog else None
        self.tone: ToneEstimate | None = None
        # the user's words of the last turn the model chose not to answer (proactive audio)
        self._declined: str | None = None

    @property
    def reply(self) -> Reply | None:
        """The reply going out now, if any."""
        return self.turn.reply if self.turn is not None else None

    def current(self, generation_id: int) -> Reply | None:
        """The reply going out, if it is generation ``generation_id``."""
        return self.turn.current(generation_id) if self.turn is not None else None

    def hear_tone(self, text: str, prosody: Prosody | None, *, settle: bool = False) -> None:
        """Judge the tone of the user's words ``text``, said as ``prosody`` (None: typed),
        for the replies that follow; ``settle``: their turn is over, and its manner joins
        the user's own reference. Nothing happens without affective dialog."""
        if self._affect is None:
            return
        self.tone = self._affect.judge(prosody, text)
        if settle:
            self._affect.settle(prosody, text)

    def _treatment(self) -> Treatment:
        return treatment(self.tone.tone if self.tone is not None else NEUTRAL)

    def held_input(self) -> bool:
        """Whether input waits for a queued turn."""
        return self.next is not None and bool(self.next.held_input)

    # -- starting a turn ------------------------------------------------------------------

    def add_input(self, message: ChatMessage) -> None:
        """A user message: into the history, or held for the queued turn when busy."""
        if message.role == "user":
            frame = self._sight.take()  # what the camera showed as the user spoke
            if frame:
                message = replace(message, images=message.images + frame)
            self.usage.saw(len(message.images))
        if self._machine.busy:
            self._queued().held_input.append(message)
        else:
            self.history.append(message)

    def user_turn_complete(self) -> list[Action]:
        """The user's turn is complete: answer it, or after this one (NO_INTERRUPTION)."""
        if self._machine.busy:
            self._queued().from_user = True
            self._machine.move(Trigger.TURN_QUEUED)
            return []
        self._queued().from_user = True
        return self.start()

    def _queued(self) -> Turn:
        if self.next is None:
            self.next = Turn()
        return self.next

    def start(self) -> list[Action]:
        """A new model turn: for the user's turn, or to tell a function's result. Under
        proactive audio a user's turn is judged first (:mod:`.relevance`)."""
        actions = self.drop_ahead()
        turn = self._begin()
        # without a system instruction nothing is off topic: every turn is answered
        if turn.from_user and self._config.proactive_audio and self.instruction:
            return actions + self._judge(turn)
        return actions + self._generate()

    def _judge(self, turn: Turn) -> list[Action]:
        """Ask whether the user's words are for the model before answering them."""
        turn.judging = self._next_generation_id
        self._next_generation_id += 1
        request = self.request(self._judged_messages(), self.toolbox.specs)
        return [JudgeRelevance(turn.judging, self._config.backend, request)]

    def _judged_messages(self) -> tuple[ChatMessage, ...]:
        """The conversation to judge, its last message only the words of this turn: the
        history joins them to words the model declined before, which are context here
        (an aside must not drown the question that follows it)."""
        messages = self.history.messages(self.instruction)
        last, declined = (messages[-1] if messages else None), self._declined
        if (last is not None and last.role == "user" and declined
                and last.content.startswith(declined + "\n")):
            words = last.content[len(declined) + 1:]
            messages = (*messages[:-1], replace(last, content=declined),
                        replace(last, content=words))
        return messages

    def on_relevance(self, event: RelevanceJudged) -> list[Action]:
        """The model judged the user's words: answer them, or end the turn silently."""
        turn = self.turn
        if turn is None or turn.judging != event.judge_id:
            return []
        turn.judging = None
        self.usage.count(GenerationFinished(event.judge_id, event.prompt_tokens, 0))
        if answers(event.probability):
            self._declined = None
            return self._generate()
        turns = self.history.turns()
        self._declined = turns[-1].content if turns and turns[-1].role == "user" else None
        self._machine.move(Trigger.GENERATION_ENDED)
        self._end(None)
        return self._complete(DECLINED_REASON, waiting_for_input=True)

    def drop_ahead(self) -> list[Action]:
        """Cancel the answer prepared ahead, if any; none of it was sent."""
        ahead, self.ahead = self.ahead, None
        return ahead.cancel() if ahead is not None else []

    def _begin(self) -> Turn:
        """The history and counters of a new model turn; the session starts generating."""
        turn, self.next = self.next or Turn(), None
        for message in turn.held_input:
            self.history.append(message)
        turn.held_input.clear()
        # compress the history, or end the session when it no longer fits the model
        self.usage.fit(self.history, self._config.compression, self._context_window)
        self.calling.new_turn()
        self.usage.new_turn()
        self.turn = turn
        self._machine.move(Trigger.GENERATION_STARTED)
        return turn

    def _generate(self) -> list[Action]:
        """One generation of the current turn (the first, or one after function results)."""
        turn = self.turn
        assert turn is not None
        turn.reply = self.new_reply(follows_words=turn.said)
        # past the round limit the model must answer with what it has
        tools = self.calling.tools(turn, self.toolbox)
        request = self.request(self.history.messages(self.instruction), tools)
        return [StartGeneration(turn.reply.generation_id, self._config.backend, request)]

    def new_reply(self, *, follows_words: bool) -> Reply:
        """A reply for the next generation, spoken in AUDIO sessions."""
        config = self._config
        voicing = None
        if config.modality == "AUDIO":
            language = config.language or self._voice_language()
            voicing = Voicing(config.voice, language, config.output_transcription,
                              time_output=config.output_word_timestamp,
                              delivery=self._treatment().delivery)
        reply = Reply(self._next_generation_id, voicing, follows_words=follows_words,
                      clock=self.output_clock)
        self._next_generation_id += 1
        return reply

    def _voice_language(self) -> str | None:
        """The languageCode to answer the user in, when they speak another language than
        English and a voice of this server speaks it (English stays the voice's own)."""
        spoken, languages = self._spoken_language(), self._speech_languages
        if spoken is None or spoken == "en" or not languages:
            return None
        try:
            code = live_language(spoken).code
        except InvalidArgument:
            return None
        return code if code in languages else None

    def request(self, messages: tuple[ChatMessage, ...],
                tools: tuple[ToolSpec, ...]) -> GenerationRequest:
        """What to ask the model, with the session's sampling settings; in an AUDIO
        session, a spoken reply in the user's language, bounded, and (affective dialog)
        told how the user sounded."""
        config = self._config
        spoken = None
        if config.modality == "AUDIO":
            spoken = SpokenReply(config.language or self._spoken_language(),
                                 config.spoken_bound, self._treatment().note)
        return GenerationRequest(messages=messages, sampling=config.sampling, tools=tools,
                                 spoken=spoken, thinking_budget=config.thinking.budget)

    def prefill(self, words: str | None = None) -> list[Action]:
        """Have the model evaluate the conversation so far (and the user's ``words`` of
        the turn in progress) now, while nothing else needs it, so that the answer only
        evaluates what comes after: the rest of the user's words and the turn's close."""
        if not self._prefill or self._machine.state is not State.IDLE or self.ahead:
            return []
        if words:
            request = self.request_with(ChatMessage("user", words, images=self._sight.peek()))
        else:
            request = self.request(self.history.messages(self.instruction), self.toolbox.specs)
        return [Prefill(self._config.backend, request)]

    def request_with(self, message: ChatMessage) -> GenerationRequest:
        """What the model would be asked once the user's ``message`` is in the history
        (an answer ahead, a prefill of the words so far)."""
        return self.request(self.history.messages_with(self.instruction, message),
                            self.toolbox.specs)

    def adopt(self, now: float) -> list[Action]:
        """The user's turn ended where the answer ahead answered it: its reply is this
        turn's, and what of it is ready goes out."""
        ahead, self.ahead = self.ahead, None
        assert ahead is not None
        self._sight.take()  # the answer saw it (peeked)
        self.usage.saw(len(ahead.message.images))
        self.history.append(ahead.message)
        turn = self._begin()
        turn.reply = ahead.reply
        actions = ahead.reply.resume(now)
        if ahead.calls is not None:
            actions += self.on_tool_calls(ahead.calls)
        if ahead.malformed:
            turn.reason = "MALFORMED_FUNCTION_CALL"
        if ahead.finished is not None:
            self.usage.count(ahead.finished)
        if self._config.thinking.include_thoughts and ahead.thoughts:
            actions = [thought_message("".join(ahead.thoughts)), *actions]
        return actions + self.maybe_complete(now)

    # -- the reply's progress -------------------------------------------------------------

    def on_thought(self, generation_id: int, text: str) -> list[Action]:
        """The model's reasoning before its answer: a ``thought`` part when the client
        asked for them (includeThoughts); never spoken, transcribed or kept in history."""
        if not self._config.thinking.include_thoughts or not text:
            return []
        if self.current(generation_id) is None:
            return []
        return [thought_message(text)]

    def on_finished(self, event: GenerationFinished, now: float) -> list[Action]:
        reply = self.current(event.generation_id)
        if reply is None:
            return []
        self.usage.count(event)
        return reply.on_llm_finished() + self.maybe_complete(now)

    def on_malformed_call(self, generation_id: int) -> None:
        if self.turn is not None and self.current(generation_id) is not None:
            self.turn.reason = "MALFORMED_FUNCTION_CALL"

    def maybe_complete(self, now: float) -> list[Action]:
        """Once everything of the reply is out: go on after its calls, or end the turn."""
        turn = self.turn
        reply = turn.reply if turn is not None else None
        if turn is None or reply is None or not reply.complete:
            return []
        turn.reply = None
        self.usage.spoke(reply.audio_seconds_sent)
        actions: list[Action] = reply.flush_words() if reply.voicing else []
        round_ = turn.round
        if round_ is not None:
            round_.said = reply.delivered_text()
            turn.said = turn.said or bool(round_.said)
            if not round_.waiting:
                return actions + self._continue_after_round()
            self._machine.move(Trigger.TOOLS_CALLED)
            return actions + self._snapshot()  # the client may answer on a new connection
        self._machine.move(Trigger.GENERATION_ENDED)
        self._end(reply)
        actions.append(
            Send(ServerMessage(server_content=ServerContent(generation_complete=True))))
        return actions + self._complete(turn.reason)

    def _complete(self, reason: str | None, *, waiting_for_input: bool = False
                  ) -> list[Action]:
        """A model turn ended (``reason``: turnCompleteReason): its turnComplete, then the
        queued user turn, or the session rests."""
        usage = self.usage.end_turn()
        if self._machine.state is State.TURN_PENDING:
            # the queued user turn is answered at once: more output follows
            return [TurnComplete(reason, usage, "IN_PROGRESS", waiting_for_input),
                    *self.start()]
        # The snapshot that holds this turn goes out before its turnComplete: a client
        # that reads up to turnComplete and reconnects with the newest handle it saw
        # resumes with the turn (the driver holds later output until it is saved).
        actions = self._snapshot()
        after = self.tell_pending_result()
        actions.append(TurnComplete(reason, usage, "IN_PROGRESS" if after else "IDLE",
                                    waiting_for_input))
        # The history now holds the reply as delivered (spoken pieces, not the model's
        # own tokens): evaluate it while the user thinks, not after their next words.
        return actions + after + self.prefill()

    def _end(self, reply: Reply | None) -> None:
        """The turn is over: what the client got of ``reply`` joins the history."""
        turn, self.turn = self.turn, None
        text = reply.delivered_text() if reply is not None else ""
        if text:
            self.history.append(ChatMessage("assistant", text))
        if turn is not None:
            self.calling.release(turn)

    def stop_reply(self) -> list[Action]:
        """Cancel the engines working on the current reply (or judging the turn), if any."""
        if self.turn is not None and self.turn.judging is not None:
            judge, self.turn.judging = self.turn.judging, None
            return [CancelGeneration(judge)]
        if self.turn is None or self.turn.reply is None:
            return []
        reply, self.turn.reply = self.turn.reply, None
        return reply.cancel()

    def interrupt(self, cause: InterruptCause, cancel_calls: bool = True) -> list[Action]:
        """Stop the turn in flight, keeping in history only what the client got.

        The calls of the turn's open round are cancelled (``toolCallCancellation``),
        unless ``cancel_calls`` is False (a function result, not the user, interrupts).
        ``cause`` says what interrupted it, for the operator's metrics.
        """
        self.barge.forget()
        turn = self.turn
        if not self._machine.busy or turn is None:
            return []
        reply = turn.reply
        actions = self.stop_reply()
        self._machine.move(Trigger.INTERRUPTED)
        if turn.round is not None:
            said = reply.delivered_text() if reply is not None else None
            actions += self.calling.interrupt(turn, said, cancel=cancel_calls)
            self.turn = None
        else:
            self._end(reply)
        return actions + [PlaybackFlushed(cause), TurnComplete()]

    # -- function calls -------------------------------------------------------------------

    def on_tool_calls(self, event: GenerationToolCalls) -> list[Action]:
        if self.turn is None or self.current(event.generation_id) is None or not event.calls:
            return []
        return self.calling.open_round(self.turn, event.calls, self.toolbox)

    def on_answer(self, answer: Answer) -> list[Action]:
        """A function's result, from the client or a server-side tool: do as it asks."""
        match self.calling.take(answer, self.turn):
            case Answered.ROUND_WAITS:
                return []
            case Answered.ROUND_DONE:  # unless the reply that made the calls is going out
                if self._machine.state in AWAITING:
                    return self._continue_after_round()
                return []
            case Answered.SILENT:
                return self._snapshot() if self._machine.state in QUIET else []
            case Answered.INTERRUPT:
                return self.interrupt("function_result", cancel_calls=False) + self.start()
            case Answered.WHEN_IDLE:
                return self.tell_pending_result()

    def tell_pending_result(self) -> list[Action]:
        """Speak of a function result that waited, once the model and the user are quiet."""
        if not self.calling.result_pending or self._machine.state not in QUIET:
            return []
        if self._user_speaking():
            return []  # the user's turn will see the result in the history
        return self.start()

    def _continue_after_round(self) -> list[Action]:
        """Every blocking call of the round is answered: the model goes on."""
        assert self.turn is not None
        self.calling.close_round(self.turn)
        self._machine.move(Trigger.TOOLS_ANSWERED)
        return self._generate()
