"""Prometheus metrics: one place that names every metric openlive exports."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SESSIONS_ACTIVE = Gauge("openlive_sessions_active", "Live sessions currently connected")
SESSIONS_TOTAL = Counter("openlive_sessions_total", "Live sessions started")
SESSIONS_CLOSED = Counter(
    "openlive_sessions_closed_total", "Live sessions ended, by close code", ["code"]
)
TURNS_TOTAL = Counter("openlive_turns_total", "Model turns started", ["backend"])
GENERATION_FIRST_TOKEN = Histogram(
    "openlive_generation_first_token_seconds",
    "From starting a generation to its first text",
    ["backend"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0),
)
TOKENS_TOTAL = Counter("openlive_tokens_total", "Tokens processed", ["backend", "kind"])
VOICE_STAGE_SECONDS = Histogram(
    "openlive_voice_stage_seconds",
    "Voice turn latency by stage (see openlive.runtime.trace)",
    ["stage"],
    buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0),
)
EVENT_LOOP_LAG = Histogram(
    "openlive_event_loop_lag_seconds",
    "How late the event loop ran a 100 ms timer (load shedding watches the mean)",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
)
