"""Store fixtures: every behaviour test runs on SQLite and on a real ``redis-server``.

The Redis server comes from the ``redis_url`` fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openlive.store.base import Store


class Backend:
    """Opens stores on one backing (a SQLite file, or a Redis prefix) and closes them."""

    def __init__(self, kind: str, open_store: Callable[[], Store]) -> None:
        self.kind = kind
        self._open = open_store
        self._opened: list[Store] = []

    def open(self) -> Store:
        """A new store object (a new connection or client) on the same data."""
        store = self._open()
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        from openlive.store.sqlite import SqliteStore

        backend = Backend("sqlite", lambda: SqliteStore(tmp_path / "openlive.db"))
    else:
        from openlive.store.redis import RedisStore

        url = request.getfixturevalue("redis_url")
        prefix = f"test-{uuid.uuid4().hex[:12]}:"  # each test sees an empty store
        backend = Backend("redis", lambda: RedisStore(url, prefix=prefix))
    yield backend
    backend.close_all()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()
