"""Function calls in a model's reply: tolerant parsing, checking, streaming hold-back.

Everything here is pure (no I/O), shared by the backends (schemas: :mod:`.schema`):

* :func:`parse_tool_calls` finds the calls in a model's reply however loosely it wrote
  them, and :class:`ToolCallScanner` does the same for streamed text, holding back what
  may be a call so that it is never shown to the user as text;
* :func:`check_call` turns one (name, arguments) pair into a :class:`ToolCall` or a
  reason to reject it; the OpenAI-compatible backend uses it for native calls too.

Theory of the parser: a small model writes a call as a Hermes/Qwen ``<tool_call>`` block,
as bare JSON (llama.cpp drops the special ``<tool_call>`` tokens from the text), inside a
code fence, with doubled braces ``{{ }}`` (it copies prompt templates), with
``"parameters"`` instead of ``"arguments"``, with arguments as a JSON string, or with a
trailing comma. Candidates are found in that order, each decoded with a few repairs,
then checked against the declarations: an undeclared name or arguments that do not match
the schema reject the call with a reason. Before validation the arguments are lightly
conformed to the schema: numeric strings become numbers and ``"true"``/``"false"``
booleans where the schema asks for them, an enum value matches case-insensitively, and
properties the schema does not declare are dropped (unless it allows them explicitly).
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from openlive.chat.schema import (
    EMPTY_OBJECT_SCHEMA,
    conform_arguments,
    validate_arguments,
)
from openlive.engines.llm.base import MalformedToolCall, ToolCall, ToolCallsRequested, ToolSpec

# ---------------------------------------------------------------- parsing calls


@dataclass(slots=True)
class ParsedCalls:
    """What :func:`parse_tool_calls` found: valid calls, rejected attempts, other text."""

    calls: list[ToolCall] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one reason per rejected attempt
    text_outside: str = ""  # the reply without the calls (and without the call markup)

    @property
    def attempted(self) -> bool:
        """Whether the model tried to call anything at all."""
        return bool(self.calls or self.rejected)


def calls_event(parsed: ParsedCalls) -> ToolCallsRequested | MalformedToolCall:
    """The stream event for a reply that attempted calls (``parsed.attempted``)."""
    if parsed.calls:
        return ToolCallsRequested(tuple(parsed.calls), tuple(parsed.rejected))
    return MalformedToolCall(tuple(parsed.rejected))


def openai_tool(tool: ToolSpec) -> dict[str, Any]:
    """A ToolSpec in the OpenAI ``tools`` format, which chat templates and servers take."""
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": function}


def new_call_id() -> str:
    """A fresh id in the production style: ``function-call-`` and 18 random digits."""
    return f"function-call-{10**17 + secrets.randbelow(9 * 10**17)}"


def declared_by_name(tools: Iterable[ToolSpec]) -> dict[str, ToolSpec]:
    """The mapping :func:`parse_tool_calls` takes, from a request's tools."""
    return {tool.name: tool for tool in tools}


_TAGS = ("tool_call", "tool_calls", "function_call", "functioncall")
_TAG_BLOCK = re.compile(
    r"<(?P<tag>tool_calls?|function_?call)>(?P<body>.*?)(?:</(?P=tag)>?|(?=<(?P=tag)>)|\Z)",
    re.DOTALL,
)
_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(?P<body>.*?)(?:```|\Z)", re.DOTALL)
_LEFTOVER_MARKUP = re.compile(
    r"<tool_response>.*?(?:</tool_response>|\Z)|</?(?:tool_calls?|function_?call)>", re.DOTALL
)
_NAME_KEYS = ("name", "tool", "tool_name", "function_name")
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input", "params")


def parse_tool_calls(text: str, declared: Mapping[str, ToolSpec]) -> ParsedCalls:
    """Find the tool calls in a whole reply; call once the reply is complete.

    ``declared`` maps each function name to its :class:`ToolSpec`. Calls come out in the
    order written, each with a new production-style id; every attempt that names an
    undeclared function, has unreadable JSON or arguments not matching the schema is
    rejected with a reason, and so is a repeat of an identical call. Text that is no
    call stays in ``text_outside``.
    """
    result = ParsedCalls()
    spans: list[tuple[int, int]] = []
    for start, end, attempts in _candidates(text, declared):
        spans.append((start, end))
        for attempt in attempts:
            if isinstance(attempt, str):
                result.rejected.append(attempt)
            else:
                _add_checked(result, check_call(attempt[0], attempt[1], declared))
    result.text_outside = _text_outside(text, spans)
    return result


def _add_checked(result: ParsedCalls, checked: ToolCall | str) -> None:
    """Keep a valid call unless the reply already made the very same one (small models
    sometimes write a call twice)."""
    if isinstance(checked, str):
        result.rejected.append(checked)
    elif any((c.name, c.arguments) == (checked.name, checked.arguments) for c in result.calls):
        result.rejected.append(f"{checked.name}: the same call twice; kept once")
    else:
        result.calls.append(checked)


def check_call(name: object, arguments: object, declared: Mapping[str, ToolSpec]) -> ToolCall | str:
    """One attempted call → a :class:`ToolCall` with a new id, or why it is rejected."""
    if not isinstance(name, str) or not name.strip():
        return "a call without a function name"
    name = name.strip().removeprefix("functions.")
    spec = declared.get(name)
    if spec is None:
        known = ", ".join(sorted(declared)) or "none"
        return f"undeclared function {name!r} (declared: {known})"
    if isinstance(arguments, str):
        text, arguments = arguments, _decode(arguments) if arguments.strip() else {}
        if arguments is _BROKEN:
            return f"{name}: could not parse the arguments {' '.join(text.split())[:80]!r}"
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return f"{name}: arguments are not a JSON object"
    schema = spec.parameters or EMPTY_OBJECT_SCHEMA
    conformed = conform_arguments(schema, arguments)
    problems = validate_arguments(schema, conformed)
    if problems or not isinstance(conformed, dict):
        return f"{name}: " + "; ".join(problems or ["arguments are not a JSON object"])
    return ToolCall(new_call_id(), name, conformed)


_Attempt = tuple[object, object] | str  # (name, arguments), or why it could not be read
_Candidate = tuple[int, int, list[_Attempt]]  # span of the text, what it held


def _candidates(text: str, declared: Mapping[str, ToolSpec]) -> list[_Candidate]:
    """Spans of ``text`` that hold calls, in order: tagged blocks, fences, bare JSON."""
    found: list[_Candidate] = []
    for match in _TAG_BLOCK.finditer(text):
        attempts = _attempts_in(match["body"], declared)
        found.append((match.start(), match.end(), attempts or [_unreadable(match["body"])]))
    for match in _FENCE.finditer(text):
        if not _overlaps(match.span(), found) and (
            attempts := _attempts_in(match["body"], declared)
        ):
            found.append((match.start(), match.end(), attempts))
    for start, end, value in _json_values(text):
        if not _overlaps((start, end), found) and (attempts := _attempts_from(value, declared)):
            found.append((start, end, attempts))
    if not found and (attempt := _python_call(text.strip(), declared)) is not None:
        found.append((0, len(text), [attempt]))
    return sorted(found, key=lambda candidate: candidate[0])


def _attempts_in(body: str, declared: Mapping[str, ToolSpec]) -> list[_Attempt]:
    """Every call written inside a tag or a fence (there may be several JSON values)."""
    attempts: list[_Attempt] = []
    for _, _, value in _json_values(body):
        attempts.extend(_attempts_from(value, declared))
    if not attempts and (call := _python_call(body.strip(), declared)) is not None:
        attempts.append(call)
    return attempts


def _unreadable(body: str) -> str:
    snippet = " ".join(body.split())[:80]
    return f"could not read a call in {snippet!r}"


def _overlaps(span: tuple[int, int], found: list[_Candidate]) -> bool:
    return any(span[0] < end and start < span[1] for start, end, _ in found)


def _json_values(text: str) -> Iterator[tuple[int, int, object]]:
    """Each JSON-looking value in ``text`` (objects, arrays of objects) and its span.

    A value that does not decode even after repairs is yielded as ``_BROKEN`` when it
    looks like a call (it mentions a name key), so that it is rejected, not shown.
    """
    index = 0
    while (start := _next_opening(text, index)) >= 0:
        end = _balanced_end(text, start)
        raw = text[start:end]
        value = _decode(raw)
        if value is _BROKEN and not re.search(r"[\"']name[\"']\s*:", raw):
            index = start + 1
            continue
        yield start, end, value
        index = end


_OPENING = re.compile(r"\{|\[\s*\{")


def _next_opening(text: str, index: int) -> int:
    match = _OPENING.search(text, index)
    return match.start() if match else -1


def _balanced_end(text: str, start: int) -> int:
    """Index after the bracket closing the one at ``start`` (strings respected), or the end."""
    depth, quote, escaped = 0, "", False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'" and (char == '"' or _opens_single_quote(text, index)):
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _opens_single_quote(text: str, index: int) -> bool:
    """A ``'`` opens a string only where JSON expects a value or key (Python-style dicts)."""
    before = text[:index].rstrip()
    return bool(before) and before[-1] in "{[,:"


class _Broken:
    """The marker for text that looked like JSON but did not decode."""


_BROKEN: Any = _Broken()


def _decode(raw: str) -> object:
    """``raw`` as JSON, after the repairs loose models need; ``_BROKEN`` if none works."""
    for candidate in _repairs(raw.strip()):
        try:
            return json.loads(candidate)
        except ValueError:
            pass
        try:
            value = _python_literal(candidate)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            continue
        if isinstance(value, dict | list):
            return value
    return _BROKEN


def _repairs(raw: str) -> Iterator[str]:
    yield raw
    no_commas = re.sub(r",\s*([}\]])", r"\1", raw)
    yield no_commas
    undoubled = raw
    while undoubled.startswith("{{") and undoubled.endswith("}}"):
        undoubled = undoubled[1:-1]
        yield undoubled
    yield no_commas.replace("{{", "{").replace("}}", "}")


def _python_literal(candidate: str) -> object:
    """A Python-style dict (single quotes, True/False/None, also true/false/null)."""
    tree = ast.parse(candidate, mode="eval")
    return ast.literal_eval(_JsonNames().visit(tree))


_JSON_NAMES: dict[str, bool | None] = {"true": True, "false": False, "null": None}


class _JsonNames(ast.NodeTransformer):
    """Turns the names ``true``/``false``/``null`` into constants for literal_eval."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _JSON_NAMES:
            return ast.copy_location(ast.Constant(_JSON_NAMES[node.id]), node)
        return node


def _attempts_from(value: object, declared: Mapping[str, ToolSpec]) -> list[_Attempt]:
    """The calls a decoded JSON value stands for; [] when it is not call-shaped."""
    if value is _BROKEN:
        return ["could not parse the call's JSON"]
    if isinstance(value, list):
        return [attempt for item in value for attempt in _attempts_from(item, declared)]
    if not isinstance(value, dict):
        return []
    for wrapper in ("tool_calls", "function_call", "function"):
        inner = value.get(wrapper)
        if isinstance(inner, dict | list) and not any(key in value for key in _NAME_KEYS):
            return _attempts_from(inner, declared)
    name_key = next((key for key in (*_NAME_KEYS, "function") if key in value), None)
    if name_key is None:
        return _single_key_call(value, declared)
    arguments_key = next((key for key in _ARGUMENT_KEYS if key in value), None)
    if arguments_key is not None:
        return [(value[name_key], value[arguments_key])]
    # {"name": "get_weather", "city": "Paris"}: the arguments written beside the name
    flat = {key: item for key, item in value.items() if key not in (name_key, "type", "id")}
    return [(value[name_key], flat)]


def _single_key_call(value: dict[str, Any], declared: Mapping[str, ToolSpec]) -> list[_Attempt]:
    """``{"get_weather": {"city": "Paris"}}``: the name as the only key."""
    if len(value) == 1:
        ((name, arguments),) = value.items()
        if name in declared and isinstance(arguments, dict):
            return [(name, arguments)]
    return []


def _python_call(text: str, declared: Mapping[str, ToolSpec]) -> _Attempt | None:
    """``get_weather(city="Paris")`` for a declared name, keyword literals only."""
    if not re.fullmatch(r"[A-Za-z_][\w.]*\(.*\)", text, re.DOTALL):
        return None
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.args:
        return None
    name = ast.unparse(call.func).removeprefix("functions.")
    if name not in declared:
        return None
    try:
        arguments = {
            str(k.arg): ast.literal_eval(_JsonNames().visit(k.value)) for k in call.keywords
        }
    except ValueError:
        return f"{name}: arguments are not literal values"
    return (name, arguments)


def _text_outside(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, cursor = [], 0
    for start, end in sorted(spans):
        pieces.append(text[cursor:start])
        cursor = max(cursor, end)
    pieces.append(text[cursor:])
    rest = "".join(pieces)
    if spans:
        rest = _LEFTOVER_MARKUP.sub("", rest)
    return re.sub(r"\n{3,}", "\n\n", rest).strip()


# ---------------------------------------------------------------- streaming


_OPENERS = tuple(f"<{tag}>" for tag in _TAGS) + ("```",)


class ToolCallScanner:
    """Holds back streamed text that may be a tool call; parses it when the reply ends.

    Feed each piece of generated text to :meth:`feed`, which returns what is safe to
    show now. Text is held from the first sign of a call: a ``<tool_call>``-style tag, a
    code fence, a ``{``/``[{`` followed by a quote, or a reply that opens with a declared
    name and ``(``. Call :meth:`finish` once the reply
    has ended: it returns the rest of the text to show and what was parsed (``None``
    when the held text held no call attempt, which is then shown unchanged).
    """

    def __init__(self, declared: Mapping[str, ToolSpec]) -> None:
        self._declared = declared
        self._pending = ""  # text not shown yet: undecided, or held for good
        self._holding = False  # a call has started: hold everything until the end
        self._opened = False  # some text was shown: a reply no longer opens with a call
        self._call_openings = tuple(f"{name}(" for name in declared)

    @property
    def holding(self) -> bool:
        """Whether the text seen so far has started what looks like a call."""
        return self._holding

    def feed(self, text: str) -> str:
        if self._holding:
            self._pending += text
            return ""
        buffer = self._pending + text
        if not self._opened and (decided := self._python_call_start(buffer)) is not None:
            self._pending, self._holding = buffer, decided
            return ""
        start, self._holding = _call_start(buffer)
        self._pending = buffer[start:]
        self._opened = self._opened or start > 0
        return buffer[:start]

    def _python_call_start(self, buffer: str) -> bool | None:
        """``get_weather(`` opening the reply: True; a prefix of it: False; else None."""
        head = buffer.lstrip()
        if head.startswith(self._call_openings):
            return True
        if any(opening.startswith(head) for opening in self._call_openings):
            return False
        return None

    def finish(self) -> tuple[str, ParsedCalls | None]:
        pending, self._pending = self._pending, ""
        self._holding = False
        if not pending.strip():
            return pending, None
        parsed = parse_tool_calls(pending, self._declared)
        if not parsed.attempted:
            return pending, None
        return parsed.text_outside, parsed


def _call_start(buffer: str) -> tuple[int, bool]:
    """Where ``buffer`` stops being safe to show, and whether a call surely starts there.

    ``(len(buffer), False)``: all safe. ``(i, False)``: undecided from ``i`` (a partial
    tag, or a brace whose next characters have not arrived). ``(i, True)``: a call.
    """
    for index, char in enumerate(buffer):
        if char in "<`":
            tail = buffer[index:]
            if tail.startswith(_OPENERS):
                return index, True
            if any(opener.startswith(tail) for opener in _OPENERS):
                return index, False
        elif char in "{[":
            rest = buffer[index:].lstrip("{[ \t\r\n")
            if not rest:
                return index, False
            if rest[0] in "\"'":
                return index, True
    return len(buffer), False
