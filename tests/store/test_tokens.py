"""Ephemeral tokens on both backends: lifetime rules, revocation, and the use-count race."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

from openlive.errors import PolicyViolation
from openlive.store.base import (
    TOKEN_PREFIX,
    Store,
    Token,
    TokenClosedToNewSessions,
    TokenExpired,
    TokenRejected,
    TokenRevoked,
    TokenUsedUp,
    UnknownToken,
)

if TYPE_CHECKING:
    from tests.store.conftest import Backend

T0 = 1_900_000_000.0  # a fixed "now": the store never reads the clock itself
SETUP = {"model": "models/gemini-live-2.5-flash-preview",
         "generationConfig": {"responseModalities": ["AUDIO"], "temperature": 0.7}}


def make_token(store: Store, *, uses: int = 1, key_id: str = "k1", **kw: Any) -> tuple[Token, str]:
    args: dict[str, Any] = {
        "now": T0, "expire_time": T0 + 1800, "new_session_expire_time": T0 + 60,
        "uses": uses, "setup_constraints": SETUP, "field_mask": ["model"],
    }
    return store.create_token(key_id, **(args | kw))


def test_create_and_get(store: Store) -> None:
    token, name = make_token(store, uses=3)
    assert name.startswith(TOKEN_PREFIX) and len(name) > len(TOKEN_PREFIX) + 40
    assert token.id not in name
    assert store.get_token(name) == token
    assert token == Token(
        id=token.id, key_id="k1", created_at=T0, expire_time=T0 + 1800,
        new_session_expire_time=T0 + 60, uses=3, used=0, setup_constraints=SETUP,
        field_mask=("model",),
    )
    assert token.uses_left == 3
    assert store.get_token(name + "x") is None
    assert store.get_token("auth_tokens/nope") is None


def test_whole_setup_locked_and_no_constraints(store: Store) -> None:
    _, locked = make_token(store, field_mask=None)
    _, free = make_token(store, setup_constraints=None, field_mask=None)
    locked_token, free_token = store.get_token(locked), store.get_token(free)
    assert locked_token is not None and locked_token.field_mask is None
    assert locked_token.setup_constraints == SETUP
    assert free_token is not None and free_token.setup_constraints is None


def test_consume_counts_uses(store: Store) -> None:
    _, name = make_token(store, uses=2)
    assert store.consume_token_use(name, T0).used == 1
    after = store.consume_token_use(name, T0 + 1)
    assert after.used == 2 and after.uses_left == 0
    with pytest.raises(TokenUsedUp, match="token has no uses left"):
        store.consume_token_use(name, T0 + 2)
    token = store.get_token(name)
    assert token is not None and token.used == 2


def test_unlimited_uses(store: Store) -> None:
    _, name = make_token(store, uses=0)
    for i in range(25):
        token = store.consume_token_use(name, T0 + i)
    assert token.used == 25 and token.uses_left is None


def test_expired_token(store: Store) -> None:
    _, name = make_token(store, uses=0, new_session_expire_time=T0 + 1800)
    store.consume_token_use(name, T0 + 1799.5)
    with pytest.raises(TokenExpired, match="token expired at 2030-03-17T18:16:40Z"):
        store.consume_token_use(name, T0 + 1800)
    with pytest.raises(TokenExpired):
        store.check_token(name, T0 + 5000)


def test_new_session_expiry_does_not_end_resumption(store: Store) -> None:
    _, name = make_token(store, uses=5)
    store.consume_token_use(name, T0 + 59)
    with pytest.raises(TokenClosedToNewSessions, match="not valid for new sessions after"):
        store.consume_token_use(name, T0 + 60)
    # a session resuming with the token is not a new session: still fine until expireTime
    assert store.check_token(name, T0 + 1000).used == 1
    with pytest.raises(TokenExpired):
        store.check_token(name, T0 + 1800)


def test_check_does_not_consume(store: Store) -> None:
    _, name = make_token(store, uses=1)
    for _ in range(3):
        assert store.check_token(name, T0).used == 0
    store.consume_token_use(name, T0)
    assert store.check_token(name, T0).used == 1  # a used-up token may still resume


def test_unknown_token(store: Store) -> None:
    with pytest.raises(UnknownToken, match="unknown auth token"):
        store.consume_token_use("auth_tokens/made-up", T0)
    with pytest.raises(UnknownToken):
        store.check_token("auth_tokens/made-up", T0)


def test_rejections_close_the_session_with_1008(store: Store) -> None:
    _, name = make_token(store, uses=1)
    store.consume_token_use(name, T0)
    with pytest.raises(TokenRejected) as caught:
        store.consume_token_use(name, T0)
    assert isinstance(caught.value, PolicyViolation)
    assert caught.value.close_code == 1008 and caught.value.client_fault
    assert len(caught.value.reason.encode()) <= 123


def test_revoke_by_name_and_by_id(store: Store) -> None:
    _, name_a = make_token(store, uses=0)
    b, name_b = make_token(store, uses=0)
    assert store.revoke_token(name_a)
    assert store.revoke_token(b.id)
    assert not store.revoke_token("auth_tokens/nope") and not store.revoke_token("nope")
    for name in (name_a, name_b):
        with pytest.raises(TokenRevoked):
            store.consume_token_use(name, T0)
        with pytest.raises(TokenRevoked):
            store.check_token(name, T0)
    assert [t.revoked for t in store.list_tokens()] == [True, True]


def test_revoking_a_key_revokes_its_tokens(store: Store) -> None:
    key, _ = store.create_key("browser-app")
    _, mine = make_token(store, key_id=key.id)
    _, other = make_token(store, key_id="someone-else")
    assert store.revoke_key(key.id)
    with pytest.raises(TokenRevoked):
        store.consume_token_use(mine, T0)
    assert store.consume_token_use(other, T0).used == 1


def test_list_tokens(store: Store) -> None:
    a, _ = make_token(store, key_id="k1", now=T0)
    b, _ = make_token(store, key_id="k2", now=T0 + 1)
    c, _ = make_token(store, key_id="k1", now=T0 + 2)
    assert store.list_tokens() == [a, b, c]
    assert store.list_tokens("k1") == [a, c]
    assert store.list_tokens("k3") == []


def test_purge_expired(store: Store, backend: Backend) -> None:
    _, old = make_token(store, expire_time=T0 + 10)
    _, new = make_token(store, expire_time=T0 + 1000)
    purged = store.purge_expired(T0 + 500)
    assert store.get_token(new) is not None
    if backend.kind == "sqlite":  # Redis expires entries on its own clock instead
        assert purged == 1 and store.get_token(old) is None


def test_bad_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="uses"):
        make_token(store, uses=-1)


def test_name_is_never_stored(backend: Backend, store: Store) -> None:
    _, name = make_token(store)
    secret_part = name.removeprefix(TOKEN_PREFIX).encode()
    assert secret_part not in raw_contents(backend, store)


def test_tokens_persist_across_reopening(backend: Backend) -> None:
    first = backend.open()
    token, name = make_token(first, uses=2)
    first.consume_token_use(name, T0)
    first.close()
    again = backend.open()
    assert again.get_token(name) == Token(**{**_fields(token), "used": 1})
    assert again.consume_token_use(name, T0).used == 2


# The race: N connections arrive at once with the same token.


def race(stores: list[Store], name: str, callers: int) -> tuple[int, list[TokenRejected]]:
    """``callers`` threads, spread over ``stores``, consume at once; (winners, errors)."""
    start = threading.Barrier(callers)
    wins: list[Token] = []
    errors: list[TokenRejected] = []
    lock = threading.Lock()

    def connect(store: Store) -> None:
        start.wait()
        try:
            token = store.consume_token_use(name, T0 + 1)
        except TokenRejected as exc:  # anything else fails the thread, and the count
            with lock:
                errors.append(exc)
        else:
            with lock:
                wins.append(token)

    threads = [threading.Thread(target=connect, args=(stores[i % len(stores)],))
               for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return len(wins), errors


@pytest.mark.parametrize("clients", [1, 2, 50], ids=lambda n: f"{n}-clients")
@pytest.mark.parametrize("uses", [1, 3])
def test_fifty_simultaneous_connects(backend: Backend, clients: int, uses: int) -> None:
    """50 threads; ``clients`` store objects (SQLite connections / Redis clients) share them."""
    stores = [backend.open() for _ in range(clients)]
    _, name = make_token(stores[0], uses=uses)
    winners, errors = race(stores, name, callers=50)
    assert winners == uses
    assert len(errors) == 50 - uses
    assert all(isinstance(e, TokenUsedUp) for e in errors), errors
    token = stores[-1].get_token(name)
    assert token is not None and token.used == uses


def _fields(token: Token) -> dict[str, Any]:
    return {f: getattr(token, f) for f in Token.__dataclass_fields__}


def raw_contents(backend: Backend, store: Store) -> bytes:
    """Every byte the backend holds for this test (files, or Redis keys and values)."""
    if backend.kind == "sqlite":
        from openlive.store.sqlite import SqliteStore

        assert isinstance(store, SqliteStore)
        return b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
    import redis

    from openlive.store.redis import RedisStore

    assert isinstance(store, RedisStore)
    client = redis.Redis.from_url(store.url)
    out = []
    for key in client.scan_iter(match=store.prefix + "*"):
        out.append(key)
        value = client.hgetall(key) if client.type(key) == b"hash" else {key: client.get(key)}
        out.extend(b"=".join(_bytes(x) for x in kv) for kv in value.items())
    client.close()
    return b"\n".join(out)


def _bytes(value: bytes | str | None) -> bytes:
    return value.encode() if isinstance(value, str) else value or b""
