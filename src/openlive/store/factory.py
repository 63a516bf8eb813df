"""Pick the store backend from one setting: a Redis URL or a SQLite file path.

The Redis backend is imported only when asked for, so the ``redis`` package stays an
optional dependency of single-node deployments.
"""

from __future__ import annotations

from pathlib import Path

from openlive.errors import ConfigError
from openlive.store.base import Store

REDIS_SCHEMES = ("redis", "rediss")


def open_store(url_or_path: str | Path) -> Store:
    """Open the store: ``redis://…``/``rediss://…`` is Redis, anything else a SQLite file.

    Call once at start-up (server or CLI) and :meth:`~Store.close` it at shutdown.
    Raises :class:`~openlive.errors.ConfigError` when Redis is asked for but the
    ``redis`` package is missing, and :class:`~openlive.errors.StoreError` when the
    store cannot be opened.
    """
    scheme, sep, rest = str(url_or_path).partition("://")
    if sep and scheme.lower() in REDIS_SCHEMES:
        try:
            from openlive.store.redis import RedisStore
        except ImportError as exc:
            raise ConfigError(
                f"the Redis store needs the redis package (pip install redis): {exc}"
            ) from exc
        return RedisStore(scheme.lower() + sep + rest)  # schemes are case-insensitive
    from openlive.store.sqlite import SqliteStore

    return SqliteStore(Path(url_or_path).expanduser())
