"""What the benchmark scripts share: the percentile they report.

The scripts run as ``python bench/<name>.py``, so this directory is on ``sys.path`` and
they import it as ``stats``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..1) of ``values``; nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
