"""How the server logs: lines for people, or one JSON object a line for a log collector,
and the id of the session a line was logged in.

The session id lives in a context variable. The server binds it when it accepts a Live
connection (:func:`session_scope`); asyncio copies the context into every task created
from there (the driver's reader and writer, generations, synthesis, recognition) and
``asyncio.to_thread`` into its thread, so a line logged anywhere below carries the id
without it being passed down. A line logged outside any session has none.

JSON lines are made here with orjson (already a dependency) rather than with a logging
library: one object of fixed keys per record is all a collector needs, and the standard
``logging`` records carry everything that goes in it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

import orjson

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Start-up lines an operator acts on (the first API key, where the CA is, the address).
#: In text they are printed bare; in JSON they are records like any other.
CONSOLE = "openlive.console"

logging.getLogger(CONSOLE).setLevel(logging.INFO)  # shown at any --log-level

_SESSION_ID: ContextVar[str | None] = ContextVar("openlive_session_id", default=None)


def current_session_id() -> str | None:
    """The id of the session the current task serves, if any."""
    return _SESSION_ID.get()


@contextlib.contextmanager
def session_scope(session_id: str) -> Iterator[None]:
    """Lines logged inside (and in the tasks started inside) carry ``session_id``."""
    token = _SESSION_ID.set(session_id)
    try:
        yield
    finally:
        _SESSION_ID.reset(token)


class SessionIdFilter(logging.Filter):
    """Puts the current session id on each record as ``record.session_id`` (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "session_id", None) is None:
            record.session_id = _SESSION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, and
    session_id, exception and stack when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        session_id = getattr(record, "session_id", None)
        if session_id is not None:
            entry["session_id"] = session_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Send every logger's records to stderr in ``log_format`` at ``level`` and up.

    The :data:`CONSOLE` lines go out whatever the level: an operator needs the first key.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SessionIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warnings.warn is a record too, not a bare line

    console = logging.getLogger(CONSOLE)
    for old in console.handlers[:]:
        console.removeHandler(old)
    if log_format == "text":
        bare = logging.StreamHandler(sys.stderr)
        bare.setFormatter(logging.Formatter("%(message)s"))
        console.addHandler(bare)
        console.propagate = False
    else:
        console.propagate = True


def say(line: str) -> None:
    """Tell the operator ``line`` at start-up (printed bare in text, a record in JSON)."""
    logger = logging.getLogger(CONSOLE)
    if logger.handlers or (logger.propagate and logging.getLogger().handlers):
        logger.info(line)
    else:  # logging was never set up (the server run from a program): still say it
        print(line, file=sys.stderr, flush=True)
