"""A google-genai (Python) program as a user writes it, for the openlive conformance suite.

Usage::

    GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT GEMINI_API_KEY=KEY SSL_CERT_FILE=ca.pem \\
        python py_client.py SCENARIO [SCENARIO ...] [--model MODEL]

It is configured exactly the way users redirect the SDK: ``genai.Client()`` with no
arguments picks up ``GOOGLE_GEMINI_BASE_URL``, ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``),
``GOOGLE_GENAI_API_VERSION`` (honoured by google-genai >= 3.0 only) and the TLS trust in
``SSL_CERT_FILE`` (the Live socket is always ``wss://`` from Python, whatever the base URL's
scheme). It runs on google-genai 1.20 .. 3.x and uses only the public API, with one
exception: ``malformed_frame`` / ``malformed_content`` reach the session's private websocket
(``session._ws.send(...)``), because no public method can put an invalid frame on the wire.

It prints ONE JSON line on stdout describing what the SDK handed back and exits 0, also when
the scenario ended in an (expected) error; diagnostics go to stderr. Given several scenarios,
it runs them concurrently (one client and session each) and prints one line per scenario, in
the order given. Exit status 2 means the
program was called wrongly.

Result::

    {"sdk": "python", "sdk_version": "3.6.1", "scenario": "text_turn", "model": "...",
     "setup_complete": true,
     "turns": [{"text": "[messages=1] hello there", "texts": ["[messages=1]", " hello", ...],
                "events": ["text", ..., "generationComplete", "turnComplete", "usage"],
                "usage": {"prompt": 2, "response": 3, "total": 5, "raw": {...}},
                "turn_complete": true}],
     "error": null | {"type": "google.genai.errors.APIError", "code": 1008, "reason": "...",
                      "message": "...", "phase": "connect" | "receive" | "send"}}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from importlib.metadata import version as dist_version
from typing import Any

from google import genai
from google.genai import types

DEFAULT_MODEL = "gemini-live-2.5-flash-preview"
UNKNOWN_MODEL = "no-such-model-for-conformance"
SYSTEM_INSTRUCTION = "You are a terse test assistant."
WAIT_SECONDS = float(os.environ.get("CONFORMANCE_CLIENT_WAIT_S", "20"))

SCENARIOS = (
    "text_turn",
    "history",
    "bad_key",
    "unknown_model",
    "malformed_frame",
    "malformed_content",
    "realtime_text",
    "system_instruction",
)


class Phase:
    """Where the scenario is, so that an error can say in which SDK call it surfaced."""

    def __init__(self) -> None:
        self.name = "connect"


def _usage(usage: Any) -> dict[str, Any] | None:
    if usage is None:
        return None
    raw = usage.model_dump(mode="json", exclude_none=True)
    return {
        "prompt": usage.prompt_token_count,
        "response": getattr(usage, "response_token_count", None),
        "total": usage.total_token_count,
        "raw": raw,
    }


def _events(message: types.LiveServerMessage) -> list[str]:
    """Short tags for what one LiveServerMessage carried, in wire order of importance."""
    tags: list[str] = []
    if message.setup_complete is not None:
        tags.append("setupComplete")
    content = message.server_content
    if content is not None:
        if content.model_turn is not None:
            tags.append("text" if message.text is not None else "modelTurn")
        for field, tag in (
            ("interrupted", "interrupted"),
            ("generation_complete", "generationComplete"),
            ("turn_complete", "turnComplete"),
        ):
            if getattr(content, field, None):
                tags.append(tag)
    for field, tag in (
        ("tool_call", "toolCall"),
        ("tool_call_cancellation", "toolCallCancellation"),
        ("go_away", "goAway"),
        ("session_resumption_update", "sessionResumptionUpdate"),
        ("usage_metadata", "usage"),
    ):
        if getattr(message, field, None) is not None:
            tags.append(tag)
    return tags


async def _receive_turn(session: Any) -> dict[str, Any]:
    """One ``session.receive()`` iteration = one model turn (the SDK stops at turnComplete)."""
    texts: list[str] = []
    events: list[str] = []
    usage: dict[str, Any] | None = None
    turn_complete = False
    async for message in session.receive():
        events.extend(_events(message))
        if message.text is not None:
            texts.append(message.text)
        if message.usage_metadata is not None:
            usage = _usage(message.usage_metadata)
        if message.server_content is not None and message.server_content.turn_complete:
            turn_complete = True
    return {
        "text": "".join(texts),
        "texts": texts,
        "events": events,
        "usage": usage,
        "turn_complete": turn_complete,
    }


def _content(role: str, text: str) -> types.Content:
    return types.Content(role=role, parts=[types.Part(text=text)])


async def _send_turns(session: Any, turns: list[types.Content], turn_complete: bool) -> None:
    # send_client_content exists from google-genai 1.5; the deprecated send() is the fallback.
    if hasattr(session, "send_client_content"):
        await session.send_client_content(turns=turns, turn_complete=turn_complete)
    else:  # pragma: no cover - older than every version in the matrix
        for i, turn in enumerate(turns):
            await session.send(input=turn, end_of_turn=turn_complete and i == len(turns) - 1)


async def _scenario(name: str, model: str, result: dict[str, Any], phase: Phase) -> None:
    client = genai.Client()  # everything comes from the environment, as for users
    config: dict[str, Any] = {"response_modalities": ["TEXT"]}
    if name == "system_instruction":
        config["system_instruction"] = SYSTEM_INSTRUCTION
    if name == "unknown_model":
        model = UNKNOWN_MODEL
    result["model"] = model

    phase.name = "connect"
    async with client.aio.live.connect(model=model, config=config) as session:
        result["setup_complete"] = True
        turns: list[dict[str, Any]] = result["turns"]

        if name in ("text_turn", "bad_key", "unknown_model", "system_instruction"):
            phase.name = "send"
            await _send_turns(session, [_content("user", "hello there")], True)
            phase.name = "receive"
            turns.append(await _receive_turn(session))
            if name == "text_turn":
                # A second turn: the model's first reply must be in the context now.
                phase.name = "send"
                await _send_turns(session, [_content("user", "second turn")], True)
                phase.name = "receive"
                turns.append(await _receive_turn(session))

        elif name == "history":
            phase.name = "send"
            await _send_turns(
                session,
                [_content("user", "my name is Ada"), _content("model", "nice to meet you")],
                False,
            )
            await _send_turns(session, [_content("user", "what is my name")], True)
            phase.name = "receive"
            turns.append(await _receive_turn(session))

        elif name == "realtime_text":
            phase.name = "send"
            await session.send_realtime_input(text="hello realtime")
            phase.name = "receive"
            turns.append(await _receive_turn(session))

        elif name in ("malformed_frame", "malformed_content"):
            # The ONLY private access in this program: no public SDK method can send a frame
            # that is not valid JSON / not a valid message, so write to the websocket itself.
            phase.name = "send"
            if name == "malformed_frame":
                await session._ws.send("this is not json")
            else:
                await session._ws.send(json.dumps({"client_content": {"turns": "notalist"}}))
            phase.name = "receive"
            turns.append(await _receive_turn(session))

        else:  # pragma: no cover - guarded by argparse
            raise AssertionError(name)


def _error(exc: BaseException, phase: str) -> dict[str, Any]:
    """What the SDK raised, reduced to type / close code / reason.

    google-genai 2.19 and 3.6.1 wrap a close frame in ``errors.APIError(code, reason)`` (``.code``,
    ``.details`` = reason); 1.20 lets websockets' ``ConnectionClosed`` (``.rcvd.code``,
    ``.rcvd.reason``) escape; a refused upgrade is websockets' ``InvalidStatus``.
    """
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    err: dict[str, Any] = {
        "type": kind,
        "message": str(exc),
        "phase": phase,
        "code": None,
        "reason": None,
    }
    from google.genai import errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        err["code"] = exc.code
        details = exc.details
        err["reason"] = details if isinstance(details, str) else json.dumps(details)
        return err
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:  # websockets.exceptions.ConnectionClosed
        err["code"] = rcvd.code
        err["reason"] = rcvd.reason
        return err
    if hasattr(exc, "rcvd"):  # ConnectionClosed without a close frame
        err["code"] = 1006
        err["reason"] = ""
        return err
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:  # websockets.exceptions.InvalidStatus (upgrade refused)
        err["code"] = int(status)
        body = getattr(response, "body", b"") or b""
        err["reason"] = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return err


async def run(name: str, model: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "sdk": "python",
        "sdk_version": dist_version("google-genai"),
        "scenario": name,
        "model": model,
        "setup_complete": False,
        "turns": [],
        "error": None,
    }
    phase = Phase()
    try:
        # Give up before the test runner's own timeout so that the result says where it hung.
        await asyncio.wait_for(_scenario(name, model, result, phase), WAIT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - the result reports whatever the SDK raised
        print(f"[{name}] {phase.name}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        result["error"] = _error(exc, phase.name)
    return result


async def run_all(names: list[str], model: str) -> list[dict[str, Any]]:
    """Several scenarios at once, each on its own client and session (saves start-up time)."""
    return list(await asyncio.gather(*(run(name, model) for name in names)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenario",
        nargs="+",
        choices=SCENARIOS,
        help="one or more scenarios, run concurrently; one JSON line each",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    for result in asyncio.run(run_all(args.scenario, args.model)):
        sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
