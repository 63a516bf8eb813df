"""The event-loop lag of a server seen from outside: ``GET /health`` timed from a process
of its own (not the benchmark's, whose event loop is busy with the clients).

    python bench/lib/probe.py URL SECONDS [--no-quickack]

prints {"ms": [times], "errors": n} as JSON. Only the standard library: it starts fast.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import sys
import time

PROBE_INTERVAL = 0.05


def probe(url: str, seconds: float, quickack: bool = True) -> None:
    """Run in a separate process: time GET /health every ~50 ms; print the times (ms).

    One keep-alive connection. With ``quickack`` the probe acknowledges every segment at
    once (TCP_QUICKACK): the server's sockets do not set TCP_NODELAY, so otherwise its
    second small write (the body after the headers) can wait for the probe's delayed
    ACK, up to 40 ms, and the probe would measure that instead of the event loop.
    """
    host, port = url.removeprefix("http://").split(":")
    times: list[float] = []
    errors = 0
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    end = time.perf_counter() + seconds
    due = time.perf_counter()
    while due < end:
        start = time.perf_counter()
        try:
            conn.request("GET", "/health")
            if quickack and conn.sock is not None:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            conn.getresponse().read()
            times.append((time.perf_counter() - start) * 1000)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
        due += PROBE_INTERVAL * random.uniform(0.5, 1.5)  # jitter: no phase lock with clients
        time.sleep(max(0.0, due - time.perf_counter()))
    print(json.dumps({"ms": times, "errors": errors}))


if __name__ == "__main__":
    probe(sys.argv[1], float(sys.argv[2]), quickack="--no-quickack" not in sys.argv[3:])
