"""``openlive serve`` in a subprocess, on a free port with its own data directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
FAKE_LLM = "tests.fakes.llm:create"  # an echo model with no think time (serve --llm)
START_TIMEOUT = 300.0  # seconds: loading the models on a busy machine is slow


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``openlive serve`` with an API key of its own and its log captured.

    The constructor returns once ``/health`` answers (and, with ``voice``, once the log
    says the voice engines are ready); it raises SystemExit with the log's tail if the
    server does not come up. Call ``stop`` when done.
    """

    def __init__(self, data_dir: Path, llm: str | None, extra: Sequence[str] = (),
                 log_level: str = "info", voice: bool = True) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir / "server.log"
        openlive = [sys.executable, "-m", "openlive"]
        # the checkout on the path, so that --llm can name tests.fakes
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.key = subprocess.run([*openlive, "keys", "create", "--data-dir", str(data_dir)],
                                  check=True, capture_output=True, text=True,
                                  env=env).stdout.strip()
        command = [*openlive, "serve", "--port", str(self.port), "--data-dir", str(data_dir),
                   "--log-level", log_level]
        if llm:
            command += ["--llm", llm]
        command += list(extra)
        self._log = open(self.log_path, "w")  # noqa: SIM115  (closed by stop)
        started = time.monotonic()
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=ROOT)
        self._wait_healthy(started + START_TIMEOUT)
        self.start_seconds = time.monotonic() - started
        log = self.log_path.read_text()
        if voice and "voice engines ready" not in log:
            self.stop()
            raise SystemExit(f"the server has no voice engines:\n{log[-3000:]}")

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                urllib.request.urlopen(f"{self.http}/health", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"server did not start; see {self.log_path}:\n"
                                     + self.log_path.read_text()[-3000:]) from None
                time.sleep(0.25)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The Live endpoint, with the key in the query as the SDKs send it."""
        return f"ws://127.0.0.1:{self.port}{LIVE_PATH}?key={self.key}"

    def metrics(self) -> str:
        """The Prometheus text of ``/metrics``."""
        with urllib.request.urlopen(f"{self.http}/metrics", timeout=10) as response:
            return str(response.read().decode())

    def log_text(self) -> str:
        """The log so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def warnings(self, last: int) -> list[str]:
        """The last ``last`` WARNING and ERROR lines of the log."""
        return [line for line in self.log_text().splitlines()
                if " WARNING " in line or " ERROR " in line][-last:]

    def stop(self) -> None:
        """Terminate the server (kill it if it takes over 30 s) and close the log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
