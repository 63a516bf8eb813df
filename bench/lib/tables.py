"""Markdown tables and the units in their cells, as the benchmarks print them."""

from __future__ import annotations

import math
import re


def row(*cells: object) -> str:
    """One table row; an empty cell is a single space, as in ``| a | | |``."""
    return "|" + "|".join(f" {cell} " if str(cell) else " " for cell in cells) + "|"


def header(*titles: str) -> list[str]:
    """The title row and the separator row under it."""
    return [row(*titles), rule(len(titles))]


def rule(columns: int) -> str:
    """The separator row of a table with ``columns`` columns."""
    return "|" + "---|" * columns


def ms(seconds: float | None, digits: int = 0) -> str:
    """Seconds as milliseconds; a dash for a missing value."""
    if seconds is None or math.isnan(seconds):
        return "–"
    return f"{seconds * 1000:.{digits}f} ms"


def mib(n: int | None) -> str:
    """Bytes as MiB; a dash for a missing (or zero) size."""
    return "–" if not n else f"{n / 2**20:.0f} MiB"


def replace_section(text: str, title: str, body: str, before: str | None = None) -> str:
    """``text`` (markdown) with its ``## <title>`` section replaced by ``body`` (which
    starts with that heading); a new section goes before the ``## <before>`` heading if
    there is one, else at the end."""
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        return pattern.sub(lambda _m: body + "\n", text)
    if before is not None and f"\n## {before}" in text:
        return text.replace(f"\n## {before}", f"\n{body}\n## {before}", 1)
    return text.rstrip() + "\n\n" + body
