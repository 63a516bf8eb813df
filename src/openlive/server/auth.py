"""Who may open a Live session: API keys by default, or nobody-checks when disabled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from openlive.errors import PolicyViolation
from openlive.protocol.endpoint import Credentials
from openlive.store.base import KeyStore


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller; ``key_id`` is safe to log."""

    key_id: str


ANONYMOUS = Principal(key_id="anonymous")


class Authenticator:
    """Checks credentials against the key store (off-loop: the store blocks)."""

    def __init__(self, keys: KeyStore | None) -> None:
        self._keys = keys  # None: authentication disabled by the operator

    async def authenticate(self, credentials: Credentials) -> Principal:
        """The principal behind ``credentials``; raise PolicyViolation (1008) otherwise."""
        if self._keys is None:
            return ANONYMOUS
        if credentials.token is not None:
            raise PolicyViolation("Ephemeral token not valid: unknown or expired auth token.")
        if not credentials.api_key:
            raise PolicyViolation(
                "Missing API key: pass it in the x-goog-api-key header or the key= query."
            )
        key = await asyncio.to_thread(self._keys.verify_key, credentials.api_key)
        if key is None:
            raise PolicyViolation("API key not valid. Please pass a valid API key.")
        return Principal(key_id=key.id)
