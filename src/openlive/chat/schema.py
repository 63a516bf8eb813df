"""Function arguments as JSON Schema: reading declarations, conforming and validating.

Pure, shared by the session (which reads ``functionDeclarations``) and the backends
(which check the calls a model makes):

* :func:`schema_from_declaration` turns a Live ``FunctionDeclaration``'s ``parameters``
  (an OpenAPI-style Schema, upper-case types) or ``parametersJsonSchema`` into the plain
  JSON Schema a :class:`~openlive.chat.ToolSpec` carries;
* :func:`conform_arguments` nudges a small model's arguments towards the schema where
  its intent is unambiguous (numeric strings, enum case, undeclared properties);
* :func:`validate_arguments` checks arguments against such a schema (the subset that
  declarations use: type, required, enum, properties, items, anyOf, bounds).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

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
