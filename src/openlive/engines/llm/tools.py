"""Function calling for the language-model engines: schemas, validation, tolerant parsing.

Everything here is pure (no I/O), shared by the backends and the session:

* :func:`schema_from_declaration` turns a Live ``FunctionDeclaration``'s ``parameters``
  (an OpenAPI-style Schema, upper-case types) or ``parametersJsonSchema`` into the plain
  JSON Schema a :class:`~openlive.engines.llm.base.ToolSpec` carries;
* :func:`validate_arguments` checks arguments against such a schema (the subset that
  declarations use: type, required, enum, properties, items, anyOf, bounds);
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
import copy
import json
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from openlive.engines.llm.base import MalformedToolCall, ToolCall, ToolCallsRequested, ToolSpec
from openlive.errors import InvalidArgument

EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

# ---------------------------------------------------------------- schema conversion

_GEMINI_TYPES = {
    "STRING": "string",
    "NUMBER": "number",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "ARRAY": "array",
    "OBJECT": "object",
    "NULL": "null",
}
_COPIED_KEYS = ("description", "title", "format", "pattern", "default", "minimum", "maximum")
# int64 in the proto: the JSON may carry them as strings
_COUNT_KEYS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")


def schema_from_declaration(
    parameters: Mapping[str, Any] | None = None,
    parameters_json_schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A FunctionDeclaration's arguments as JSON Schema; call when reading the setup.

    ``parameters`` (Gemini's OpenAPI subset: ``OBJECT``, ``nullable``, ``anyOf``...) is
    converted; ``parameters_json_schema`` is already JSON Schema and passes through.
    Neither means a function without arguments. Raises :class:`InvalidArgument` (1007)
    for both at once or a Schema that cannot be read.
    """
    if parameters is not None and parameters_json_schema is not None:
        raise InvalidArgument(
            "a function declaration sets both parameters and parametersJsonSchema; use one"
        )
    if parameters_json_schema is not None:
        if not isinstance(parameters_json_schema, Mapping):
            raise InvalidArgument("parametersJsonSchema must be a JSON object")
        return copy.deepcopy(dict(parameters_json_schema))
    if parameters is None:
        return copy.deepcopy(EMPTY_OBJECT_SCHEMA)
    return _convert(parameters, "parameters")


def _convert(schema: object, path: str) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        raise InvalidArgument(f"{path} must be a Schema object")
    fields = {_camel(str(key)): value for key, value in schema.items()}
    out: dict[str, Any] = {}
    if (kind := _json_type(fields.get("type"), path)) is not None:
        out["type"] = kind
    out.update({key: fields[key] for key in _COPIED_KEYS if key in fields})
    out.update({key: _count(fields[key], f"{path}.{key}") for key in _COUNT_KEYS if key in fields})
    if "enum" in fields:
        out["enum"] = list(_listed(fields["enum"], f"{path}.enum"))
    if "properties" in fields:
        out["properties"] = _convert_properties(fields["properties"], path)
    if "required" in fields:
        out["required"] = [str(name) for name in _listed(fields["required"], f"{path}.required")]
    if "items" in fields:
        out["items"] = _convert(fields["items"], f"{path}.items")
    if "anyOf" in fields:
        choices = _listed(fields["anyOf"], f"{path}.anyOf")
        out["anyOf"] = [_convert(sub, f"{path}.anyOf[{i}]") for i, sub in enumerate(choices)]
    if "example" in fields:
        out["examples"] = [fields["example"]]
    if fields.get("nullable") is True:
        _make_nullable(out)
    return out


def _convert_properties(properties: object, path: str) -> dict[str, Any]:
    if not isinstance(properties, Mapping):
        raise InvalidArgument(f"{path}.properties must be an object")
    return {
        str(name): _convert(sub, f"{path}.properties.{name}") for name, sub in properties.items()
    }


def _camel(key: str) -> str:
    """``min_items`` → ``minItems``: the Python SDK may send either spelling."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _json_type(kind: object, path: str) -> str | None:
    if kind is None or kind == "TYPE_UNSPECIFIED":
        return None
    if isinstance(kind, str) and kind.upper() in _GEMINI_TYPES:
        return _GEMINI_TYPES[kind.upper()]
    known = ", ".join(_GEMINI_TYPES)
    raise InvalidArgument(f"{path}.type {kind!r} is not a Schema type ({known})")


def _count(value: object, path: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidArgument(f"{path} must be a whole number, got {value!r}") from None


def _listed(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{path} must be a list")
    return value


def _make_nullable(schema: dict[str, Any]) -> None:
    if "type" in schema:
        schema["type"] = [schema["type"], "null"]
    elif "anyOf" in schema:
        schema["anyOf"].append({"type": "null"})
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"].append(None)


# ---------------------------------------------------------------- validation


def validate_arguments(schema: Mapping[str, Any], args: object) -> list[str]:
    """What is wrong with ``args`` for ``schema``, one readable line per problem.

    Covers the keywords declarations use (type, enum, const, required, properties,
    additionalProperties, items, anyOf/oneOf, length, count and number bounds, pattern);
    other keywords (``$ref``, ``format``...) are not checked.
    """
    problems: list[str] = []
    _check(schema, args, "arguments", problems)
    return problems


def _check(schema: object, value: object, path: str, problems: list[str]) -> None:
    if schema is False:
        problems.append(f"{path}: not allowed")
    if not isinstance(schema, Mapping):
        return
    choices = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(choices, list) and not any(_valid(sub, value) for sub in choices):
        problems.append(f"{path}: matches none of the allowed shapes")
        return
    kinds = _types(schema)
    if kinds and not any(_is_type(value, kind) for kind in kinds):
        problems.append(f"{path}: expected {' or '.join(kinds)}, got {_type_name(value)}")
        return
    if "enum" in schema and not _in_enum(value, schema["enum"]):
        problems.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: must be {schema['const']!r}")
    if isinstance(value, dict):
        _check_object(schema, value, path, problems)
    elif isinstance(value, list):
        _check_array(schema, value, path, problems)
    elif isinstance(value, str):
        _check_string(schema, value, path, problems)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(schema, value, path, problems)


def _valid(schema: object, value: object) -> bool:
    problems: list[str] = []
    _check(schema, value, "", problems)
    return not problems


def _check_object(
    schema: Mapping[str, Any], value: dict[str, Any], path: str, problems: list[str]
) -> None:
    for name in schema.get("required") or ():
        if name not in value:
            problems.append(f"{path}: missing required {name!r}")
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            _check(properties[name], item, f"{path}.{name}", problems)
        elif extra is False:
            problems.append(f"{path}: unexpected property {name!r}")
        elif isinstance(extra, Mapping):
            _check(extra, item, f"{path}.{name}", problems)
    _check_bounds(len(value), schema, "minProperties", "maxProperties", f"{path} size", problems)


def _check_array(
    schema: Mapping[str, Any], value: list[Any], path: str, problems: list[str]
) -> None:
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            _check(items, item, f"{path}[{index}]", problems)
    _check_bounds(len(value), schema, "minItems", "maxItems", f"{path} length", problems)


def _check_string(schema: Mapping[str, Any], value: str, path: str, problems: list[str]) -> None:
    _check_bounds(len(value), schema, "minLength", "maxLength", f"{path} length", problems)
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                problems.append(f"{path}: does not match {pattern!r}")
        except re.error:
            pass  # a pattern Python cannot compile is not the model's fault


def _check_number(schema: Mapping[str, Any], value: float, path: str, problems: list[str]) -> None:
    _check_bounds(value, schema, "minimum", "maximum", path, problems)
    low, high = _number(schema.get("exclusiveMinimum")), _number(schema.get("exclusiveMaximum"))
    if low is not None and value <= low:
        problems.append(f"{path}: must be more than {low:g}")
    if high is not None and value >= high:
        problems.append(f"{path}: must be less than {high:g}")


def _check_bounds(
    size: float,
    schema: Mapping[str, Any],
    low_key: str,
    high_key: str,
    what: str,
    problems: list[str],
) -> None:
    low, high = _number(schema.get(low_key)), _number(schema.get(high_key))
    if low is not None and size < low:
        problems.append(f"{what}: {size:g} is less than {low:g}")
    if high is not None and size > high:
        problems.append(f"{what}: {size:g} is more than {high:g}")


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return []


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_type(value: object, kind: str) -> bool:
    match kind:
        case "string":
            return isinstance(value, str)
        case "number":
            return _is_number(value)
        case "integer":
            return _is_number(value) and float(value).is_integer()  # type: ignore[arg-type]
        case "boolean":
            return isinstance(value, bool)
        case "array":
            return isinstance(value, list)
        case "object":
            return isinstance(value, dict)
        case "null":
            return value is None
        case _:
            return True  # a type we do not know is not the model's fault


def _in_enum(value: object, allowed: object) -> bool:
    if not isinstance(allowed, list):
        return True
    return any(value == choice and type(value) is type(choice) for choice in allowed) or (
        _is_number(value) and any(_is_number(c) and value == c for c in allowed)
    )


def _type_name(value: object) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    names.update({list: "array", dict: "object", type(None): "null"})
    return names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------- conforming arguments


def conform_arguments(schema: Mapping[str, Any], value: object) -> object:
    """``value`` nudged towards ``schema`` where the model's intent is unambiguous.

    Numeric strings become numbers and ``"true"``/``"false"`` booleans where only those
    types are allowed, whole floats become integers, a string matches an enum value
    case-insensitively, and undeclared properties are dropped unless the schema allows
    more properties explicitly. Anything else is left for :func:`validate_arguments`.
    """
    if not isinstance(schema, Mapping):
        return value
    kinds = _types(schema)
    if isinstance(value, str) and "string" not in kinds:
        value = _scalar_from_string(value, kinds)
    if isinstance(value, float) and "integer" in kinds and value.is_integer():
        value = int(value)
    if isinstance(value, str) and isinstance(schema.get("enum"), list):
        value = _enum_match(value, schema["enum"])
    if isinstance(value, dict):
        return _conform_object(schema, value)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [conform_arguments(schema["items"], item) for item in value]
    return value


def _conform_object(schema: Mapping[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return value
    keep_extra = "additionalProperties" in schema and schema["additionalProperties"] is not False
    return {
        name: conform_arguments(properties[name], item) if name in properties else item
        for name, item in value.items()
        if name in properties or keep_extra
    }


def _scalar_from_string(value: str, kinds: list[str]) -> object:
    text = value.strip()
    if "boolean" in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "integer" in kinds or "number" in kinds:
        try:
            number = float(text)
        except ValueError:
            return value
        if number.is_integer() and ("integer" in kinds or "." not in text):
            return int(number)
        return number
    return value


def _enum_match(value: str, allowed: list[Any]) -> object:
    if value in allowed:
        return value
    key = _enum_key(value)
    matches = [c for c in allowed if isinstance(c, str) and _enum_key(c) == key]
    return matches[0] if len(matches) == 1 else value


def _enum_key(text: str) -> str:
    return re.sub(r"[\s_-]+", "_", text.strip().lower())


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
