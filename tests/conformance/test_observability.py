"""What an operator watches, on a real ``openlive serve``: JSON log lines that name their
session, the barge-in and interruption counters on ``/metrics``, and the Grafana dashboard
in docs/, whose every query must name a metric the server exports."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conformance.conftest import ROOT, Server, running_server
from tests.conformance.speech import spoken
from tests.conformance.test_voice_and_realmodel import OTHER_QUESTION, QUESTION, run_client

pytestmark = [pytest.mark.conformance]

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
SESSION_IN_MESSAGE = re.compile(r"\bsession ([0-9a-f]{16})\b")
# the suffixes a sample of each metric type may carry (Prometheus text format)
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created")}


def scrape(server: Server) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def value(text: str, sample: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"{sample}{labels} is not in /metrics")


def test_json_logs_parse_and_name_their_session(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    args = ("--log-format", "json")  # with the voice engines: their libraries log too
    with running_server(tmp_path_factory, "tests.fakes.llm:create", args) as server:
        # a voice turn: its work starts from the VAD's callbacks, outside the session's
        # task, and must still be logged under its id
        result = run_client(server, {"mode": "voice", "rate": 16000,
                                     "out": str(tmp_path / "answer.pcm"),
                                     "pcm": str(spoken(tmp_path, QUESTION))})
        assert result["flags"][-1] == "turn_complete", result
    lines = server.log.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]  # every line parses
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    in_session = [e for e in entries if SESSION_IN_MESSAGE.search(e["message"])]
    ids = {SESSION_IN_MESSAGE.search(e["message"]).group(1) for e in in_session}  # type: ignore[union-attr]
    assert len(ids) == 1, in_session  # the one session the client opened
    for entry in in_session:
        assert entry.get("session_id") in ids, entry
    # the session's lines come from the server, the driver's tasks (what was heard) and
    # the latency trace of the turn the VAD ended
    loggers = {e["logger"] for e in in_session}
    assert {"openlive.server", "openlive.session", "openlive.latency"} <= loggers, loggers
    assert any(e["message"].startswith(f"session {e['session_id']}: heard ")
               for e in in_session), in_session
    # lines outside any session carry none (start-up, the operator's hints)
    assert any("session_id" not in e and "SSL_CERT_FILE" in e["message"] for e in entries)


def test_a_barge_in_is_counted_with_its_interruption(openlive_server: Server,
                                                     tmp_path: Path) -> None:
    before = scrape(openlive_server)
    pcm = spoken(tmp_path, "Tell me everything you know about the history of France.")
    over = spoken(tmp_path, OTHER_QUESTION)
    result = run_client(openlive_server, {"mode": "barge_in", "rate": 16000, "pcm": str(pcm),
                                          "pcm2": str(over)})
    assert "interrupted" in result["first"]["flags"], result
    after = scrape(openlive_server)
    assert (value(after, "openlive_barge_ins_total")
            >= value(before, "openlive_barge_ins_total") + 1)
    assert (value(after, "openlive_interruptions_total", cause="speech")
            >= value(before, "openlive_interruptions_total", cause="speech") + 1)
    assert (value(after, "openlive_engine_errors_total", engine="asr")
            == value(before, "openlive_engine_errors_total", engine="asr"))


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert panels and all(p.get("targets") for p in panels)
    return [t["expr"] for p in panels for t in p["targets"]]


def test_the_dashboard_queries_only_metrics_the_server_exports(openlive_server: Server) -> None:
    run_client(openlive_server, {"mode": "text", "prompt": "hello there"})  # some samples
    families = {f.name: f for f in text_string_to_metric_families(scrape(openlive_server))}
    queried: set[str] = set()
    for expr in dashboard_queries():
        grouped = {label.strip() for labels in re.findall(r"\bby \(([^)]*)\)", expr)
                   for label in labels.split(",")} - {"instance", "le"}
        for name, selector in re.findall(r"\b(openlive_[a-z_]+)(\{[^}]*\})?", expr):
            queried.add(name)
            matches = [f for base, f in families.items() if name.startswith(base)
                       and name[len(base):] in SUFFIXES.get(f.type, ())]
            assert matches, f"{name} (in {expr!r}) is not exported on /metrics"
            [family] = matches
            labels = set(re.findall(r"(\w+)\s*=~?", selector)) - {"instance"} | grouped
            for sample in family.samples:  # a label filtered on must be one it has
                assert labels <= set(sample.labels), (name, labels, sample)
    # the panels the dashboard promises
    for promised in ("openlive_sessions_active", "openlive_voice_stage_seconds_bucket",
                     "openlive_barge_ins_total", "openlive_interruptions_total",
                     "openlive_engine_errors_total"):
        assert promised in queried, promised
