"""50 simultaneous Live connects with a 1-use ephemeral token let exactly one in.

Through the real server, with the SQLite store and with Redis shared by two openlive nodes
(the connections spread over both). The racers are plain ``websockets`` clients doing what
the SDKs do on the wire (spec §1): half present the token as ``?access_token=`` (the JS SDK),
half as ``Authorization: Token`` (the Python SDK), on ``v1alpha`` ``BidiGenerateContent
Constrained``, and send the setup at once. All of them wait on one event and then connect in
the same event-loop turn, so the server sees 50 handshakes at the same moment (the summary
each race prints, with ``-s``, says how many handshakes were done before the first answer).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conformance.conftest import Server, running_server

pytestmark = [pytest.mark.conformance]
RACERS = 50
PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
SETUP = {"setup": {"model": "models/gemini-live-2.5-flash-preview",
                   "generationConfig": {"responseModalities": ["TEXT"]}}}
USED_UP = "Ephemeral token not valid: token has no uses left."
WAIT_S = 15.0


@dataclass(frozen=True)
class Outcome:
    node: int  # which server the racer connected to
    kind: str  # "in" (setupComplete), "closed" (a close frame), "error" (anything else)
    code: int | None = None
    reason: str = ""
    opened_at: float = 0.0  # handshake done, seconds after the start
    ended_at: float = 0.0  # setupComplete or close, seconds after the start


def create_token(server: Server, uses: int = 1) -> str:
    """``POST /v1alpha/auth_tokens`` with the server's API key, as the SDKs send it (§9)."""
    now = dt.datetime.now(dt.UTC)
    body = {"uses": uses, "expireTime": (now + dt.timedelta(minutes=5)).isoformat(),
            "newSessionExpireTime": (now + dt.timedelta(minutes=1)).isoformat()}
    request = urllib.request.Request(
        f"{server.base_url('http')}/v1alpha/auth_tokens", data=json.dumps(body).encode(),
        headers={"x-goog-api-key": server.key, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        name: str = json.load(response)["name"]
    assert name.startswith("auth_tokens/"), name
    return name


@dataclass
class Track:
    """What the racers share: the start signal, the start time, who got in, the end."""

    start: asyncio.Event
    done: asyncio.Event
    t0: float = 0.0
    admitted: int = 0


async def _racer(i: int, server: Server, node: int, token: str, track: Track) -> Outcome:
    url = f"ws://127.0.0.1:{server.port}{PATH}"
    headers: dict[str, str] = {}
    if i % 2:
        headers["Authorization"] = f"Token {token}"
    else:
        url += f"?access_token={token}"
    await track.start.wait()
    opened_at = 0.0
    try:
        async with websockets.connect(url, additional_headers=headers, proxy=None,
                                      open_timeout=WAIT_S, max_queue=None) as ws:
            opened_at = time.monotonic() - track.t0
            await ws.send(json.dumps(SETUP))
            first = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            ended_at = time.monotonic() - track.t0
            if "setupComplete" not in first:
                return Outcome(node, "error", reason=f"first message: {first}")
            track.admitted += 1
            await track.done.wait()  # stay connected while the others race
            return Outcome(node, "in", opened_at=opened_at, ended_at=ended_at)
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        return Outcome(node, "closed", rcvd.code if rcvd else None, rcvd.reason if rcvd else "",
                       opened_at, time.monotonic() - track.t0)
    except Exception as exc:  # noqa: BLE001 - any other failure is an outcome to report
        return Outcome(node, "error", reason=f"{type(exc).__name__}: {exc}", opened_at=opened_at)


async def _race(servers: list[Server], token: str) -> list[Outcome]:
    track = Track(asyncio.Event(), asyncio.Event())
    tasks = [asyncio.create_task(_racer(i, servers[i % len(servers)], i % len(servers), token,
                                        track))
             for i in range(RACERS)]
    await asyncio.sleep(0.05)  # every racer is parked on the start signal
    track.t0 = time.monotonic()
    track.start.set()
    # Those let in stay connected until every racer has its answer.
    while sum(t.done() for t in tasks) + track.admitted < RACERS:
        if time.monotonic() - track.t0 > 2 * WAIT_S:
            break
        await asyncio.sleep(0.02)
    track.done.set()
    return list(await asyncio.gather(*tasks))


def race(servers: list[Server], uses: int = 1) -> tuple[list[Outcome], str]:
    """One race with a fresh token made on the first node; the outcomes and a summary."""
    token = create_token(servers[0], uses)
    outcomes = asyncio.run(_race(servers, token))
    kinds = Counter((o.kind, o.code, o.reason) for o in outcomes)
    opened = [o.opened_at for o in outcomes if o.opened_at]
    first_end = min((o.ended_at for o in outcomes if o.ended_at), default=0.0)
    overlap = sum(1 for t in opened if t <= first_end)
    per_node = Counter((o.node, o.kind) for o in outcomes)
    summary = (f"{RACERS} racers, {uses}-use token, {len(servers)} node(s): {dict(kinds)}; "
               f"per node {dict(per_node)}; handshakes done in {max(opened, default=0):.3f} s, "
               f"{overlap} of them before the first answer; all answered in "
               f"{max(o.ended_at for o in outcomes):.3f} s")
    print(summary)
    return outcomes, summary


def check(outcomes: list[Outcome], summary: str, uses: int = 1) -> None:
    """Exactly ``uses`` racers got setupComplete; every other one a 1008 "no uses left"."""
    admitted = [o for o in outcomes if o.kind == "in"]
    refused = [o for o in outcomes if (o.kind, o.code, o.reason) == ("closed", 1008, USED_UP)]
    others = [o for o in outcomes if o.kind != "in" and o not in refused]
    assert len(admitted) == uses, summary
    assert len(refused) == RACERS - uses and not others, f"{summary}\nunexpected: {others[:5]}"


# A store that counts without atomicity (read, check, write) lets two or more in on most
# rounds, not all: tried by hand with such a store on Redis, 7 rounds of 8 caught it.
ROUNDS = 3


def test_fifty_connects_one_use_sqlite(openlive_server: Server) -> None:
    for _ in range(ROUNDS):
        check(*race([openlive_server]))


def test_fifty_connects_one_use_redis_two_nodes(tmp_path_factory: pytest.TempPathFactory,
                                                redis_url: str) -> None:
    args = ("--no-voice", "--store", redis_url)
    with running_server(tmp_path_factory, "tests.fakes.llm:create", args) as a, \
            running_server(tmp_path_factory, "tests.fakes.llm:create", args) as b:
        for _ in range(ROUNDS):
            outcomes, summary = race([a, b])
            check(outcomes, summary)
            # both nodes took part: each turned racers away
            assert {o.node for o in outcomes if o.kind == "closed"} == {0, 1}, summary


def test_three_use_token_lets_three_in(openlive_server: Server) -> None:
    """The same race with a 3-use token: the count is exact, not "one, whatever the uses"."""
    check(*race([openlive_server], uses=3), uses=3)
