"""The shared store: Redis, for several openlive nodes serving one deployment.

Layout, under a configurable prefix (``openlive:``)::

    key:<sha256 of secret>       hash  id name created_at revoked
                                       [max_session_seconds max_tokens] period
    keys                         hash  key id -> sha256 of its secret
    usage:<key id>:<window>      hash  session_seconds tokens
    token:<sha256 of name>       hash  the Token's fields (JSON for constraints and mask)
    tokens                       hash  token id -> sha256 of its name (tidied lazily)
    snapshot:<sha256 of handle>  hash  owner saved_at expires_at data

Keys made before caps existed lack the cap fields and so have none. Usage counters are
added to with HINCRBYFLOAT/HINCRBY in one MULTI, which returns the new totals; a day's
or a month's counter expires ``grace_seconds`` after its window ends.

Decisions that read and then write (consuming a token use, overwriting a snapshot only
for its owner, changing a key's caps only if it exists) are Lua scripts, which Redis runs
one at a time: of any number of nodes consuming a 1-use token at once, exactly one gets
through. Tokens and snapshots carry a Redis TTL that ends ``grace_seconds`` after their
expiry by ``now``, so clients get "expired" rather than "unknown" for a while and Redis
then frees the memory itself.

Snapshots survive an openlive restart; surviving a *Redis* restart needs Redis
persistence (``appendonly yes``), which is the operator's choice.

The client is redis-py's synchronous one; its connection pool is thread-safe, so one
:class:`RedisStore` serves every worker thread of a node.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from openlive.errors import StoreError
from openlive.store.base import (
    TOKEN_PREFIX,
    ApiKey,
    ForeignHandle,
    KeyCaps,
    KeyUsage,
    Period,
    Token,
    UnknownHandle,
    UnknownToken,
    UsageWindow,
    digest,
    handle_problem,
    new_secret,
    new_token,
    token_problem,
)

DEFAULT_PREFIX = "openlive:"
DEFAULT_GRACE_SECONDS = 600.0

# KEYS[1] token hash; ARGV[1] now. Returns {1 if a use was counted else 0, fields before}.
_CONSUME = """
local t = redis.call('HGETALL', KEYS[1])
if #t == 0 then return {0, t} end
local f = {}
for i = 1, #t, 2 do f[t[i]] = t[i + 1] end
local now = tonumber(ARGV[1])
local uses = tonumber(f['uses'])
if f['revoked'] == '1' or now >= tonumber(f['expire_time'])
    or now >= tonumber(f['new_session_expire_time'])
    or (uses > 0 and tonumber(f['used']) >= uses) then
  return {0, t}
end
redis.call('HINCRBY', KEYS[1], 'used', 1)
return {1, t}
"""

# KEYS[1] snapshot hash; ARGV owner, saved_at, expires_at, data, ttl. 0 if foreign.
_SAVE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'saved_at', ARGV[2], 'expires_at', ARGV[3],
           'data', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS[1] a key hash; ARGV max_session_seconds, max_tokens ('' = no cap), period.
# Changes it only if it exists (never leaves a stub behind); 0 if it does not.
_SET_CAPS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local names = {'max_session_seconds', 'max_tokens'}
for i = 1, 2 do
  if ARGV[i] == '' then redis.call('HDEL', KEYS[1], names[i])
  else redis.call('HSET', KEYS[1], names[i], ARGV[i]) end
end
redis.call('HSET', KEYS[1], 'period', ARGV[3])
return 1
"""

# KEYS[1] a hash; sets revoked=1 only if it still exists (never leaves a stub behind).
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1
"""


class RedisStore:
    """:class:`~openlive.store.base.Store` on Redis (``redis://…`` or ``rediss://…``)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.grace_seconds = grace_seconds  # how long Redis keeps an entry past its expiry
        try:
            self._redis = redis.Redis.from_url(
                url, decode_responses=False, socket_connect_timeout=5.0, socket_timeout=10.0
            )
        except (ValueError, redis.RedisError) as exc:
            raise StoreError(f"cannot open the store at {url}: {exc}") from exc
        self._consume = self._redis.register_script(_CONSUME)
        self._save = self._redis.register_script(_SAVE)
        self._revoke = self._redis.register_script(_REVOKE)
        self._set_caps = self._redis.register_script(_SET_CAPS)

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _ttl(self, expires_at: float, now: float) -> int:
        return max(1, math.ceil(expires_at - now + self.grace_seconds))

    # API keys

    def create_key(self, name: str, caps: KeyCaps | None = None) -> tuple[ApiKey, str]:
        secret = new_secret()
        key = ApiKey(id=secrets.token_hex(4), name=name, created_at=time.time(),
                     caps=caps or KeyCaps())
        sha = digest(secret)
        fields: dict[FieldT, EncodableT] = {
            "id": key.id, "name": key.name, "created_at": repr(key.created_at),
            "revoked": "0", "period": key.caps.period.value,
        }
        fields.update({k: v for k, v in _cap_args(key.caps).items() if v != ""})
        with _errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("key", sha), mapping=fields)
            pipe.hset(self._k("keys"), key.id, sha)
            pipe.execute()
        return key, secret

    def verify_key(self, secret: str) -> ApiKey | None:
        with _errors():
            fields = self._redis.hgetall(self._k("key", digest(secret)))
        key = _key(fields) if fields else None
        return key if key is not None and not key.revoked else None

    def get_key(self, key_id: str) -> ApiKey | None:
        with _errors():
            sha = self._redis.hget(self._k("keys"), key_id)
            fields = self._redis.hgetall(self._k("key", _text(sha))) if sha else None
        return _key(fields) if fields else None

    def set_key_caps(self, key_id: str, caps: KeyCaps) -> ApiKey | None:
        with _errors():
            sha = self._redis.hget(self._k("keys"), key_id)
            if sha is None:
                return None
            args = [*_cap_args(caps).values(), caps.period.value]
            if not self._set_caps(keys=[self._k("key", _text(sha))], args=args):
                return None
        return self.get_key(key_id)

    def list_keys(self) -> list[ApiKey]:
        with _errors():
            shas = self._redis.hvals(self._k("keys"))
            hashes = self._fetch_all("key", shas)
        return sorted((_key(h) for h in hashes if h), key=lambda k: k.created_at)

    def revoke_key(self, key_id: str) -> bool:
        """Revoke by id, and every token the key created; False if there is no such key."""
        with _errors():
            sha = self._redis.hget(self._k("keys"), key_id)
            if sha is None or not self._revoke(keys=[self._k("key", _text(sha))]):
                return False
        for token in self.list_tokens(key_id):
            self.revoke_token(token.id)
        return True

    # Ephemeral tokens

    def create_token(
        self,
        key_id: str,
        *,
        now: float,
        expire_time: float,
        new_session_expire_time: float,
        uses: int,
        setup_constraints: dict[str, Any] | None,
        field_mask: list[str] | None,
    ) -> tuple[Token, str]:
        token, name = new_token(key_id, now=now, expire_time=expire_time,
                                new_session_expire_time=new_session_expire_time, uses=uses,
                                setup_constraints=setup_constraints, field_mask=field_mask)
        fields = _token_fields(token)
        sha = digest(name)
        with _errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("token", sha), mapping=fields)
            pipe.expire(self._k("token", sha), self._ttl(expire_time, now))
            pipe.hset(self._k("tokens"), token.id, sha)
            pipe.execute()
        return _token(fields), name  # a copy the caller cannot alias

    def get_token(self, name: str) -> Token | None:
        with _errors():
            fields = self._redis.hgetall(self._k("token", digest(name)))
        return _token(fields) if fields else None

    def check_token(self, name: str, now: float) -> Token:
        token = self.get_token(name)
        if token is None:
            raise UnknownToken()
        if problem := token_problem(token, now, new_session=False):
            raise problem
        return token

    def consume_token_use(self, name: str, now: float) -> Token:
        with _errors():
            counted, flat = self._consume(keys=[self._k("token", digest(name))], args=[repr(now)])
        if not flat:
            raise UnknownToken()
        token = _token(dict(zip(flat[::2], flat[1::2], strict=True)))
        if counted:
            return replace(token, used=token.used + 1)
        problem = token_problem(token, now, new_session=True)
        raise problem or StoreError("the token script refused a token the store accepts")

    def list_tokens(self, key_id: str | None = None) -> list[Token]:
        with _errors():
            index = self._redis.hgetall(self._k("tokens"))
            hashes = self._fetch_all("token", list(index.values()))
            gone = [tid for tid, h in zip(index, hashes, strict=True) if not h]
            if gone:
                self._redis.hdel(self._k("tokens"), *gone)
        tokens = (_token(h) for h in hashes if h)
        mine = [t for t in tokens if key_id is None or t.key_id == key_id]
        return sorted(mine, key=lambda t: t.created_at)

    def revoke_token(self, token: str) -> bool:
        with _errors():
            if token.startswith(TOKEN_PREFIX):
                sha: bytes | str | None = digest(token)
            else:
                sha = self._redis.hget(self._k("tokens"), token)
            if sha is None:
                return False
            return bool(self._revoke(keys=[self._k("token", _text(sha))]))

    # Resumption snapshots

    def save_snapshot(
        self, handle: str, owner: str, data: bytes, *, ttl_seconds: float, now: float
    ) -> None:
        expires_at = now + ttl_seconds
        args: list[EncodableT] = [owner, repr(now), repr(expires_at), data]
        args.append(self._ttl(expires_at, now))
        with _errors():
            saved = self._save(keys=[self._k("snapshot", digest(handle))], args=args)
        if not saved:
            raise ForeignHandle()

    def load_snapshot(self, handle: str, owner: str, now: float) -> bytes:
        with _errors():
            stored_owner, expires_at, data = self._redis.hmget(
                self._k("snapshot", digest(handle)), ["owner", "expires_at", "data"]
            )
        if stored_owner is None or expires_at is None or data is None:
            raise UnknownHandle()
        problem = handle_problem(_text(stored_owner), float(expires_at), owner, now)
        if problem is not None:
            raise problem
        return data if isinstance(data, bytes) else data.encode("utf-8")

    def delete_snapshot(self, handle: str) -> bool:
        with _errors():
            return bool(self._redis.delete(self._k("snapshot", digest(handle))))

    # Usage counters

    def add_usage(
        self, key_id: str, window: UsageWindow, *, session_seconds: float = 0.0,
        tokens: int = 0,
    ) -> KeyUsage:
        name = self._k("usage", key_id, window.label)
        with _errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrbyfloat(name, "session_seconds", float(session_seconds))
            pipe.hincrby(name, "tokens", int(tokens))
            if window.ends_at is not None:
                pipe.expireat(name, math.ceil(window.ends_at + self.grace_seconds))
            seconds, total, *_ = pipe.execute()
        return KeyUsage(window.label, float(seconds), int(total))

    def get_usage(self, key_id: str, window: UsageWindow) -> KeyUsage:
        with _errors():
            seconds, total = self._redis.hmget(
                self._k("usage", key_id, window.label), ["session_seconds", "tokens"])
        return KeyUsage(window.label, float(seconds or 0.0), int(total or 0))

    def purge_expired(self, now: float) -> int:
        """Redis expires tokens, snapshots and usage itself; this only tidies the token
        index."""
        self.list_tokens()
        return 0

    def close(self) -> None:
        self._redis.close()

    def _fetch_all(self, kind: str, shas: list[Any]) -> list[dict[Any, Any]]:
        """HGETALL of ``<kind>:<sha>`` for each sha, in one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for sha in shas:
                pipe.hgetall(self._k(kind, _text(sha)))
            return list(pipe.execute())


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise StoreError(f"store error: {exc}") from exc


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _key(fields: Mapping[Any, Any]) -> ApiKey:
    f = {_text(k): _text(v) for k, v in fields.items()}
    seconds, tokens = f.get("max_session_seconds"), f.get("max_tokens")
    caps = KeyCaps(
        max_session_seconds=None if seconds is None else float(seconds),
        max_tokens=None if tokens is None else int(tokens),
        period=Period(f.get("period", Period.TOTAL.value)),
    )
    return ApiKey(id=f["id"], name=f["name"], created_at=float(f["created_at"]),
                  revoked=f["revoked"] == "1", caps=caps)


def _cap_args(caps: KeyCaps) -> dict[str, str]:
    """The cap fields of a key hash as text; "" for no cap."""
    seconds, tokens = caps.max_session_seconds, caps.max_tokens
    return {"max_session_seconds": "" if seconds is None else repr(float(seconds)),
            "max_tokens": "" if tokens is None else str(tokens)}


def _token_fields(token: Token) -> dict[FieldT, EncodableT]:
    fields: dict[FieldT, EncodableT] = {
        "id": token.id, "key_id": token.key_id, "created_at": repr(token.created_at),
        "expire_time": repr(token.expire_time),
        "new_session_expire_time": repr(token.new_session_expire_time),
        "uses": str(token.uses), "used": str(token.used), "revoked": str(int(token.revoked)),
    }
    if token.setup_constraints is not None:
        fields["setup_constraints"] = json.dumps(token.setup_constraints)
    if token.field_mask is not None:
        fields["field_mask"] = json.dumps(list(token.field_mask))
    return fields


def _token(fields: Mapping[Any, Any]) -> Token:
    f = {_text(k): _text(v) for k, v in fields.items()}
    constraints, mask = f.get("setup_constraints"), f.get("field_mask")
    return Token(
        id=f["id"], key_id=f["key_id"], created_at=float(f["created_at"]),
        expire_time=float(f["expire_time"]),
        new_session_expire_time=float(f["new_session_expire_time"]),
        uses=int(f["uses"]), used=int(f["used"]),
        setup_constraints=None if constraints is None else json.loads(constraints),
        field_mask=None if mask is None else tuple(json.loads(mask)),
        revoked=f["revoked"] == "1",
    )
