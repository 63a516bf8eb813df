"""Who may open a Live session: an API key, or an ephemeral token made with one."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from openlive.errors import PolicyViolation
from openlive.protocol.endpoint import Credentials
from openlive.session.constraints import SetupConstraints
from openlive.store.base import Store


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. ``owner`` is safe to log and owns what it creates."""

    owner: str  # "key:<id>" or "token:<id>"
    key_id: str  # the API key behind it (a token's creator)
    constraints: SetupConstraints | None = None  # setup fields a token locks
    expires_at: float | None = None  # epoch seconds: a token's expireTime ends its sessions


ANONYMOUS = Principal(owner="anonymous", key_id="anonymous")


class Authenticator:
    """Checks credentials against the store (off-loop: the store blocks)."""

    def __init__(self, store: Store | None) -> None:
        self._store = store  # None: authentication disabled by the operator

    async def authenticate(self, credentials: Credentials, resuming: bool = False) -> Principal:
        """The principal behind ``credentials``; raise PolicyViolation (1008) otherwise.

        A token use is consumed here, atomically: call once per new session. A session
        that resumes (its setup names a handle) uses no token use, as on the Live API.
        """
        if self._store is None:
            return ANONYMOUS
        if credentials.token is not None:
            check = self._store.check_token if resuming else self._store.consume_token_use
            token = await asyncio.to_thread(check, credentials.token, time.time())
            constraints = None
            if token.setup_constraints is not None:
                constraints = SetupConstraints(token.setup_constraints, token.field_mask)
            return Principal(f"token:{token.id}", token.key_id, constraints,
                             expires_at=token.expire_time)
        return await self.authenticate_key(credentials.api_key)

    async def authenticate_key(self, api_key: str | None) -> Principal:
        """A principal for an API key only (REST calls such as creating tokens)."""
        if self._store is None:
            return ANONYMOUS
        if not api_key:
            raise PolicyViolation(
                "Missing API key: pass it in the x-goog-api-key header or the key= query."
            )
        key = await asyncio.to_thread(self._store.verify_key, api_key)
        if key is None:
            raise PolicyViolation("API key not valid. Please pass a valid API key.")
        return Principal(f"key:{key.id}", key.id)
