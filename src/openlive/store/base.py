"""The store interface: API keys now; ephemeral tokens and resumption snapshots next.

Secrets are never stored: a key is kept as the SHA-256 of its text (keys are 256-bit
random, so a slow password hash would add latency without adding safety).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

KEY_PREFIX = "ol_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key, without its secret."""

    id: str  # short public identifier, safe to log
    name: str
    created_at: float
    revoked: bool = False


def new_secret() -> str:
    """A fresh API key as the client will send it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore(Protocol):
    """API keys. Every method is blocking: call from a worker thread in async code."""

    def create_key(self, name: str) -> tuple[ApiKey, str]:
        """Create a key; return it and its secret (shown once, never stored)."""
        ...

    def verify_key(self, secret: str) -> ApiKey | None:
        """The live (not revoked) key with this secret, or None."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, key_id: str) -> bool:
        """Revoke by id; False if there is no such key."""
        ...

    def close(self) -> None: ...
