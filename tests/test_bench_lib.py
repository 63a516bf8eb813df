"""The pure parts of the benchmarks' shared code (bench/lib): the percentiles, the
markdown tables, and the reading of the server's stage latencies. The benchmarks print
their results through these, so a change here changes every published number."""

from __future__ import annotations

import math
import time

import pytest

from bench.lib import stats, tables, trace


def test_pct_is_nearest_rank_on_the_sorted_values() -> None:
    values = [0.9, 0.1, 0.5, 0.3, 0.7]
    assert stats.pct(values, 0.0) == 0.1
    assert stats.pct(values, 0.5) == 0.5
    assert stats.pct(values, 0.95) == 0.9
    assert stats.pct(values, 1.0) == 0.9
    assert stats.pct([4.0, 1.0, 3.0, 2.0], 0.5) == 3.0  # rank round(1.5) = 2, not a mean
    assert values == [0.9, 0.1, 0.5, 0.3, 0.7]  # not sorted in place


def test_pct_of_nothing_is_nan() -> None:
    assert math.isnan(stats.pct([], 0.5))


def test_quantiles_skip_missing_values() -> None:
    n, p50, p95 = stats.quantiles([None, 2.0, None, 1.0, 3.0])
    assert (n, p50, p95) == (3, 2.0, 3.0)
    n, p50, _ = stats.quantiles([None])
    assert n == 0 and math.isnan(p50)


def test_rows_and_headers_are_markdown() -> None:
    assert tables.header("stage", "n", "p50") == ["| stage | n | p50 |", "|---|---|---|"]
    assert tables.row("a", 0, "", "") == "| a | 0 | | |"
    assert tables.row("", "on", "off") == "| | on | off |"
    assert tables.rule(2) == "|---|---|"


@pytest.mark.parametrize(("seconds", "digits", "text"), [
    (0.1234, 0, "123 ms"), (0.1234, 1, "123.4 ms"), (None, 0, "–"), (math.nan, 1, "–"),
    (2.0, 0, "2000 ms")])
def test_ms(seconds: float | None, digits: int, text: str) -> None:
    assert tables.ms(seconds, digits) == text


def test_mib() -> None:
    assert tables.mib(512 * 2**20) == "512 MiB"
    assert tables.mib(None) == "–"
    assert tables.mib(0) == "–"


def test_replace_section_replaces_only_its_own_section() -> None:
    text = "# B\n\n## Voice\n\nold\n\n## Text latency\n\nkept\n"
    new = tables.replace_section(text, "Voice", "## Voice\n\nnew\n", before="Text latency")
    assert new == "# B\n\n## Voice\n\nnew\n\n## Text latency\n\nkept\n"


def test_replace_section_puts_a_new_section_before_the_named_one_or_last() -> None:
    text = "# B\n\n## Text latency\n\nkept\n"
    before = tables.replace_section(text, "Voice", "## Voice\n\nnew\n", before="Text latency")
    assert before == "# B\n\n## Voice\n\nnew\n\n## Text latency\n\nkept\n"
    last = tables.replace_section(text, "Voice", "## Voice\n\nnew\n")
    assert last == "# B\n\n## Text latency\n\nkept\n\n## Voice\n\nnew\n"


METRICS = """\
# TYPE openlive_voice_stage_seconds histogram
openlive_voice_stage_seconds_bucket{le="0.1",stage="asr"} 2.0
openlive_voice_stage_seconds_bucket{le="0.2",stage="asr"} 6.0
openlive_voice_stage_seconds_bucket{le="+Inf",stage="asr"} 10.0
openlive_voice_stage_seconds_count{stage="asr"} 10.0
"""


def test_stage_buckets_are_read_from_the_metrics_text() -> None:
    assert trace.stage_buckets(METRICS) == {
        "asr": [(0.1, 2.0), (0.2, 6.0), (math.inf, 10.0)]}


def test_histogram_quantile_interpolates_inside_the_bucket_between_scrapes() -> None:
    before = [(0.1, 2.0), (0.2, 2.0), (math.inf, 2.0)]
    after = [(0.1, 2.0), (0.2, 6.0), (math.inf, 6.0)]
    # four new observations, all in (0.1, 0.2]: the median is halfway through it
    value, n = trace.histogram_quantile(before, after, 0.5)
    assert n == 4
    assert value == pytest.approx(0.15)


def test_histogram_quantile_past_the_last_bound_reports_that_bound() -> None:
    value, n = trace.histogram_quantile([], [(0.1, 1.0), (math.inf, 4.0)], 0.95)
    assert (value, n) == (0.1, 4)


def test_histogram_quantile_of_no_observations_is_nan() -> None:
    value, n = trace.histogram_quantile([(0.1, 3.0)], [(0.1, 3.0)], 0.5)
    assert math.isnan(value) and n == 0


def test_stage_quantiles_name_only_the_stages_scraped() -> None:
    buckets = trace.stage_buckets(METRICS)
    got = trace.stage_quantiles({}, buckets)
    assert list(got) == ["asr"]
    assert got["asr"]["n"] == 10


LOG = """\
2026-01-02 03:04:05,678 INFO openlive.runtime.trace: session abc1: turn latency \
endpoint 512 ms, asr 80 ms, first_audio 900 ms
2026-01-02 03:04:06,000 INFO openlive.runtime.driver: session abc1: heard hello
2026-01-02 03:04:09,100 INFO openlive.runtime.trace: session abc1: turn latency endpoint 300 ms
2026-01-02 03:04:09,200 INFO openlive.runtime.trace: session def2: turn latency asr 70 ms
"""


def test_turn_lines_are_per_session_in_order_in_seconds() -> None:
    lines = trace.turn_lines(LOG)
    assert list(lines) == ["abc1", "def2"]
    first, second = lines["abc1"]
    assert first["endpoint"] == pytest.approx(0.512)
    assert first["asr"] == pytest.approx(0.080)
    assert first["first_audio"] == pytest.approx(0.9)
    assert second["endpoint"] == pytest.approx(0.3)
    assert lines["def2"][0]["asr"] == pytest.approx(0.07)
    logged = time.mktime(time.strptime("2026-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")) + 0.678
    assert first["logged_at"] == pytest.approx(logged)
