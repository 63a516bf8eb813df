"""Function arguments as JSON Schema: reading declarations, conforming and validating.

Pure, shared by the session (which reads ``functionDeclarations``) and the backends
(which check the calls a model makes):

* :func:`schema_from_declaration` turns a Live ``FunctionDeclaration``'s ``parameters``
  (an OpenAPI-style Schema, upper-case types) or ``parametersJsonSchema`` into the plain
  JSON Schema a :class:`~openlive.chat.ToolSpec` carries;
* :func:`conform_arguments` nudges a small model's arguments towards the schema where
  its intent is unambiguous (numeric strings, enum case, undeclared properties);
* :func:`check_schema` refuses, at setup, a schema that is not valid JSON Schema;
* :func:`validate_arguments` checks arguments against such a schema with ``jsonschema``
  (draft 2020-12 unless the schema names its ``$schema``), in readable lines.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from openlive.errors import InvalidArgument

if TYPE_CHECKING:  # referencing documents Resolver but exports it only from _core
    from referencing._core import Resolver

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
    Neither means a function without arguments. The result is checked with
    :func:`check_schema`. Raises :class:`InvalidArgument` (1007) for both at once, a
    Schema that cannot be read or a schema that is not valid JSON Schema.
    """
    if parameters is not None and parameters_json_schema is not None:
        raise InvalidArgument(
            "a function declaration sets both parameters and parametersJsonSchema; use one"
        )
    if parameters_json_schema is not None:
        if not isinstance(parameters_json_schema, Mapping):
            raise InvalidArgument("parametersJsonSchema must be a JSON object")
        schema = copy.deepcopy(dict(parameters_json_schema))
        check_schema(schema, "parametersJsonSchema")
        return schema
    if parameters is None:
        return copy.deepcopy(EMPTY_OBJECT_SCHEMA)
    schema = _convert(parameters, "parameters")
    check_schema(schema, "parameters")
    return schema


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

#: What a declaration's schema is read as when it names no ``$schema`` dialect.
DEFAULT_DIALECT: type[Validator] = Draft202012Validator
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})  # values, not schemas


@dataclass(frozen=True, slots=True)
class _Compiled:
    validator: Validator
    resolver: Resolver[Any]  # follows the schema's own ``$ref`` (for conforming)


def check_schema(schema: Mapping[str, Any], field: str = "parametersJsonSchema") -> None:
    """Refuse a schema that is not valid JSON Schema; call once per declaration at setup.

    The dialect is the schema's ``$schema`` (draft 2020-12 when it names none). Patterns
    must compile as Python regular expressions, and every ``$ref`` must point inside
    the schema (nothing is fetched). Raises :class:`InvalidArgument` (1007) naming
    ``field`` and where in the schema the problem is.
    """
    cls = validator_for(schema, default=DEFAULT_DIALECT)
    meta = validator_for(cls.META_SCHEMA, default=cls)
    checker = meta(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
    error = best_match(checker.iter_errors(schema))
    if error is not None:
        raise InvalidArgument(f"{field}{_pointer(error.absolute_path)}: {error.message}")
    compiled = _compile(_cache_key(schema))
    for ref in _local_refs(schema):
        try:
            compiled.resolver.lookup(ref)
        except Unresolvable:
            raise InvalidArgument(
                f"{field}: $ref {ref!r} does not point inside the schema"
            ) from None


def validate_arguments(schema: Mapping[str, Any], args: object) -> list[str]:
    """What is wrong with ``args`` for ``schema``, one readable line per problem.

    Each line names where (``arguments.stops[0].city``) and why, in words a person and a
    model retrying the call can follow. The full JSON Schema vocabulary applies
    (``oneOf``, ``$ref``...), except that ``format`` is not checked. Validators are
    compiled once per distinct schema.
    """
    validator = _compile(_cache_key(schema)).validator
    try:
        errors = list(validator.iter_errors(cast(Any, args)))
    except Unresolvable as exc:  # a schema that skipped check_schema (an operator's tool)
        return [f"arguments: the schema's $ref {exc.ref!r} cannot be resolved"]
    return _describe(errors)


def _cache_key(schema: Mapping[str, Any]) -> str:
    """The cache key of a schema: equal schemas share one compiled validator.

    Keys keep their order (errors come out in the order the schema lists its keywords).
    """
    return orjson.dumps(schema, option=orjson.OPT_NON_STR_KEYS).decode()


@functools.lru_cache(maxsize=512)
def _compile(text: str) -> _Compiled:
    schema = orjson.loads(text)
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    validator = validator_for(schema, default=DEFAULT_DIALECT)(schema)
    return _Compiled(validator, Registry().resolver_with_root(resource))


def _local_refs(schema: object, *, root: bool = True) -> Iterator[str]:
    """The ``$ref`` strings the root resolves (none under a nested ``$id``: another base)."""
    if isinstance(schema, list):
        for item in schema:
            yield from _local_refs(item, root=root)
        return
    if not isinstance(schema, Mapping) or (not root and "$id" in schema):
        return
    if isinstance(ref := schema.get("$ref"), str):
        yield ref
    for key, value in schema.items():
        if key not in _DATA_KEYWORDS:
            yield from _local_refs(value, root=False)


def _describe(errors: list[ValidationError]) -> list[str]:
    """One line per problem; a value of the wrong type gets only that line."""
    mistyped = {(id(e.schema), _pointer(e.absolute_path)) for e in errors if e.validator == "type"}
    lines: list[str] = []
    for error in errors:
        where = _pointer(error.absolute_path)
        if error.validator != "type" and (id(error.schema), where) in mistyped:
            continue
        lines.extend(f"arguments{where}{line}" for line in _reasons(error))
    return list(dict.fromkeys(lines))  # "required" reports every missing name each time


def _reasons(error: ValidationError) -> list[str]:
    """Why ``error`` happened, each as ``": reason"`` (or ``" length: ..."`` for sizes)."""
    keyword, expected, value = error.validator, error.validator_value, error.instance
    match keyword:
        case "type":
            kinds = expected if isinstance(expected, list) else [expected]
            return [f": expected {' or '.join(map(str, kinds))}, got {_type_name(value)}"]
        case "required" if isinstance(expected, list) and isinstance(value, dict):
            return [f": missing required {name!r}" for name in expected if name not in value]
        case "additionalProperties" if expected is False:
            return [f": unexpected property {name!r}" for name in _undeclared(error)]
        case "enum":
            return [f": {value!r} is not one of {expected!r}"]
        case "const":
            return [f": must be {expected!r}"]
        case "anyOf":
            return [": matches none of the allowed shapes"]
        case "oneOf" if error.context:
            return [": matches none of the allowed shapes"]
        case "oneOf":
            return [": matches more than one of the allowed shapes; exactly one must match"]
        case "pattern":
            return [f": does not match {expected!r}"]
        case _ if isinstance(keyword, str) and keyword in _BOUNDS:
            return [_bound(keyword, expected, value)]
        case _ if error.schema is False:
            return [": not allowed"]
        case _:
            return [f": {error.message}"]


# keyword -> (what is measured, the comparison a failure means)
_BOUNDS = {
    "minimum": ("", "is less than"),
    "maximum": ("", "is more than"),
    "exclusiveMinimum": ("", "must be more than"),
    "exclusiveMaximum": ("", "must be less than"),
    "minLength": (" length", "is less than"),
    "maxLength": (" length", "is more than"),
    "minItems": (" length", "is less than"),
    "maxItems": (" length", "is more than"),
    "minProperties": (" size", "is less than"),
    "maxProperties": (" size", "is more than"),
}


def _bound(keyword: str, limit: object, value: object) -> str:
    measure, failed = _BOUNDS[keyword]
    if keyword.startswith("exclusive"):
        return f": {failed} {_show(limit)}"
    size = len(value) if measure and isinstance(value, Sized) else value
    return f"{measure}: {_show(size)} {failed} {_show(limit)}"


def _show(number: object) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _undeclared(error: ValidationError) -> list[str]:
    """The properties an ``additionalProperties: false`` refused, in the order given."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    declared = schema.get("properties") or {}
    patterns = list(schema.get("patternProperties") or ())
    value = error.instance if isinstance(error.instance, dict) else {}
    return [
        str(name)
        for name in value
        if name not in declared and not _matches_any(patterns, str(name))
    ]


def _pointer(path: Iterable[str | int]) -> str:
    """``["stops", 0, "city"]`` → ``.stops[0].city``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)




def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return []


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
    more properties explicitly. ``$ref`` is followed. Anything else is left for
    :func:`validate_arguments`.
    """
    if not isinstance(schema, Mapping):
        return value
    return _conform(schema, value, _compile(_cache_key(schema)).resolver)


def _conform(schema: object, value: object, resolver: Resolver[Any]) -> object:
    if not isinstance(schema, Mapping):
        return value
    if isinstance(ref := schema.get("$ref"), str):
        try:
            target = resolver.lookup(ref)
        except Unresolvable:
            return value  # validation says so
        value = _conform(target.contents, value, target.resolver)
    kinds = _types(schema)
    if isinstance(value, str) and kinds and "string" not in kinds:
        value = _scalar_from_string(value, kinds)
    if isinstance(value, float) and "integer" in kinds and value.is_integer():
        value = int(value)
    if isinstance(value, str) and isinstance(schema.get("enum"), list):
        value = _enum_match(value, schema["enum"])
    if isinstance(value, dict):
        return _conform_object(schema, value, resolver)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_conform(schema["items"], item, resolver) for item in value]
    return value


def _conform_object(
    schema: Mapping[str, Any], value: dict[str, Any], resolver: Resolver[Any]
) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return value
    keep_extra = "additionalProperties" in schema and schema["additionalProperties"] is not False
    patterns = list(schema.get("patternProperties") or ())
    return {
        name: _conform(properties[name], item, resolver) if name in properties else item
        for name, item in value.items()
        if name in properties or keep_extra or _matches_any(patterns, name)
    }


def _matches_any(patterns: list[str], name: str) -> bool:
    try:
        return any(re.search(pattern, name) for pattern in patterns)
    except re.error:  # a schema that skipped check_schema: keep the property, let it fail
        return True


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
