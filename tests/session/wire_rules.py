"""The rules a session's output must keep, checked on :func:`~tests.session.observe.observe`
views only, so that they hold across refactorings of the session's insides.

:class:`WireRules` reads, in order, every action list a session returned (with the event
that caused it) and raises :class:`RuleBroken` at the first rule broken. It also keeps
what the session asked of its engines and client (generations, syntheses,
transcriptions, function calls, timers), which the fuzzer answers.

How turns are told apart without looking inside the session: a ``StartGeneration`` while
no turn is open is a *candidate*. It is a real turn once anything of a model turn goes
out, or once another generation follows it (a continuation after server-side calls). It
was an answer prepared ahead (``ahead.py``) and dropped when it is cancelled with no
``interrupted`` in the same action list. Within an open turn a ``StartGeneration`` is the
model going on after function results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.session.observe import JSON

#: serverContent fields that are the model's output (not the user's transcription).
MODEL_OUTPUT = ("modelTurn", "outputTranscription", "generationComplete", "interrupted")
#: 1011 closes that are not the session's own bug, by what caused them.
EXPECTED_INTERNAL = ("GenerationFailed", "SynthesisFailed", "TranscriptionFailed")
OUTGREW = "outgrew the model's context window"


class RuleBroken(AssertionError):
    """The session's output broke one of the rules."""


@dataclass
class Requests:
    """What the session asked for and was not answered yet (the fuzzer answers these)."""

    generations: dict[int, bool] = field(default_factory=dict)  # id -> finished
    pieces: dict[tuple[int, int], str] = field(default_factory=dict)  # (gid, piece) -> text
    synthesis_ends: set[int] = field(default_factory=set)  # EndSynthesis not yet drained
    transcriptions: dict[int, float] = field(default_factory=dict)  # turn id -> end
    end_of_turn: set[int] = field(default_factory=set)  # turn ids with a pending score
    server_calls: set[str] = field(default_factory=set)  # RunServerTool not finished
    client_calls: dict[str, str] = field(default_factory=dict)  # toolCall id -> name
    wake_at: dict[str, float] = field(default_factory=dict)  # timer key -> time
    snapshots: int = 0  # SaveSnapshot actions not yet answered with SnapshotSaved


@dataclass
class WireRules:
    """Checks one session's action lists as they come; see the module doc."""

    non_blocking: frozenset[str] = frozenset()  # functions declared NON_BLOCKING
    asked: Requests = field(default_factory=Requests)
    closed: bool = False
    candidate: int | None = None  # a generation started with no turn open
    turn_open: bool = False
    live: int | None = None  # the generation whose output may go out now
    started: set[int] = field(default_factory=set)  # every generation id ever started
    interrupted: bool = False  # the open turn said interrupted, turnComplete must follow
    generation_complete: bool = False  # the open turn said generationComplete
    turns_completed: int = 0
    issued: set[str] = field(default_factory=set)  # every toolCall id sent
    answered: set[str] = field(default_factory=set)  # ids the client answered finally
    cancelled: set[str] = field(default_factory=set)  # ids in toolCallCancellation
    server_issued: set[str] = field(default_factory=set)
    server_finished: set[str] = field(default_factory=set)
    server_cancelled: set[str] = field(default_factory=set)
    voice_started: float | None = None  # the open ACTIVITY_START's offset
    voice_offset: float = 0.0  # the latest voiceActivity offset

    # -- the fuzzer tells what it fed --------------------------------------------------------

    def is_stale(self, generation_id: int) -> bool:
        """Whether events of this generation must do nothing (it is not the live one)."""
        return generation_id != self.live

    def client_answered(self, call_id: str) -> None:
        """The client sent the final response for ``call_id`` and the session took it."""
        if call_id not in self.cancelled:
            self.answered.add(call_id)
        self.asked.client_calls.pop(call_id, None)

    def server_tool_finished(self, call_id: str) -> None:
        if call_id not in self.server_cancelled:
            self.server_finished.add(call_id)
        self.asked.server_calls.discard(call_id)

    # -- the session's output ------------------------------------------------------------------

    def check(self, cause: str, actions: list[JSON], *, stale_event: bool = False) -> None:
        """Read one action list, returned for an event named ``cause`` (or ``"abort"``)."""
        if self.closed and actions:
            raise RuleBroken(f"{cause}: output after Close: {actions}")
        if stale_event and actions:
            raise RuleBroken(f"{cause} of a stale generation did something: {actions}")
        for index, action in enumerate(actions):
            rest = actions[index + 1:]
            if "send" in action:
                self._sent(cause, action["send"])
            else:
                self._action(cause, action, rest)
            if self.closed and rest:
                raise RuleBroken(f"{cause}: actions after Close in one list: {actions}")

    def _sent(self, cause: str, message: dict[str, Any]) -> None:
        content = message.get("serverContent", {})
        if "toolCall" in message:
            self._model_output(cause, "toolCall")
            for call in message["toolCall"]["functionCalls"]:
                if call["id"] in self.issued:
                    raise RuleBroken(f"{cause}: toolCall id {call['id']} issued twice")
                self.issued.add(call["id"])
                self.asked.client_calls[call["id"]] = call["name"]
        if "toolCallCancellation" in message:
            self._cancellation(cause, message["toolCallCancellation"]["ids"])
        if "voiceActivity" in message:
            self._voice_activity(cause, message["voiceActivity"])
        for key in MODEL_OUTPUT:
            if key in content:
                self._model_output(cause, key)
        if content.get("interrupted"):
            self.interrupted = True
        if content.get("generationComplete"):
            if self.generation_complete:
                raise RuleBroken(f"{cause}: a second generationComplete in one turn")
            self.generation_complete = True
        if content.get("turnComplete"):
            self._turn_complete(cause)

    def _voice_activity(self, cause: str, activity: dict[str, Any]) -> None:
        """START and END alternate, each at an offset no earlier than the one before."""
        offset = float(activity["audioOffset"].removesuffix("s"))
        if offset < self.voice_offset:
            raise RuleBroken(f"{cause}: voiceActivity at {offset} s, before {self.voice_offset}")
        self.voice_offset = offset
        starts = activity["type"] == "ACTIVITY_START"
        if starts == (self.voice_started is not None):
            raise RuleBroken(f"{cause}: {activity['type']} twice in a row")
        self.voice_started = offset if starts else None

    def _model_output(self, cause: str, what: str) -> None:
        if self.interrupted:
            raise RuleBroken(f"{cause}: {what} after interrupted, before turnComplete")
        if not self.turn_open:
            if self.candidate is None:
                raise RuleBroken(f"{cause}: {what} with no turn open")
            self.turn_open = True  # the candidate was a real turn

    def _turn_complete(self, cause: str) -> None:
        if not self.turn_open and self.candidate is None:
            raise RuleBroken(f"{cause}: turnComplete with no turn open")
        if not self.interrupted and not self.generation_complete:
            raise RuleBroken(f"{cause}: turnComplete without generationComplete or interrupted")
        # a turn ends with its blocking calls answered, or cancelled when interrupted
        open_calls = sorted(i for i, name in self.asked.client_calls.items()
                            if name not in self.non_blocking)
        if open_calls or self.asked.server_calls:
            raise RuleBroken(f"{cause}: turnComplete leaves blocking calls open: "
                             f"{open_calls} {sorted(self.asked.server_calls)}")
        self.turn_open, self.candidate, self.live = False, None, None
        self.interrupted = self.generation_complete = False
        self.turns_completed += 1

    def _cancellation(self, cause: str, ids: list[str]) -> None:
        for call_id in ids:
            if call_id not in self.issued:
                raise RuleBroken(f"{cause}: cancelled {call_id}, which was never issued")
            if call_id in self.cancelled:
                raise RuleBroken(f"{cause}: {call_id} cancelled twice")
            if call_id in self.answered:
                raise RuleBroken(f"{cause}: {call_id} cancelled after the client answered it")
            self.cancelled.add(call_id)
            self.asked.client_calls.pop(call_id, None)

    def _action(self, cause: str, action: dict[str, Any], rest: list[JSON]) -> None:
        match action["action"]:
            case "StartGeneration":
                self._started(cause, action["generation_id"])
            case "CancelGeneration":
                self._cancelled(action["generation_id"], rest)
            case "Close":
                self._close(cause, action)
            case _:
                self._request(cause, action)

    def _started(self, cause: str, generation_id: int) -> None:
        if generation_id in self.started:
            raise RuleBroken(f"{cause}: generation id {generation_id} started twice")
        self.started.add(generation_id)
        self.asked.generations[generation_id] = False
        if self.candidate is not None and not self.turn_open:
            self.turn_open = True  # a second generation: the candidate was a turn
        elif not self.turn_open:
            self.candidate = generation_id
        self.live = generation_id

    def _cancelled(self, generation_id: int, rest: list[JSON]) -> None:
        self.asked.generations.pop(generation_id, None)
        self.asked.synthesis_ends.discard(generation_id)
        self.asked.pieces = {k: v for k, v in self.asked.pieces.items() if k[0] != generation_id}
        if generation_id == self.candidate and not self.turn_open:
            said_interrupted = any(a.get("send", {}).get("serverContent", {}).get("interrupted")
                                   for a in rest)
            if said_interrupted:
                self.turn_open = True
            else:
                self.candidate = None  # an answer ahead, dropped: it never was a turn
        if generation_id == self.live:
            self.live = None

    def _close(self, cause: str, action: dict[str, Any]) -> None:
        if action["code"] == 1011 and cause not in EXPECTED_INTERNAL \
                and OUTGREW not in action["reason"]:
            raise RuleBroken(f"{cause}: the session failed itself (1011): {action['reason']}")
        self.closed = True

    def _request(self, cause: str, action: dict[str, Any]) -> None:
        asked = self.asked
        match action["action"]:
            case "Synthesize":
                asked.pieces[(action["generation_id"], action["piece_id"])] = action["text"]
            case "EndSynthesis":
                asked.synthesis_ends.add(action["generation_id"])
            case "CancelSynthesis":
                asked.synthesis_ends.discard(action["generation_id"])
            case "Transcribe":
                asked.transcriptions[action["turn_id"]] = action["end"]
            case "ScoreEndOfTurn":
                asked.end_of_turn.add(action["turn_id"])
            case "WakeAt":
                asked.wake_at[action["key"]] = action["at"]
            case "SaveSnapshot":
                asked.snapshots += 1
            case "RunServerTool":
                self._server_call(cause, action["call_id"])
            case "CancelServerTool":
                self._server_cancel(cause, action["call_id"])

    def _server_call(self, cause: str, call_id: str) -> None:
        if call_id in self.server_issued:
            raise RuleBroken(f"{cause}: server-side call {call_id} run twice")
        self.server_issued.add(call_id)
        self.asked.server_calls.add(call_id)

    def _server_cancel(self, cause: str, call_id: str) -> None:
        if call_id not in self.server_issued:
            raise RuleBroken(f"{cause}: cancelled server-side call {call_id}, never run")
        if call_id in self.server_cancelled or call_id in self.server_finished:
            raise RuleBroken(f"{cause}: server-side call {call_id} cancelled after it ended")
        self.server_cancelled.add(call_id)
        self.asked.server_calls.discard(call_id)

    # -- at the end ----------------------------------------------------------------------------

    def check_quiet(self) -> None:
        """Once every request was answered and the user is silent: no turn is left open."""
        if self.closed:
            return
        if self.turn_open or self.candidate is not None:
            raise RuleBroken(f"a turn never completed (live generation {self.live}, "
                             f"pending requests {self.asked})")
        if self.voice_started is not None:
            raise RuleBroken(f"ACTIVITY_START at {self.voice_started} s never ended")
