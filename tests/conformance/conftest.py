"""Conformance harness: one real ``openlive serve`` and the unmodified SDKs as subprocesses.

* ``openlive_server`` (session): starts the server on a free port with a fresh data dir, an
  API key from ``openlive keys create`` and the fake LLM (``tests.fakes.llm:create``), waits
  for ``/health`` and stops it with SIGTERM at the end. Its log is attached to every failing
  test's report and printed at the end of a session that had failures.
* ``sdk_runner`` (session): runs the SDK client programs in ``clients/`` (one process per job,
  several scenarios per job run concurrently inside it) on a thread pool, each with a
  timeout, configured only through the environment variables users set.

SDK installs come from ``scripts/sdk-envs.sh``; a missing one skips its tests outside CI and
fails them in CI (``CI`` set). See README.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLIENTS = HERE / "clients"
NODE_DIR = Path(os.environ.get("OPENLIVE_GENAI_NODE_DIR", HERE / "node"))
SDK_ENVS = Path(os.environ.get("OPENLIVE_SDK_ENVS", ROOT / ".sdk-envs"))

# Keep in sync with PY_SDK_VERSIONS in scripts/sdk-envs.sh (newest first).
PY_SDK_VERSIONS = ("3.6.1", "2.19.0", "1.20.0")
NODE_SDK_VERSION: str = json.loads((HERE / "node" / "package.json").read_text())["dependencies"][
    "@google/genai"
]
TRANSPORTS = ("http", "https")
# Model ids the server must accept (TEXT modality); the clients default to the first.
MODEL_IDS = (
    "gemini-live-2.5-flash-preview",
    "gemini-2.0-flash-live-001",
    "gemini-2.5-flash-native-audio-preview-12-2025",
)
# Scenarios a job with the right key runs (concurrently, in one client process).
GOOD_KEY_SCENARIOS = (
    "text_turn",
    "history",
    "unknown_model",
    "malformed_frame",
    "malformed_content",
    "realtime_text",
    "system_instruction",
)
# Non-default API versions tried through GOOGLE_GENAI_API_VERSION (honoured by google-genai
# >= 3.0 and @google/genai); the SDKs default to v1 (3.x) or v1beta (older).
API_VERSIONS = ("v1beta", "v1alpha")
# Transport of the model-id / API-version checks: Python over the http:// base URL (REST plain,
# Live TLS on the same port), Node over https:// (wss).
PY_LATEST_TRANSPORT = "http"
NODE_LATEST_TRANSPORT = "https"
UNKNOWN_MODEL = "no-such-model-for-conformance"  # what the clients ask for in unknown_model
BAD_KEY = "not-a-valid-openlive-key"

CLIENT_TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "30"))
SERVER_START_TIMEOUT = float(os.environ.get("CONFORMANCE_SERVER_START_TIMEOUT", "60"))
IN_CI = bool(os.environ.get("CI"))

# Variables that would redirect or authenticate the SDKs behind the suite's back.
_SCRUBBED_ENV = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "NODE_OPTIONS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
)


# --------------------------------------------------------------------------------------------
# The server


@dataclass(frozen=True)
class Server:
    port: int
    key: str
    ca: Path
    log: Path
    data_dir: Path | None
    pid: int | None = None  # the server process, when the suite started it

    def base_url(self, transport: str) -> str:
        return f"{transport}://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _openlive_cmd() -> list[str]:
    """``openlive`` of the project's venv (the interpreter running pytest)."""
    return [sys.executable, "-m", "openlive"]


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )  # so that tests.fakes.llm imports
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _store_args(extra_args: tuple[str, ...]) -> list[str]:
    """The ``--store`` of a server's arguments, for the key made before it starts."""
    if "--store" in extra_args:
        return ["--store", extra_args[extra_args.index("--store") + 1]]
    return []


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    url = f"http://127.0.0.1:{port}/health"
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"openlive serve exited with {proc.returncode} before /health answered.\n"
                f"--- server log ({log}) ---\n{_log_tail(log)}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    proc.kill()
    pytest.fail(
        f"openlive serve: {url} not healthy after {SERVER_START_TIMEOUT:.0f}s ({last}).\n"
        f"--- server log ({log}) ---\n{_log_tail(log)}",
        pytrace=False,
    )


_SERVER_LOG: list[Path] = []  # for the report hooks below


@pytest.fixture(scope="session")
def openlive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``openlive serve`` with the fake LLM, or the one named by the environment.

    ``OPENLIVE_CONFORMANCE_URL`` (e.g. ``http://127.0.0.1:8080``) with
    ``OPENLIVE_CONFORMANCE_KEY`` and ``OPENLIVE_CONFORMANCE_CA`` points the suite at a server
    that is already running instead (its model must be the fake LLM for the exact replies).
    """
    external = os.environ.get("OPENLIVE_CONFORMANCE_URL")
    if external:
        port = int(external.rsplit(":", 1)[1].rstrip("/"))
        log = tmp_path_factory.mktemp("external") / "server.log"
        log.write_text("(external server: no log)\n")
        _SERVER_LOG.append(log)
        yield Server(
            port=port,
            key=os.environ["OPENLIVE_CONFORMANCE_KEY"],
            ca=Path(os.environ["OPENLIVE_CONFORMANCE_CA"]),
            log=log,
            data_dir=None,
        )
        return

    # the fake googleSearch lets the tool tests check server-side built-ins
    with running_server(tmp_path_factory, "tests.fakes.llm:create",
                        ("--server-tool", "tests.fakes.server_tools:create")) as server:
        yield server


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``openlive serve`` on the default models (llama.cpp), started once for every
    test that needs them: loading them takes most of a minute."""
    with running_server(tmp_path_factory, "llamacpp") as server:
        yield server


@contextlib.contextmanager
def running_server(tmp_path_factory: pytest.TempPathFactory, llm: str,
                   extra_args: tuple[str, ...] = (), ca: Path | None = None) -> Iterator[Server]:
    """Start ``openlive serve`` with the ``llm`` backend; stop it with SIGTERM afterwards.

    ``ca``: the CA of the certificate given with ``--tls-cert`` in ``extra_args`` (the
    server then makes none of its own)."""
    data_dir = tmp_path_factory.mktemp("openlive-data")
    log = data_dir.parent / "openlive-server.log"
    env = _server_env()
    created = subprocess.run(
        [*_openlive_cmd(), "keys", "create", "--data-dir", str(data_dir), "--name", "conformance",
         *_store_args(extra_args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if created.returncode != 0 or not created.stdout.strip():
        pytest.fail(
            f"`openlive keys create` failed ({created.returncode}):\n"
            f"stdout: {created.stdout}\nstderr: {created.stderr}",
            pytrace=False,
        )
    key = created.stdout.strip().splitlines()[-1].strip()

    port = _free_port()
    cmd = [
        *_openlive_cmd(), "serve",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--data-dir", str(data_dir),
        "--llm", llm, *extra_args,
    ]  # fmt: skip
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _SERVER_LOG.append(log)
    try:
        _wait_healthy(port, proc, log)
        ca = ca or data_dir / "tls" / "ca.pem"
        if not ca.is_file():
            pytest.fail(f"openlive serve did not create its CA at {ca}", pytrace=False)
        yield Server(port=port, key=key, ca=ca, log=log, data_dir=data_dir, pid=proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
                with log.open("a") as f:
                    f.write("\n[conformance] server ignored SIGTERM for 15 s: killed\n")
            if proc.returncode not in (0, -signal.SIGTERM):
                warnings.warn(
                    f"openlive serve exited with {proc.returncode} on SIGTERM; log: {log}\n"
                    f"{_log_tail(log, 30)}",
                    stacklevel=1,
                )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the server log's tail to every failing conformance test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _SERVER_LOG and "openlive_server" in getattr(item, "fixturenames", ()):
        report.sections.append(
            (f"openlive server log (tail; full log: {_SERVER_LOG[-1]})", _log_tail(_SERVER_LOG[-1]))
        )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    failed = [r for r in terminalreporter.stats.get("failed", []) if "conformance" in r.nodeid]
    if _SERVER_LOG and failed:
        terminalreporter.section("openlive server log")
        terminalreporter.write_line(f"full log: {_SERVER_LOG[-1]}")
        terminalreporter.write_line(_log_tail(_SERVER_LOG[-1], 200))


# --------------------------------------------------------------------------------------------
# The SDK clients


class MissingSdk(Exception):
    """The SDK install a job needs is not there (run scripts/sdk-envs.sh)."""


@dataclass(frozen=True)
class Job:
    """One client process: ``scenarios`` run concurrently against one transport."""

    sdk: str  # "python" | "node"
    version: str
    transport: str  # "http" | "https"
    scenarios: tuple[str, ...] = GOOD_KEY_SCENARIOS
    bad_key: bool = False
    model: str | None = None
    api_version: str | None = None  # GOOGLE_GENAI_API_VERSION

    def label(self) -> str:
        extra = [f"model={self.model}"] if self.model else []
        extra += [f"GOOGLE_GENAI_API_VERSION={self.api_version}"] if self.api_version else []
        extra += ["bad key"] if self.bad_key else []
        return f"{self.sdk} {self.version} over {self.transport}://" + (
            f" ({', '.join(extra)})" if extra else ""
        )


def python_jobs() -> list[Job]:
    jobs = []
    for version in PY_SDK_VERSIONS:
        for transport in TRANSPORTS:
            jobs.append(Job("python", version, transport))
            jobs.append(Job("python", version, transport, ("bad_key",), bad_key=True))
    latest = PY_SDK_VERSIONS[0]
    for model in MODEL_IDS[1:]:
        jobs.append(Job("python", latest, PY_LATEST_TRANSPORT, ("text_turn",), model=model))
    for api_version in API_VERSIONS:
        jobs.append(
            Job("python", latest, PY_LATEST_TRANSPORT, ("text_turn",), api_version=api_version)
        )
    return jobs


def node_jobs() -> list[Job]:
    jobs = []
    for transport in TRANSPORTS:
        jobs.append(Job("node", NODE_SDK_VERSION, transport))
        jobs.append(Job("node", NODE_SDK_VERSION, transport, ("bad_key",), bad_key=True))
    for model in MODEL_IDS[1:]:
        jobs.append(
            Job("node", NODE_SDK_VERSION, NODE_LATEST_TRANSPORT, ("text_turn",), model=model)
        )
    for api_version in API_VERSIONS:
        jobs.append(
            Job(
                "node",
                NODE_SDK_VERSION,
                NODE_LATEST_TRANSPORT,
                ("text_turn",),
                api_version=api_version,
            )
        )
    return jobs


def _python_exe(version: str) -> Path:
    exe = SDK_ENVS / f"google-genai-{version}" / "bin" / "python"
    if not exe.exists():
        raise MissingSdk(f"google-genai {version} is not installed at {exe.parent.parent}")
    return exe


def _node_exe() -> str:
    node = shutil.which("node")
    if node is None:
        raise MissingSdk("node is not on PATH")
    pkg = NODE_DIR / "node_modules" / "@google" / "genai" / "package.json"
    if not pkg.exists():
        raise MissingSdk(f"@google/genai is not installed in {NODE_DIR}/node_modules")
    have = json.loads(pkg.read_text())["version"]
    if have != NODE_SDK_VERSION:
        raise MissingSdk(f"@google/genai {have} is installed, package.json pins {NODE_SDK_VERSION}")
    return node


@dataclass
class ScenarioResult:
    """What one client reported for one scenario, with the checks the tests apply."""

    job: Job
    scenario: str
    data: dict[str, Any]
    stderr: str

    def _context(self) -> str:
        return (
            f"{self.job.label()} scenario {self.scenario}\n"
            f"client result: {json.dumps(self.data, indent=1)}\n"
            f"client stderr (tail):\n{_tail(self.stderr, 40)}"
        )

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n{self._context()}", pytrace=False)

    @property
    def error(self) -> dict[str, Any] | None:
        return self.data.get("error")

    @property
    def turns(self) -> list[dict[str, Any]]:
        return list(self.data.get("turns") or [])

    def expect_replies(self, *expected: tuple[str, tuple[int, int, int]]) -> None:
        """Each turn's text is exact, its usage (prompt, response, total) too, and it ended
        with ``generationComplete`` then ``turnComplete`` carrying ``usageMetadata``."""
        if self.error is not None:
            self.fail(f"the SDK raised {self.error.get('type')}: {self.error.get('message')}")
        if not self.data.get("setup_complete"):
            self.fail("connect() did not complete the setup")
        turns = self.turns
        if len(turns) != len(expected):
            self.fail(f"expected {len(expected)} turn(s), the client saw {len(turns)}")
        for i, (turn, (text, usage)) in enumerate(zip(turns, expected)):
            where = f"turn {i + 1}"
            if turn["text"] != text:
                self.fail(f"{where}: reply {turn['text']!r} != expected {text!r}")
            if not turn["turn_complete"]:
                self.fail(f"{where}: no turnComplete")
            got = turn.get("usage")
            if got is None:
                self.fail(f"{where}: no usageMetadata in the turn")
            else:
                numbers = (got.get("prompt"), got.get("response"), got.get("total"))
                if numbers != usage:
                    self.fail(
                        f"{where}: usage (prompt, response, total) = {numbers}, expected {usage}"
                    )
            events = turn["events"]
            if "generationComplete" not in events:
                self.fail(f"{where}: no generationComplete before turnComplete ({events})")
            if events.index("generationComplete") > events.index("turnComplete"):
                self.fail(f"{where}: generationComplete after turnComplete ({events})")
            first_text = events.index("text") if "text" in events else -1
            if first_text < 0 or first_text > events.index("generationComplete"):
                self.fail(f"{where}: text must come before generationComplete ({events})")

    def expect_close(
        self,
        code: int,
        *,
        mentions: tuple[str, ...],
        during_connect: bool,
        error_type: str | None = None,
    ) -> None:
        """The session ended with close ``code`` and a reason naming each of ``mentions``."""
        err = self.error
        if err is None:
            self.fail(f"expected close {code}, but the scenario succeeded")
            return
        if err.get("code") != code:
            self.fail(f"close code {err.get('code')!r} != expected {code}")
        reason = err.get("reason") or ""
        for needle in mentions:
            if needle.lower() not in reason.lower():
                self.fail(f"close reason {reason!r} does not mention {needle!r}")
        if during_connect and self.data.get("setup_complete"):
            self.fail("the server sent setupComplete before refusing the session")
        if not during_connect and not self.data.get("setup_complete"):
            self.fail("the session was refused at connect time, expected it to open first")
        if error_type is not None and err.get("type") != error_type:
            self.fail(f"the SDK raised {err.get('type')}, expected {error_type}")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


class SdkRunner:
    """Runs client jobs on a thread pool, each once, and hands out their results."""

    def __init__(self, server: Server, workers: int) -> None:
        self.server = server
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sdk-client")
        self._futures: dict[Job, Future[dict[str, ScenarioResult]]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def prefetch(self, jobs: list[Job]) -> None:
        """Start ``jobs`` now so that they run while earlier tests are being checked."""
        for job in jobs:
            self._submit(job)

    def _submit(self, job: Job) -> Future[dict[str, ScenarioResult]]:
        with self._lock:
            fut = self._futures.get(job)
            if fut is None:
                fut = self._futures[job] = self._pool.submit(self._run, job)
            return fut

    def result(self, job: Job, scenario: str) -> ScenarioResult:
        """The result of ``scenario`` in ``job``; skips/fails when the SDK is not installed."""
        try:
            results = self._submit(job).result()
        except MissingSdk as exc:
            hint = "run scripts/sdk-envs.sh"
            if IN_CI:
                pytest.fail(f"{exc} ({hint}; CI must install every SDK)", pytrace=False)
            pytest.skip(f"{exc} ({hint})")
        if scenario not in results:
            pytest.fail(f"{job.label()}: no result for {scenario}", pytrace=False)
        return results[scenario]

    def _env(self, job: Job) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env["GOOGLE_GEMINI_BASE_URL"] = self.server.base_url(job.transport)
        env["GEMINI_API_KEY"] = BAD_KEY if job.bad_key else self.server.key
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        # The clients give up a little before the hard timeout, so that a hang still yields a
        # result that says where it hung.
        wait = max(CLIENT_TIMEOUT - 8, 5)
        env["CONFORMANCE_CLIENT_WAIT_S"] = str(wait)
        env["CONFORMANCE_CLIENT_WAIT_MS"] = str(int(wait * 1000))
        if job.api_version:
            env["GOOGLE_GENAI_API_VERSION"] = job.api_version
        if job.sdk == "python":
            # Python's Live socket is always wss://, whatever the base URL's scheme.
            env["SSL_CERT_FILE"] = str(self.server.ca)
        elif job.transport == "https":
            env["NODE_EXTRA_CA_CERTS"] = str(self.server.ca)
        return env

    def _cmd(self, job: Job) -> list[str]:
        if job.sdk == "python":
            cmd = [str(_python_exe(job.version)), str(CLIENTS / "py_client.py")]
        else:
            cmd = [_node_exe(), str(CLIENTS / "node_client.mjs")]
        cmd += list(job.scenarios)
        if job.model:
            cmd += ["--model", job.model]
        return cmd

    def _run(self, job: Job) -> dict[str, ScenarioResult]:
        cmd = self._cmd(job)
        try:
            proc = subprocess.run(
                cmd,
                env=self._env(job),
                cwd=HERE,
                capture_output=True,
                text=True,
                timeout=CLIENT_TIMEOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            pytest.fail(
                f"{job.label()}: client hung, killed after {CLIENT_TIMEOUT:.0f}s: {cmd}\n"
                f"stdout: {out}\nstderr (tail):\n{_tail(err, 40)}",
                pytrace=False,
            )
        results: dict[str, ScenarioResult] = {}
        for line in proc.stdout.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            data = json.loads(line)
            results[data["scenario"]] = ScenarioResult(job, data["scenario"], data, proc.stderr)
        if proc.returncode != 0 or set(results) != set(job.scenarios):
            pytest.fail(
                f"{job.label()}: client exited {proc.returncode} with results for "
                f"{sorted(results)} (wanted {sorted(job.scenarios)}): {cmd}\n"
                f"stdout: {proc.stdout}\nstderr (tail):\n{_tail(proc.stderr, 40)}",
                pytrace=False,
            )
        return results


@pytest.fixture(scope="session")
def sdk_runner(openlive_server: Server) -> Iterator[SdkRunner]:
    workers = int(os.environ.get("CONFORMANCE_WORKERS", "4"))
    runner = SdkRunner(openlive_server, workers)
    try:
        yield runner
    finally:
        runner.close()


@dataclass(frozen=True)
class Expected:
    """The fake model's exact replies for each scenario (see tests/fakes/llm.py).

    Reply: ``[messages=N] <last user text>``; usage: whitespace words of all messages (system
    instruction included) / of the reply / their sum.
    """

    text_turn: tuple[tuple[str, tuple[int, int, int]], ...] = (
        ("[messages=1] hello there", (2, 3, 5)),
        # second turn: "hello there" + "[messages=1] hello there" + "second turn"
        ("[messages=3] second turn", (7, 3, 10)),
    )
    history: tuple[tuple[str, tuple[int, int, int]], ...] = (
        # "my name is Ada" + "nice to meet you" + "what is my name"
        ("[messages=3] what is my name", (12, 5, 17)),
    )
    realtime_text: tuple[tuple[str, tuple[int, int, int]], ...] = (
        ("[messages=1] hello realtime", (2, 3, 5)),
    )
    system_instruction: tuple[tuple[str, tuple[int, int, int]], ...] = (
        # "You are a terse test assistant." (6 words) + "hello there"
        ("[messages=2] hello there", (8, 3, 11)),
    )
    unknown_model: str = UNKNOWN_MODEL


@pytest.fixture(scope="session")
def expected() -> Expected:
    return Expected()


# --------------------------------------------------------------------------------------------
# Parametrization: ``py_case`` = google-genai version x transport, ``node_case`` = transport;
# ``py_latest`` / ``node_latest`` = the newest SDK on one transport, for ``model_id`` and
# ``api_version`` checks.


@dataclass(frozen=True)
class SdkCase:
    """One SDK version on one transport, bound to the runner."""

    runner: SdkRunner
    sdk: str
    version: str
    transport: str

    def run(self, scenario: str) -> ScenarioResult:
        """A scenario from the main job (right key, default model)."""
        return self.runner.result(Job(self.sdk, self.version, self.transport), scenario)

    def run_bad_key(self) -> ScenarioResult:
        job = Job(self.sdk, self.version, self.transport, ("bad_key",), bad_key=True)
        return self.runner.result(job, "bad_key")

    def run_with_model(self, model: str) -> ScenarioResult:
        job = Job(self.sdk, self.version, self.transport, ("text_turn",), model=model)
        return self.runner.result(job, "text_turn")

    def run_with_api_version(self, api_version: str) -> ScenarioResult:
        job = Job(self.sdk, self.version, self.transport, ("text_turn",), api_version=api_version)
        return self.runner.result(job, "text_turn")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "py_case" in names:
        cases = [(v, t) for v in PY_SDK_VERSIONS for t in TRANSPORTS]
        metafunc.parametrize("py_case", cases, ids=[f"py{v}-{t}" for v, t in cases], indirect=True)
    if "node_case" in names:
        metafunc.parametrize(
            "node_case",
            TRANSPORTS,
            ids=[f"node{NODE_SDK_VERSION}-{t}" for t in TRANSPORTS],
            indirect=True,
        )
    if "model_id" in names:
        metafunc.parametrize("model_id", MODEL_IDS[1:])
    if "api_version" in names:
        metafunc.parametrize("api_version", API_VERSIONS)


@pytest.fixture
def py_case(request: pytest.FixtureRequest, sdk_runner: SdkRunner) -> SdkCase:
    version, transport = request.param
    sdk_runner.prefetch(python_jobs())  # all Python clients start together on the pool
    return SdkCase(sdk_runner, "python", version, transport)


@pytest.fixture
def node_case(request: pytest.FixtureRequest, sdk_runner: SdkRunner) -> SdkCase:
    sdk_runner.prefetch(node_jobs())
    return SdkCase(sdk_runner, "node", NODE_SDK_VERSION, request.param)


@pytest.fixture
def py_latest(sdk_runner: SdkRunner) -> SdkCase:
    sdk_runner.prefetch(python_jobs())
    return SdkCase(sdk_runner, "python", PY_SDK_VERSIONS[0], PY_LATEST_TRANSPORT)


@pytest.fixture
def node_latest(sdk_runner: SdkRunner) -> SdkCase:
    sdk_runner.prefetch(node_jobs())
    return SdkCase(sdk_runner, "node", NODE_SDK_VERSION, NODE_LATEST_TRANSPORT)


@pytest.fixture(scope="session")
def recognizer() -> Iterator[Any]:
    """The default Whisper recognizer, to hear what the server said."""
    import asyncio

    from tests.conformance.speech import make_recognizer

    asr = make_recognizer()
    yield asr
    asyncio.run(asr.aclose())
