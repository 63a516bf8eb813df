"""``openlive keys``: caps at creation, ``keys limit``, and usage in ``keys list``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from openlive.cli import main
from openlive.store.base import Period, usage_window
from openlive.store.factory import open_store


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(params=["sqlite", "redis"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """The store options of every command: the data dir's SQLite file, or a Redis DB."""
    if request.param == "sqlite":
        return ["--data-dir", str(tmp_path)]
    import redis

    # The CLI has no key prefix: a database of its own keeps other tests' keys apart.
    url = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return ["--data-dir", str(tmp_path), "--store", url]


def created_id(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stderr.split("created key ")[1].split()[0]


def line_of(where: list[str], key_id: str) -> list[str]:
    listed = run("keys", "list", *where)
    assert listed.exit_code == 0, listed.output
    [line] = [ln for ln in listed.stdout.splitlines() if ln.startswith(key_id + "\t")]
    return line.split("\t")


def test_create_with_caps_and_list_them(where: list[str]) -> None:
    key_id = created_id(run("keys", "create", *where, "--name", "web",
                            "--max-session-minutes", "60", "--max-tokens", "200000",
                            "--period", "day"))
    today = usage_window(Period.DAY, time.time()).label
    assert line_of(where, key_id) == [key_id, "web", "active", "session 0.0 of 60 min",
                                      "tokens 0 of 200000", f"per day ({today})"]


def test_a_key_without_caps_shows_its_usage_in_total(where: list[str], tmp_path: Path) -> None:
    key_id = created_id(run("keys", "create", *where))
    store = open_store(where[-1] if "--store" in where else tmp_path / "openlive.db")
    store.add_usage(key_id, usage_window(Period.TOTAL, 0), session_seconds=90.0, tokens=1234)
    store.close()
    assert line_of(where, key_id)[3:] == ["session 1.5 min", "tokens 1234", "in total"]


def test_limit_changes_only_what_it_is_given(where: list[str]) -> None:
    key_id = created_id(run("keys", "create", *where, "--max-tokens", "100"))
    changed = run("keys", "limit", key_id, *where, "--max-session-minutes", "0.5")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.split("\t")[3:5] == ["session 0.0 of 0.5 min", "tokens 0 of 100"]
    run("keys", "limit", key_id, *where, "--max-tokens", "0", "--period", "month")
    month = usage_window(Period.MONTH, time.time()).label
    assert line_of(where, key_id)[3:] == ["session 0.0 of 0.5 min", "tokens 0",
                                          f"per month ({month})"]


def test_limit_refuses_unknown_keys_and_empty_changes(where: list[str]) -> None:
    unknown = run("keys", "limit", "nope", *where, "--max-tokens", "5")
    assert unknown.exit_code == 1 and "no key with id nope" in unknown.stderr
    key_id = created_id(run("keys", "create", *where))
    empty = run("keys", "limit", key_id, *where)
    assert empty.exit_code == 2 and "nothing to change" in empty.output
    negative = run("keys", "limit", key_id, *where, "--max-tokens", "-1")
    assert negative.exit_code == 2


def test_help_explains_the_caps() -> None:
    assert "caps on the session time and the tokens" in run("keys", "--help").output
    limit = run("keys", "limit", "--help").output
    assert "--max-session-minutes" in limit and "0 = no cap" in limit
    create = run("keys", "create", "--help").output
    assert "--period [day|month|total]" in create and "[default: total]" in create


def test_keys_commands_read_the_data_dir_setting_from_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLIVE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OPENLIVE_STORE", raising=False)
    key_id = created_id(run("keys", "create"))
    assert (tmp_path / "openlive.db").is_file()
    assert line_of([], key_id)[:3] == [key_id, "default", "active"]
