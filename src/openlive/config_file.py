"""The settings as a TOML file: ``openlive serve --config`` reads one, ``--print-config``
writes one.

Pure TOML, no knowledge of the settings themselves (:mod:`openlive.config` uses it).
The file is flat: its keys are the setting names of :class:`openlive.config.Settings`
(``port = 9000``, ``tls_hosts = ["lan.example", "10.0.0.2"]``); relative paths are
relative to the working directory. A setting left unset is written as a comment, since
TOML has no null. The writer knows only the flat types settings have (strings, paths,
numbers, booleans, lists of strings), so it is a few lines rather than a dependency.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from openlive.errors import ConfigError

MASK = "***"


def read_config_file(path: Path, known: Collection[str]) -> dict[str, Any]:
    """The settings a TOML file gives; keys not ``known`` and bad TOML are a
    :class:`ConfigError`."""
    try:
        with path.open("rb") as file:
            values = tomllib.load(file)
    except OSError as err:
        raise ConfigError(f"cannot read the config file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key.replace("-", "_"), list(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown setting {key!r} in {path}{hint}")
    return values


def toml_value(value: object) -> str:
    """``value`` as a TOML value: a string, a path, a number, a boolean or a list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _toml_float(value)
    if isinstance(value, str | Path):
        return _toml_string(str(value))
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)  # always has a "." or an exponent, as TOML wants of a float


def _toml_string(text: str) -> str:
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
