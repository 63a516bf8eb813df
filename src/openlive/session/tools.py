"""Function calling in a session: the declared tools, the calls in flight, their answers.

Pure. The setup's ``tools`` become a :class:`Toolbox` (what the model may call, which
functions are NON_BLOCKING, which are run by the server itself); each generation that
asks for calls opens a :class:`ToolRound`; :class:`CallLedger` remembers every call id
the session has handed out until it is answered, cancelled or finished, so that a
``toolResponse`` can be matched, refused (an id never issued: 1007) or quietly dropped
(a call already cancelled or finished, as the Live API does).

How the model sees a round (see :mod:`openlive.chat`): one ``assistant``
message with the text said before the calls and the calls, then one ``tool`` message
per call. A NON_BLOCKING call still running when the model goes on is shown with
:data:`RUNNING` as its result; its real result joins the history later as a round of
its own (the call again, then the result), so every call in the history is followed by
an answer, which both llama.cpp's templates and OpenAI-compatible servers require.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from openlive.catalog.profiles import DEFAULT_PROFILE, ModelProfile
from openlive.catalog.tools import BUILTIN_TOOLS
from openlive.chat import ChatMessage, ToolCall, ToolSpec
from openlive.chat.schema import schema_from_declaration
from openlive.errors import InvalidArgument, PolicyViolation
from openlive.protocol.client import Tool
from openlive.protocol.types import FunctionResponse

#: What the model is told of a NON_BLOCKING call that has not answered yet.
RUNNING = '{"status": "started; the result will come later"}'
#: What the model is told of a call the user's interruption cancelled.
CANCELLED = '{"error": "cancelled: the user interrupted before it finished"}'


# Gemini's rule for function names (letters, digits, _ . : -, up to 64, not a digit first).
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,63}")

Scheduling = Literal["INTERRUPT", "WHEN_IDLE", "SILENT"]


@dataclass(frozen=True, slots=True)
class Toolbox:
    """The functions a session's model may call, and how each one runs."""

    specs: tuple[ToolSpec, ...] = ()
    non_blocking: frozenset[str] = frozenset()
    server_side: Mapping[str, str] = field(default_factory=dict)  # function -> built-in

    @classmethod
    def from_wire(
        cls, tools: Iterable[Tool] | None, server_tools: Mapping[str, tuple[ToolSpec, ...]],
        profile: ModelProfile = DEFAULT_PROFILE,
    ) -> Toolbox:
        """Read the setup's (or a ``contextUpdate``'s) ``tools``.

        ``server_tools`` maps a built-in tool's wire name (``googleSearch``) to the
        functions the operator's server-side implementation of it offers. A built-in
        without one is refused (1008) with its name; bad declarations are 1007. The
        model's ``profile`` says what a declaration without ``behavior`` is, and which
        behaviours the model honours.
        """
        specs: list[ToolSpec] = []
        non_blocking: set[str] = set()
        server_side: dict[str, str] = {}
        for index, tool in enumerate(tools or ()):
            for attr, wire_name in BUILTIN_TOOLS.items():
                if getattr(tool, attr) is None:
                    continue
                offered = server_tools.get(wire_name)
                if offered is None:
                    raise PolicyViolation(_unavailable(wire_name, server_tools))
                for spec in offered:
                    specs.append(spec)
                    server_side[spec.name] = wire_name
            for j, declaration in enumerate(tool.function_declarations or ()):
                where = f"tools[{index}].functionDeclarations[{j}]"
                if not _FUNCTION_NAME.fullmatch(declaration.name):
                    raise InvalidArgument(
                        f"{where}.name {declaration.name!r} is not a valid function name: use "
                        "letters, digits, '_', '.', ':' or '-', at most 64, not starting with "
                        "a digit."
                    )
                try:
                    parameters = schema_from_declaration(
                        declaration.parameters, declaration.parameters_json_schema
                    )
                except InvalidArgument as err:
                    raise InvalidArgument(f"{where}: {err.reason}") from None
                specs.append(ToolSpec(declaration.name, declaration.description or "", parameters))
                if _non_blocking(declaration.behavior, profile):
                    non_blocking.add(declaration.name)
        names = [spec.name for spec in specs]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise InvalidArgument(f"Function {duplicated[0]!r} is declared more than once.")
        return cls(tuple(specs), frozenset(non_blocking), server_side)


def _non_blocking(behavior: str | None, profile: ModelProfile) -> bool:
    """Whether a call of a function declared with ``behavior`` lets the model go on."""
    if not profile.async_calls:
        return False  # "function calling is synchronous only"
    if not profile.blocking_calls:
        return True  # asynchronous function calling only
    if behavior in (None, "UNSPECIFIED"):
        return profile.non_blocking_by_default
    return behavior == "NON_BLOCKING"


def _unavailable(wire_name: str, server_tools: Mapping[str, Any]) -> str:
    offered = ", ".join(sorted(server_tools)) or "none"
    return (
        f"The built-in tool {wire_name} is not available on this server (server-side "
        f"tools configured: {offered}); declare a function instead."
    )


@dataclass(slots=True)
class OpenCall:
    """A call handed out and not finished: waiting for its answer (or more answers)."""

    call: ToolCall
    blocking: bool
    server_tool: str | None  # the built-in that runs it server-side, or None: the client


@dataclass(frozen=True, slots=True)
class Answer:
    """One accepted function response, read into what the model will see."""

    call: OpenCall
    result: str  # the response object as JSON text
    scheduling: Scheduling
    final: bool  # no more responses will come for this call


class CallLedger:
    """Every call id the session issued, until it is answered, cancelled or finished."""

    def __init__(self) -> None:
        self._open: dict[str, OpenCall] = {}
        self._finished: set[str] = set()

    def issue(self, calls: Iterable[ToolCall], toolbox: Toolbox) -> list[OpenCall]:
        issued = []
        for call in calls:
            open_call = OpenCall(
                call,
                blocking=call.name not in toolbox.non_blocking,
                server_tool=toolbox.server_side.get(call.name),
            )
            self._open[call.id] = open_call
            issued.append(open_call)
        return issued

    def answer(self, index: int, response: FunctionResponse) -> Answer | None:
        """Match one client response; None when its call was already cancelled or done.

        Raises :class:`InvalidArgument` (1007) for a response without an id, an id this
        session never issued, a name that is not the call's, or non-text parts.
        """
        where = f"toolResponse.functionResponses[{index}]"
        if not response.id:
            raise InvalidArgument(f"{where} has no id: answer each call with its id.")
        open_call = self._open.get(response.id)
        if open_call is None:
            if response.id in self._finished:
                return None  # cancelled, or finished by an earlier response: as the Live API
            raise InvalidArgument(f"{where} names unknown function call id {response.id!r}.")
        if open_call.server_tool is not None:
            raise InvalidArgument(
                f"{where}: call {response.id!r} is run by the server ({open_call.server_tool})."
            )
        if response.name and response.name != open_call.call.name:
            raise InvalidArgument(
                f"{where}.name is {response.name!r}, but call {response.id!r} is "
                f"{open_call.call.name!r}."
            )
        result = response_json(response, where)
        # willContinue only makes sense for a NON_BLOCKING call; a blocking one ends here.
        final = open_call.blocking or not response.will_continue
        if final:
            self.finish(response.id)
        return Answer(open_call, result, _scheduling(response), final)

    def answer_server(self, call_id: str, result: str) -> Answer | None:
        """A server-side tool's result; None when the call was cancelled meanwhile."""
        open_call = self._open.get(call_id)
        if open_call is None:
            return None
        self.finish(call_id)
        return Answer(open_call, result, "WHEN_IDLE", final=True)

    def finish(self, call_id: str) -> None:
        if self._open.pop(call_id, None) is not None:
            self._finished.add(call_id)

    def cancel(self, calls: Iterable[ToolCall]) -> list[OpenCall]:
        """Cancel those of ``calls`` that are still open; return them."""
        cancelled = [self._open[c.id] for c in calls if c.id in self._open]
        for open_call in cancelled:
            self.finish(open_call.call.id)
        return cancelled

    def open_calls(self) -> tuple[OpenCall, ...]:
        return tuple(self._open.values())

    def restore(self, calls: Iterable[OpenCall], finished: Iterable[str]) -> None:
        """Take back the open calls of a resumed session."""
        self._open = {c.call.id: c for c in calls}
        self._finished = set(finished)

    def finished_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._finished))


def response_json(response: FunctionResponse, where: str = "functionResponse") -> str:
    """A function response as the JSON text the model reads."""
    result: dict[str, Any] = dict(response.response or {})
    for part in response.parts or ():
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise PolicyViolation(
                f"{where}.parts: only text parts can be given to the configured language "
                "model, which takes text only."
            )
        result.setdefault("parts", []).append(text)
    return orjson.dumps(result).decode()


def _scheduling(response: FunctionResponse) -> Scheduling:
    if response.scheduling in ("INTERRUPT", "SILENT"):
        return response.scheduling
    return "WHEN_IDLE"  # the default, also for SCHEDULING_UNSPECIFIED


@dataclass(slots=True)
class ToolRound:
    """The calls one generation made and the results so far, until the model goes on."""

    said: str  # what the client got of the generation before (and around) the calls
    calls: tuple[ToolCall, ...]
    waiting_for: set[str]  # ids of blocking calls not yet answered
    results: dict[str, str] = field(default_factory=dict)  # id -> result JSON

    @classmethod
    def open(cls, issued: Iterable[OpenCall]) -> ToolRound:
        issued = tuple(issued)
        waiting = {c.call.id for c in issued if c.blocking}
        return cls("", tuple(c.call for c in issued), waiting)

    def take(self, call_id: str, result: str) -> None:
        self.results[call_id] = result
        self.waiting_for.discard(call_id)

    @property
    def waiting(self) -> bool:
        return bool(self.waiting_for)

    def messages(self, missing: str = RUNNING) -> tuple[ChatMessage, ...]:
        """The round as the model sees it; calls without a result get ``missing``."""
        return round_messages(self.said, self.calls, self.results, missing)


def round_messages(
    said: str, calls: tuple[ToolCall, ...], results: Mapping[str, str], missing: str = RUNNING
) -> tuple[ChatMessage, ...]:
    """An assistant message with ``calls``, then one ``tool`` message per call."""
    head = ChatMessage("assistant", said, tool_calls=calls)
    return (head, *(
        ChatMessage("tool", results.get(c.id, missing), tool_call_id=c.id, name=c.name)
        for c in calls
    ))
