"""The server's own per-stage latencies: its "turn latency" log lines (exact, one per
turn) and the ``openlive_voice_stage_seconds`` histogram of ``/metrics`` (only as fine
as its buckets, a cross-check)."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterable

STAGES = ("endpoint", "asr", "ahead", "llm_first_token", "llm_first_piece", "tts_first_chunk",
          "first_audio")

Buckets = list[tuple[float, float]]  # (upper bound, cumulative count), sorted by bound

_BUCKET = re.compile(
    r'^openlive_voice_stage_seconds_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$', re.MULTILINE)
_TURN_LINE = re.compile(r"session (\w+): turn latency (.*)$")
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


def stage_buckets(text: str) -> dict[str, Buckets]:
    """stage -> its histogram buckets, from the Prometheus text of ``/metrics``."""
    out: dict[str, Buckets] = {}
    for match in _BUCKET.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        out.setdefault(labels["stage"], []).append((bound, float(match["value"])))
    return {stage: sorted(rows) for stage, rows in out.items()}


def histogram_quantile(before: Buckets, after: Buckets, q: float) -> tuple[float, int]:
    """(quantile, count) of the observations between two scrapes, interpolating linearly
    inside the bucket that holds the quantile (as Prometheus' histogram_quantile)."""
    old = dict(before)
    rows = [(bound, count - old.get(bound, 0.0)) for bound, count in after]
    total = rows[-1][1] if rows else 0
    if total <= 0:
        return math.nan, 0
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in rows:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower, int(total)  # past the last finite bound: report that bound
            inside = cumulative - below
            fraction = (rank - below) / inside if inside else 1.0
            return lower + (bound - lower) * fraction, int(total)
        lower, below = bound, cumulative
    return lower, int(total)


def stage_quantiles(before: dict[str, Buckets], after: dict[str, Buckets],
                    stages: Iterable[str] = STAGES) -> dict[str, dict[str, float]]:
    """stage -> {"p50", "p95", "n"} of the observations between two scrapes."""
    out: dict[str, dict[str, float]] = {}
    for stage in stages:
        if stage in after:
            p50, n = histogram_quantile(before.get(stage, []), after[stage], 0.5)
            p95, _ = histogram_quantile(before.get(stage, []), after[stage], 0.95)
            out[stage] = {"p50": p50, "p95": p95, "n": n}
    return out


def turn_lines(log: str) -> dict[str, list[dict[str, float]]]:
    """session id -> its "turn latency" lines in order, as stage -> seconds; "logged_at"
    is when the line was logged (as the first audio was queued), in epoch seconds."""
    out: dict[str, list[dict[str, float]]] = {}
    for line in log.splitlines():
        match = _TURN_LINE.search(line)
        if match:
            stages = {}
            stamp = _LOG_TIME.match(line)
            if stamp:
                stages["logged_at"] = time.mktime(
                    time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")) + int(stamp[2]) / 1000
            for part in match[2].split(", "):
                name, _, value = part.rpartition(" ")[0].rpartition(" ")
                with contextlib.suppress(ValueError):
                    stages[name] = float(value) / 1000
            out.setdefault(match[1], []).append(stages)
    return out
