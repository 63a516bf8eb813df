"""Log lines as JSON, and the session id on every line logged inside a session."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from openlive.logs import JsonFormatter, SessionIdFilter, current_session_id, session_scope


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """JSON lines of the ``test.logs`` logger, as configure_logging formats them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(SessionIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_time_level_logger_and_message(
        captured: io.StringIO) -> None:
    logging.getLogger("test.logs").warning("disk %s is %d%% full", "/var", 93)
    [entry] = lines(captured)
    assert entry["level"] == "warning" and entry["logger"] == "test.logs"
    assert entry["message"] == "disk /var is 93% full"
    assert str(entry["time"]).endswith("+00:00") and "session_id" not in entry


def test_an_exception_is_kept_in_the_line(captured: io.StringIO) -> None:
    try:
        raise ValueError("bad \"quote\"\nand a newline")
    except ValueError:
        logging.getLogger("test.logs").exception("it failed")
    [entry] = lines(captured)  # still one line: the traceback is escaped inside it
    assert "ValueError: bad \"quote\"" in str(entry["exception"])


async def test_tasks_started_in_a_session_log_its_id_and_others_do_not(
        captured: io.StringIO) -> None:
    log = logging.getLogger("test.logs")

    async def work(what: str) -> None:
        await asyncio.sleep(0)
        log.info(what)

    async def session(session_id: str) -> None:
        with session_scope(session_id):
            log.info("opened")
            await asyncio.gather(asyncio.create_task(work(f"task of {session_id}")),
                                 asyncio.to_thread(log.info, f"thread of {session_id}"))
        log.info(f"after {session_id}")

    await asyncio.gather(session("aaaa"), session("bbbb"))
    assert current_session_id() is None
    got = sorted((str(e["message"]), str(e.get("session_id"))) for e in lines(captured))
    assert got == sorted([("opened", "aaaa"), ("opened", "bbbb"),
                          ("task of aaaa", "aaaa"), ("task of bbbb", "bbbb"),
                          ("thread of aaaa", "aaaa"), ("thread of bbbb", "bbbb"),
                          ("after aaaa", "None"), ("after bbbb", "None")])
