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
BARGE_INS = Counter(
    "openlive_barge_ins_total",
    "User speech started over the model's spoken reply: its audio paused while the speech "
    "is judged (an interruption, or noise, a backchannel or echo and the reply goes on)",
)
INTERRUPTIONS = Counter(
    "openlive_interruptions_total",
    "Model turns interrupted (interrupted sent to the client), by what interrupted them: "
    "speech, activity_start, client_content, realtime_text, function_result",
    ["cause"],
)
ENGINE_ERRORS = Counter(
    "openlive_engine_errors_total",
    "Engine calls that failed after any retries, by engine kind: llm, asr, tts, vad, "
    "end_of_turn, server_tool",
    ["engine"],
)
ENGINE_RETRIES = Counter(
    "openlive_engine_retries_total",
    "Engine calls that failed in a way worth retrying and were tried again, by engine kind",
    ["engine"],
)

# Each known label value starts at 0, so a dashboard's rate() sees the series before the
# first event (a series that appears with its first increment loses that increment).
for _cause in ("speech", "activity_start", "client_content", "realtime_text",
               "function_result"):
    INTERRUPTIONS.labels(cause=_cause)
for _engine in ("llm", "asr", "tts", "vad", "end_of_turn", "server_tool"):
    ENGINE_ERRORS.labels(engine=_engine)
    ENGINE_RETRIES.labels(engine=_engine)
