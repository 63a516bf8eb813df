"""What only the Redis store does: key prefixes, Redis-side expiry, errors as StoreError."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from openlive.errors import StoreError
from openlive.store.base import KeyCaps, Period, digest, new_handle, usage_window

pytest.importorskip("redis")
import redis  # after the skip: the package is needed for these tests only

from openlive.store.redis import RedisStore

T0 = 1_900_000_000.0


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_everything_lives_under_the_prefix(redis_url: str, client: redis.Redis) -> None:
    store = RedisStore(redis_url, prefix="acme-prod:")
    store.create_key("k")
    store.create_token("k", now=T0, expire_time=T0 + 60, new_session_expire_time=T0 + 10,
                       uses=1, setup_constraints=None, field_mask=None)
    store.save_snapshot(new_handle(), "key:k", b"x", ttl_seconds=60, now=T0)
    keys = sorted(k.decode().split(":")[1] for k in client.scan_iter(match="acme-prod:*"))
    assert keys == ["key", "keys", "snapshot", "token", "tokens"]
    other = RedisStore(redis_url, prefix="acme-staging:")
    assert other.list_keys() == [] and other.list_tokens() == []
    store.close()
    other.close()


def test_redis_expires_tokens_and_snapshots_after_a_grace(
    redis_url: str, client: redis.Redis
) -> None:
    store = RedisStore(redis_url, prefix="ttl-test:", grace_seconds=100)
    store.create_token("k", now=T0, expire_time=T0 + 1800, new_session_expire_time=T0 + 60,
                       uses=1, setup_constraints=None, field_mask=None)
    store.save_snapshot(new_handle(), "key:k", b"x", ttl_seconds=7200, now=T0)
    [token_key] = client.scan_iter(match="ttl-test:token:*")
    [snapshot_key] = client.scan_iter(match="ttl-test:snapshot:*")
    assert 1800 + 100 - 5 <= client.ttl(token_key) <= 1800 + 100
    assert 7200 + 100 - 5 <= client.ttl(snapshot_key) <= 7200 + 100
    store.close()


def test_vanished_tokens_leave_the_index(redis_url: str, client: redis.Redis) -> None:
    store = RedisStore(redis_url, prefix="tidy-test:")
    token, name = store.create_token("k", now=T0, expire_time=T0 + 60,
                                     new_session_expire_time=T0 + 10, uses=1,
                                     setup_constraints=None, field_mask=None)
    [token_key] = client.scan_iter(match="tidy-test:token:*")
    client.delete(token_key)  # what Redis's own expiry does
    assert store.purge_expired(T0) == 0
    assert store.list_tokens() == []
    assert client.hlen("tidy-test:tokens") == 0
    assert not store.revoke_token(token.id) and not store.revoke_token(name)
    assert list(client.scan_iter(match="tidy-test:token:*")) == []  # no stub left behind
    store.close()


def test_an_unreachable_server_is_a_store_error() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(StoreError, match="store error"):
        store.get_token("auth_tokens/x")
    with pytest.raises(StoreError):
        store.load_snapshot("h", "key:k", T0)
    store.close()


def test_a_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open the store"):
        RedisStore("http://localhost")


def test_usage_counters_expire_after_their_window(redis_url: str, client: redis.Redis) -> None:
    store = RedisStore(redis_url, prefix="usage-ttl:", grace_seconds=100)
    now = time.time()
    day = usage_window(Period.DAY, now)
    assert day.ends_at is not None
    store.add_usage("k1", day, tokens=5)
    store.add_usage("k1", usage_window(Period.TOTAL, now), tokens=5)
    ttl = client.ttl(f"usage-ttl:usage:k1:{day.label}")
    assert day.ends_at - now + 100 - 5 <= ttl <= day.ends_at - now + 100 + 1
    assert client.ttl("usage-ttl:usage:k1:total") == -1  # all-time counters stay
    store.close()


def test_a_key_from_before_caps_has_none(redis_url: str, client: redis.Redis) -> None:
    store = RedisStore(redis_url, prefix="old-key:")
    sha = digest("ol_old-secret")
    client.hset(f"old-key:key:{sha}", mapping={
        "id": "abcd1234", "name": "from 0.1", "created_at": "1.0", "revoked": "0"})
    client.hset("old-key:keys", "abcd1234", sha)
    key = store.verify_key("ol_old-secret")
    assert key is not None and key.caps == KeyCaps()
    changed = store.set_key_caps("abcd1234", KeyCaps(max_tokens=9, period=Period.DAY))
    assert changed is not None and changed.caps == KeyCaps(max_tokens=9, period=Period.DAY)
    store.close()
