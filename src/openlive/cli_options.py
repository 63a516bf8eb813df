"""Click options made from the settings declaration (:class:`openlive.config.Settings`).

One loop over the fields: ``--field-name`` (or the field's own flag), ``--x/--no-x`` for
booleans, repeatable options for lists, paths, choices for ``Literal`` types, ranges for
bounds, the description as help and the default shown. The options never read the
environment themselves: :func:`openlive.config.load_settings` does, so that only a flag
given on the command line (:func:`given_flags`) outranks an ``OPENLIVE_*`` variable.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types
import click
from click.core import ParameterSource
from pydantic.fields import FieldInfo
from pydantic.types import PathType

from openlive.config import env_name, flag_name, setting_fields

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(command: F) -> F:
    """Decorate ``command`` with one option per setting, in declaration order."""
    for name, _, _ in reversed(list(setting_fields())):
        command = setting_option(name)(command)
    return command


def setting_option(name: str, *, read_env: bool = False) -> Callable[[F], F]:
    """The click option of one setting; ``read_env``: it reads ``OPENLIVE_<NAME>`` itself."""
    [(info, cli)] = [(i, c) for n, i, c in setting_fields() if n == name]
    base, path_kind = _base_type(info.annotation)
    flag = flag_name(name)
    options: dict[str, Any] = {
        "help": info.description,
        "default": info.default_factory or info.default,
        "show_default": cli.shown_default or _shown_default(info.default),
        "allow_from_autoenv": False,
        "envvar": env_name(name) if read_env else None,
    }
    if base is bool:
        flag = f"{flag}/--no-{flag.removeprefix('--')}"
    elif get_origin(base) is tuple:
        options["multiple"] = True
    else:
        options["type"] = _click_type(base, path_kind, info)
    return click.option(flag, name, **options)


def given_flags(ctx: click.Context, values: Mapping[str, Any]) -> dict[str, Any]:
    """The settings among ``values`` that were given on the command line."""
    names = {name for name, _, _ in setting_fields()}
    return {name: value for name, value in values.items()
            if name in names and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}


def setting_groups() -> dict[str, str]:
    """Setting name -> the heading it is listed under."""
    return {name: cli.group for name, _, cli in setting_fields()}


class SettingsCommand(click.Command):
    """A command whose ``--help`` lists the settings' options under their groups' headings."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups = setting_groups()
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                heading = groups.get(param.name or "", "Options")
                sections.setdefault(heading, []).append(record)
        for heading, records in sections.items():
            with formatter.section(heading):
                formatter.write_dl(records)


def _shown_default(default: object) -> str | bool:
    """What ``--help`` shows when nothing is given: every setting shows something."""
    if default is None:
        return "not set"
    if default == ():
        return "none"
    return True


def _base_type(annotation: Any) -> tuple[Any, str | None]:
    """The type under ``X | None`` and ``Annotated``, and whether it must be a file or dir."""
    path_kind = None
    for _ in range(4):  # Annotated[X | None, ...] and the like nest a few levels at most
        if get_origin(annotation) is Annotated:
            kinds = [m.path_type for m in annotation.__metadata__ if isinstance(m, PathType)]
            path_kind = kinds[0] if kinds else path_kind
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            [annotation] = [a for a in get_args(annotation) if a is not type(None)]
        else:
            break
    return annotation, path_kind


def _bound(info: FieldInfo) -> Iterator[float]:
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            yield meta.ge  # type: ignore[misc]


def _click_type(base: Any, path_kind: str | None, info: FieldInfo) -> click.ParamType[Any, Any] | type:
    if get_origin(base) is Literal:
        return click.Choice([str(choice) for choice in get_args(base)])
    if base is Path:
        return click.Path(path_type=Path, exists=path_kind is not None,
                          dir_okay=path_kind != "file", file_okay=path_kind != "dir")
    minimum = next(_bound(info), None)
    if base is int:
        return click.IntRange(min=int(minimum)) if minimum is not None else int
    if base is float:
        return click.FloatRange(min=minimum) if minimum is not None else float
    if base is str:
        return click.STRING
    raise TypeError(f"no command-line type for {base!r}")
