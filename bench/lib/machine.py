"""What the shared machine is doing: CPU of the server, of the benchmark and of everything
else, memory of a process, load, and the commit being measured.

The machine runs other jobs, so every measured phase reports the CPU that other
processes used during it (``CpuWindow``), and may wait for them to quiet down first
(``await_quiet``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in bytes (empty once it is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def system_busy_seconds() -> float:
    """CPU seconds all processes have used (from /proc/stat), summed over cores."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """Cores used by the server, by this benchmark and by everything else, over a window
    that starts when it is made and ends at each call of ``cores``."""

    def __init__(self, server_pid: int | None) -> None:
        self.pid = server_pid
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        server = proc_cpu_seconds(self.pid) if self.pid is not None else 0.0
        return (time.perf_counter(), server, own_cpu_seconds(), system_busy_seconds())

    def cores(self) -> dict[str, float]:
        """{"server", "bench", "other"} -> cores used since the window started."""
        end = self._sample()
        wall = end[0] - self.start[0]
        server, bench, busy = (end[i] - self.start[i] for i in (1, 2, 3))
        return {"server": server / wall, "bench": bench / wall,
                "other": max(0.0, busy - server - bench) / wall}


async def await_quiet(max_wait: float, server_pid: int | None = None) -> float:
    """Wait (at most ``max_wait`` s) until other processes use under 0.4 cores, sampled
    over 1 s; return their last usage. The machine is shared with other jobs."""
    if max_wait <= 0:
        return math.nan
    deadline = time.perf_counter() + max_wait
    while True:
        window = CpuWindow(server_pid)
        await asyncio.sleep(1.0)
        other = window.cores()["other"]
        if other < 0.4 or time.perf_counter() >= deadline:
            return other


def cores_text(cores: dict[str, float] | None) -> str:
    """A ``CpuWindow.cores()`` result, for a sentence in a report."""
    if not cores:
        return "?"
    return (f"server {cores['server']:.2f}, benchmark {cores['bench']:.2f}, "
            f"other processes {cores['other']:.2f} cores")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg has them."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def git_commit() -> str:
    """The short commit of the checkout, marked when it has uncommitted changes."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True,
                               check=False).stdout.strip()
        return out + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"
