"""The store interface: API keys (with their caps), ephemeral tokens, resumption
snapshots and usage counters.

Two backends implement :class:`Store`: :mod:`openlive.store.sqlite` (one file, the
default) and :mod:`openlive.store.redis` (several openlive nodes sharing one Redis);
:func:`openlive.store.factory.open_store` picks one from a URL or a path.

Secrets are never stored: a key, a token name and a resumption handle are kept as the
SHA-256 of their text (all carry 256 random bits, so a slow password hash would add
latency without adding safety).

Time: every time is a float of epoch seconds. The store never reads the clock for a
decision; the caller passes ``now``, so tests are deterministic. (Key creation stamps
``created_at`` with the wall clock, as before; Redis also expires its entries on its own
clock, a while after they have expired by ``now``.)

Usage: each key's session seconds and tokens are counted per :class:`UsageWindow` (a UTC
day, a UTC month, or all time, as the key's :class:`KeyCaps` say). The caller names the
window (:func:`usage_window`); the store only adds to the counter atomically, across
every process sharing it, and returns the totals.

Errors: a credential the client presented and that cannot be used raises a leaf of
:class:`TokenRejected` or :class:`HandleRejected`. Both are
:class:`~openlive.errors.PolicyViolation` (close code 1008) with a ``reason`` a client can
read, so the I/O layer closes the socket with them as they are. The store failing
itself raises :class:`~openlive.errors.StoreError`.

Tree (under :class:`~openlive.errors.PolicyViolation`)::

    TokenRejected                 an ephemeral token cannot open a session
    ├── UnknownToken              no such token (never created, or long gone)
    ├── TokenRevoked              revoked by an operator, or its API key was
    ├── TokenExpired              past ``expireTime``
    ├── TokenClosedToNewSessions  past ``newSessionExpireTime``
    └── TokenUsedUp               all ``uses`` consumed
    HandleRejected                a resumption handle cannot be resumed
    ├── UnknownHandle             never saved, deleted, or long gone
    ├── ExpiredHandle             saved, but its time to live has passed
    └── ForeignHandle             saved by another key or token
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from openlive.errors import PolicyViolation

KEY_PREFIX = "ol_"
TOKEN_PREFIX = "auth_tokens/"


class Period(StrEnum):
    """When a key's usage counters start again from zero."""

    DAY = "day"  # at 00:00 UTC every day
    MONTH = "month"  # at 00:00 UTC on the 1st of every month
    TOTAL = "total"  # never


@dataclass(frozen=True, slots=True)
class KeyCaps:
    """Spending bounds of one API key; None means no cap.

    They bound every Live session opened with the key or with an ephemeral token it
    created, all nodes together, within one :class:`Period`.
    """

    max_session_seconds: float | None = None  # connected seconds of its sessions
    max_tokens: int | None = None  # prompt + response tokens reported in usageMetadata
    period: Period = Period.TOTAL

    def __post_init__(self) -> None:
        for name in ("max_session_seconds", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None (no cap), not {value}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key, without its secret."""

    id: str  # short public identifier, safe to log
    name: str
    created_at: float
    revoked: bool = False
    caps: KeyCaps = KeyCaps()


@dataclass(frozen=True, slots=True)
class UsageWindow:
    """The stretch of time one usage counter covers (see :func:`usage_window`)."""

    label: str  # "2025-06-01" (a day), "2025-06" (a month) or "total"
    ends_at: float | None  # epoch seconds when the next window starts; None: never


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """What the sessions of one key used in one window, all nodes together."""

    window: str  # the UsageWindow's label
    session_seconds: float = 0.0
    tokens: int = 0


def usage_window(period: Period, now: float) -> UsageWindow:
    """The window of ``period`` that contains ``now`` (UTC calendar days and months)."""
    if period is Period.TOTAL:
        return UsageWindow("total", None)
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAY:
        return UsageWindow(day.strftime("%Y-%m-%d"), day.timestamp() + 86400.0)
    month = day.replace(day=1)
    carry, index = divmod(month.month, 12)  # December (12) carries into January (0 + 1)
    after = month.replace(year=month.year + carry, month=index + 1)
    return UsageWindow(month.strftime("%Y-%m"), after.timestamp())


@dataclass(frozen=True, slots=True)
class Token:
    """A stored ephemeral token, without its name (the secret the client holds)."""

    id: str  # public identifier, safe to log; the owner of the sessions it opens
    key_id: str  # the API key that created it
    created_at: float
    expire_time: float  # no message is accepted at or after this time
    new_session_expire_time: float  # no new session opens at or after this time
    uses: int  # sessions it may open; 0 = unlimited (resuming does not count)
    used: int  # sessions it has opened
    # ``bidiGenerateContentSetup`` as JSON (left out of the hash, so tokens stay hashable)
    setup_constraints: dict[str, Any] | None = field(hash=False)
    field_mask: tuple[str, ...] | None  # locked setup fields; None = the whole setup
    revoked: bool = False

    @property
    def uses_left(self) -> int | None:
        """Sessions it may still open, or None when unlimited."""
        return None if self.uses == 0 else max(self.uses - self.used, 0)


def new_secret() -> str:
    """A fresh API key as the client will send it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_token_name() -> str:
    """A fresh ephemeral token name (``auth_tokens/…``) as the client will send it."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_token(
    key_id: str,
    *,
    now: float,
    expire_time: float,
    new_session_expire_time: float,
    uses: int,
    setup_constraints: dict[str, Any] | None,
    field_mask: list[str] | None,
) -> tuple[Token, str]:
    """A fresh token (nothing used yet) and its secret name, for a store to keep."""
    if uses < 0:
        raise ValueError(f"uses must be 0 (unlimited) or more, not {uses}")
    token = Token(
        id=new_id(), key_id=key_id, created_at=now, expire_time=expire_time,
        new_session_expire_time=new_session_expire_time, uses=uses, used=0,
        setup_constraints=setup_constraints,
        field_mask=None if field_mask is None else tuple(field_mask),
    )
    return token, new_token_name()


def new_handle() -> str:
    """A fresh, unguessable resumption handle for ``sessionResumptionUpdate.newHandle``."""
    return secrets.token_urlsafe(32)


def new_id() -> str:
    """A short public identifier for a token, safe to log and to show operators."""
    return secrets.token_hex(8)


def digest(secret: str) -> str:
    """The stored form of a secret (a key, a token name, a handle)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenRejected(PolicyViolation):
    """An ephemeral token cannot open a session; ``reason`` tells the client why (1008)."""


class UnknownToken(TokenRejected):
    def __init__(self) -> None:
        super().__init__("Ephemeral token not valid: unknown auth token.")


class TokenRevoked(TokenRejected):
    def __init__(self) -> None:
        super().__init__("Ephemeral token not valid: the token was revoked.")


class TokenExpired(TokenRejected):
    def __init__(self, expire_time: float) -> None:
        super().__init__(f"Ephemeral token not valid: token expired at {_utc(expire_time)}.")


class TokenClosedToNewSessions(TokenRejected):
    def __init__(self, new_session_expire_time: float) -> None:
        when = _utc(new_session_expire_time)
        super().__init__(f"Ephemeral token not valid: token not valid for new sessions after {when}.")


class TokenUsedUp(TokenRejected):
    def __init__(self) -> None:
        super().__init__("Ephemeral token not valid: token has no uses left.")


class HandleRejected(PolicyViolation):
    """A resumption handle cannot be resumed; ``reason`` tells the client why (1008)."""


class UnknownHandle(HandleRejected):
    def __init__(self) -> None:
        super().__init__("Session resumption handle not valid: unknown handle.")


class ExpiredHandle(HandleRejected):
    def __init__(self, expires_at: float) -> None:
        super().__init__(f"Session resumption handle not valid: expired at {_utc(expires_at)}.")


class ForeignHandle(HandleRejected):
    def __init__(self) -> None:
        super().__init__(
            "Session resumption handle not valid: it belongs to another API key or token."
        )


def token_problem(token: Token, now: float, *, new_session: bool) -> TokenRejected | None:
    """Why ``token`` cannot be used at ``now`` (to open a session if ``new_session``), or None.

    The backends apply it inside their atomic consume; the server rarely needs it directly.
    """
    if token.revoked:
        return TokenRevoked()
    if now >= token.expire_time:
        return TokenExpired(token.expire_time)
    if not new_session:
        return None
    if now >= token.new_session_expire_time:
        return TokenClosedToNewSessions(token.new_session_expire_time)
    if token.uses_left == 0:
        return TokenUsedUp()
    return None


def handle_problem(stored_owner: str, expires_at: float, owner: str,
                   now: float) -> HandleRejected | None:
    """Why a stored snapshot cannot be resumed by ``owner`` at ``now``, or None."""
    if stored_owner != owner:
        return ForeignHandle()
    if now >= expires_at:
        return ExpiredHandle(expires_at)
    return None


class KeyStore(Protocol):
    """API keys. Every method is blocking: call from a worker thread in async code."""

    def create_key(self, name: str, caps: KeyCaps | None = None) -> tuple[ApiKey, str]:
        """Create a key (with ``caps``, if given); return it and its secret (shown once,
        never stored)."""
        ...

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id (revoked ones too), or None."""
        ...

    def set_key_caps(self, key_id: str, caps: KeyCaps) -> ApiKey | None:
        """Replace the key's caps; return the updated key, or None if there is no such key.

        Running sessions pick the new caps up at their next sync with the store.
        """
        ...

    def verify_key(self, secret: str) -> ApiKey | None:
        """The live (not revoked) key with this secret, or None."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, key_id: str) -> bool:
        """Revoke by id; False if there is no such key."""
        ...

    def close(self) -> None: ...


class TokenStore(Protocol):
    """Ephemeral tokens. Blocking, like :class:`KeyStore`; safe to call from many threads."""

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
        """Store a token; return it and its name (``auth_tokens/…``, shown once).

        Call from ``POST …/auth_tokens`` once the API key is verified and the request's
        defaults and limits are applied (the store checks only that ``uses >= 0`` and
        that ``setup_constraints`` is JSON). ``uses`` 0 means unlimited.
        """
        ...

    def get_token(self, name: str) -> Token | None:
        """The token with this name (revoked and expired ones too), or None. No checks."""
        ...

    def check_token(self, name: str, now: float) -> Token:
        """The token, if it may still carry messages at ``now``; no use is consumed.

        Call when a session *resumes* with a token (resuming does not count as a use)
        and whenever a running session needs to know the token is still valid.
        Raises :class:`UnknownToken`, :class:`TokenRevoked` or :class:`TokenExpired`.
        """
        ...

    def consume_token_use(self, name: str, now: float) -> Token:
        """Open a *new* session with the token: check it and count one use, atomically.

        Call once per new connection, after the handshake and before ``setupComplete``.
        Of any number of concurrent callers, only as many as the token has uses left get
        through; the rest get :class:`TokenUsedUp`. Returns the token after the count.
        Raises a :class:`TokenRejected` leaf.
        """
        ...

    def list_tokens(self, key_id: str | None = None) -> list[Token]:
        """Tokens (of one key, or all) by creation time, for operators.

        Expired tokens may be listed until :meth:`Store.purge_expired` (SQLite)
        or Redis's own expiry removes them.
        """
        ...

    def revoke_token(self, token: str) -> bool:
        """Revoke by name (``auth_tokens/…``) or by id; False if there is no such token.

        Sessions already open keep running: the server checks the token when it next
        consults it (:meth:`check_token`).
        """
        ...


class SnapshotStore(Protocol):
    """Resumption snapshots: opaque bytes under a handle, bound to an owner.

    ``owner`` is whoever opened the session, as the server names it (for example
    ``key:<ApiKey.id>`` or ``token:<Token.id>``); only that owner may load it. Writes are
    atomic: a reader sees the previous snapshot or the new one, never a mix, and a crash
    mid-write leaves the previous one. Snapshots survive restarts.
    """

    def save_snapshot(
        self, handle: str, owner: str, data: bytes, *, ttl_seconds: float, now: float
    ) -> None:
        """Store ``data`` under ``handle`` (from :func:`new_handle`), replacing any earlier.

        Call each time the session reaches a point where it can be restored, before
        sending ``sessionResumptionUpdate`` with this handle. Valid until
        ``now + ttl_seconds``. Raises :class:`ForeignHandle` if another owner saved it.
        """
        ...

    def load_snapshot(self, handle: str, owner: str, now: float) -> bytes:
        """The snapshot under ``handle``, for a connection resuming as ``owner`` at ``now``.

        Raises :class:`UnknownHandle`, :class:`ForeignHandle` or :class:`ExpiredHandle`
        (in that order of checking). Loading does not delete: delete the old handle once
        the resumed session has saved under its new one.
        """
        ...

    def delete_snapshot(self, handle: str) -> bool:
        """Forget a snapshot; False if there was none."""
        ...


class UsageStore(Protocol):
    """Usage counters per key and :class:`UsageWindow`. Blocking; safe from many threads."""

    def add_usage(
        self, key_id: str, window: UsageWindow, *, session_seconds: float = 0.0,
        tokens: int = 0,
    ) -> KeyUsage:
        """Add to the key's counters in ``window``, atomically; return the new totals.

        Call as usage happens (per turn for tokens, now and then for seconds) so that
        every node sharing the store sees it; adding nothing just reads the totals.
        """
        ...

    def get_usage(self, key_id: str, window: UsageWindow) -> KeyUsage:
        """The key's totals in ``window`` (zeros if nothing was recorded)."""
        ...


class Store(KeyStore, TokenStore, SnapshotStore, UsageStore, Protocol):
    """Everything the server keeps: what :func:`~openlive.store.factory.open_store` returns."""

    def purge_expired(self, now: float) -> int:
        """Delete tokens, snapshots and usage windows that ended before ``now``; return how
        many.

        Call now and then (hourly is plenty) with ``now`` a grace period in the past, so
        clients get "expired" rather than "unknown" for a while. Redis expires entries
        itself; there it only tidies the indexes and returns 0.
        """
        ...
