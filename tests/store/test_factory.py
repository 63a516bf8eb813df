"""open_store picks the backend from the URL or path it is given."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openlive.errors import ConfigError
from openlive.store.factory import open_store
from openlive.store.sqlite import SqliteStore


def test_a_path_is_a_sqlite_file(tmp_path: Path) -> None:
    for where in (tmp_path / "a.db", str(tmp_path / "b.db")):
        store = open_store(where)
        assert isinstance(store, SqliteStore) and store.path == Path(where)
        store.close()


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "rediss://cache.example:6380",
                                 "REDIS://localhost"])
def test_a_redis_url_is_redis(url: str) -> None:
    pytest.importorskip("redis")
    from openlive.store.redis import RedisStore

    store = open_store(url)  # connects lazily: no server needed to pick the backend
    assert isinstance(store, RedisStore) and store.url.lower() == url.lower() and store.prefix == "openlive:"
    store.close()


def test_redis_without_its_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what a missing package looks like
    monkeypatch.delitem(sys.modules, "openlive.store.redis", raising=False)
    with pytest.raises(ConfigError, match="pip install redis"):
        open_store("redis://localhost")


def test_a_relative_path_with_a_colon_is_still_a_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("data/redis-cache.db")
    assert isinstance(store, SqliteStore) and (tmp_path / "data" / "redis-cache.db").exists()
    store.close()
