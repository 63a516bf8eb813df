"""The commands the docs show exist: every ``openlive …`` line in a shell block of the
README and docs/ names a real command, and each of its flags is one of that command's
options. (The docs' SDK programs and the HAProxy example run in tests/conformance.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from openlive.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```(?:bash|sh|shell)\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"(?<!`)`((?:\.venv/bin/)?openlive [^`]+)`(?!`)")


def shown_commands() -> list[tuple[str, list[str]]]:
    """(where, argv after ``openlive``) of every openlive command line in a shell block
    or an inline code span."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        lines = [line for block in SHELL_BLOCK.findall(text)
                 for line in block.replace("\\\n", " ").splitlines()]
        for line in [*lines, *INLINE.findall(SHELL_BLOCK.sub("", text))]:
            words = shlex.split(line.split(" #")[0].replace("…", ""), comments=True)
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value before the command
            if words and words[0].endswith("openlive") and len(words) > 1:
                found.append((f"{doc.name}: {line.strip()}", words[1:]))
    return found


COMMANDS = shown_commands()


def test_the_docs_show_openlive_commands() -> None:
    assert len(COMMANDS) >= 20, COMMANDS


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_documented_command_and_its_flags_exist(where: str, argv: list[str]) -> None:
    command: click.Command = main
    ctx = click.Context(main)
    while isinstance(command, click.Group) and argv and not argv[0].startswith("-"):
        # "keys create/list/revoke" is shorthand for three commands: each must exist
        names = argv[0].split("/")
        subs = [command.get_command(ctx, name) for name in names]
        assert all(subs), f"{where}: no command {argv[0]!r}"
        command, argv = subs[0], argv[1:]  # type: ignore[assignment]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options |= {"--help", "-h"}
    for word in argv:
        if word.startswith("--"):
            assert word.split("=")[0] in options, f"{where}: {word} is not an option"
