"""The percentiles the benchmarks report."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..1) of ``values``; nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def quantiles(values: Iterable[float | None]) -> tuple[int, float, float]:
    """(count, p50, p95) of the values that are not None."""
    got = [v for v in values if v is not None]
    return len(got), pct(got, 0.5), pct(got, 0.95)
