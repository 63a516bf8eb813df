"""One conversation with a Wyoming server (Home Assistant's voice protocol), as openlive
needs it: connect, send events, read events, every failure an :class:`EngineError`.

Wyoming is JSON-lines events with binary payloads over TCP (the ``wyoming`` package reads
and writes them). A server handles one request at a time per connection, and the only
way to stop it mid-answer is to hang up; so each recognition or synthesis opens its own
connection, and cancelling the caller closes it. Addresses are written
``wyoming://host:port``.

Failures: a refused or reset connection, a server that hangs up mid-answer or goes
silent for ``timeout`` seconds are ``retryable`` (a restarted or less busy server may
answer); an ``error`` event is the server refusing this request, and is not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlparse

from openlive.engines.remote.http import reason
from openlive.errors import ConfigError, EngineError

SCHEME = "wyoming"


@dataclass(frozen=True, slots=True)
class WyomingAddress:
    """Where a Wyoming server listens."""

    host: str
    port: int

    @classmethod
    def parse(cls, uri: str) -> WyomingAddress:
        """``wyoming://host:port``; raises :class:`ConfigError` for anything else."""
        parsed = urlparse(uri)
        try:
            port = parsed.port
        except ValueError:
            port = None
        if parsed.scheme != SCHEME or not parsed.hostname or port is None:
            raise ConfigError(f"{uri!r} is not a Wyoming address; write wyoming://HOST:PORT")
        return cls(parsed.hostname, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{SCHEME}://{host}:{self.port}"


class Eventable(Protocol):
    """A ``wyoming`` message: ``Transcribe``, ``AudioChunk``, ``Synthesize``..."""

    def event(self) -> Any: ...


def is_wyoming(backend: str) -> bool:
    """Whether a backend setting names a Wyoming server."""
    return backend.startswith(f"{SCHEME}://")


class WyomingConnection:
    """An open connection to a Wyoming server; use as ``async with``.

    ``timeout`` bounds the connect and each wait for the server's next event.
    """

    def __init__(self, address: WyomingAddress, *, timeout: float) -> None:
        from wyoming.client import AsyncTcpClient  # only with a Wyoming engine configured

        self.address = address
        self._client = AsyncTcpClient(address.host, address.port, connect_timeout=timeout,
                                      read_timeout=timeout)

    async def __aenter__(self) -> Self:
        with self._errors("cannot reach"):
            await self._client.connect()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        # Hanging up is how a Wyoming request is cancelled; a socket already broken is fine.
        with contextlib.suppress(OSError, RuntimeError):
            await self._client.disconnect()

    async def send(self, *events: Eventable) -> None:
        """Write ``events`` in order."""
        with self._errors("lost the connection to"):
            for event in events:
                await self._client.write_event(event.event())

    async def events(self) -> AsyncIterator[Any]:
        """The server's events (``wyoming.event.Event``) until the caller stops reading.

        Raises EngineError (retryable) when the server hangs up, and (not retryable)
        for an ``error`` event.
        """
        from wyoming.error import Error

        while True:
            with self._errors("lost the connection to"):
                event = await self._client.read_event()
            if event is None:
                raise EngineError(f"{self.address} closed the connection mid-answer",
                                  retryable=True)
            if Error.is_type(event.type):
                error = Error.from_event(event)
                raise EngineError(f"{self.address} reported an error: {error.text}"
                                  + (f" ({error.code})" if error.code else ""))
            yield event

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except TimeoutError as exc:
            raise EngineError(f"{self.address} did not answer in time", retryable=True) from exc
        except asyncio.IncompleteReadError as exc:  # gone in the middle of an event
            raise EngineError(f"{self.address} closed the connection mid-answer",
                              retryable=True) from exc
        except OSError as exc:
            raise EngineError(f"{what} {self.address}: {reason(exc)}", retryable=True) from exc
