"""Real speech servers for the remote-engine tests, started on the bundled model files.

``scripts/voice-servers.sh`` installs each server from PyPI into a virtualenv of its own
(``~/.cache/openlive-voice-servers/<name>``); :func:`start` runs one on a free port with
the weights ``python -m openlive.engines.models`` prepared (Whisper base, Piper joe), and
nothing is downloaded. :class:`Proxy` sits between openlive and a server when a test
must see the traffic: who hung up first, whether the answer was complete, and it can
slow the server's answer to a given byte rate, as a distant or busy server would be.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("OPENLIVE_VOICE_SERVERS",
                           Path.home() / ".cache" / "openlive-voice-servers"))
# Keep in sync with scripts/voice-servers.sh.
SERVERS = ("wyoming-faster-whisper", "wyoming-piper", "faster-whisper-server",
           "local-tts-studio")
START_TIMEOUT = 90.0
JOE = "en_US-joe-medium"  # the bundled Piper voice's name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def python_of(name: str) -> Path:
    """The interpreter of server ``name``'s virtualenv (fails in CI when it is missing)."""
    exe = ROOT / name / "bin" / "python"
    if not (ROOT / name / ".requirements").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{ROOT / name} missing: scripts/voice-servers.sh did not run")
        pytest.skip(f"{ROOT / name} missing: run scripts/voice-servers.sh")
    return exe


def whisper_dir() -> Path:
    """The bundled multilingual Whisper base (CTranslate2), as the default stack has it."""
    from openlive.engines.models import WHISPER_BASE
    from openlive.engines.weights import ensure

    return ensure(WHISPER_BASE, progress=False)


def piper_dir() -> Path:
    """The folder holding the bundled Piper voice, ``en_US-joe-medium.onnx`` and its json."""
    from openlive.engines.models import PIPER_JOE
    from openlive.engines.weights import ensure

    return ensure(PIPER_JOE, progress=False)


@dataclass
class SpeechServer:
    """One running server; ``url`` is ``wyoming://127.0.0.1:P`` or ``http://127.0.0.1:P/v1``."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    kind: str  # "wyoming" or "openai"

    @property
    def url(self) -> str:
        if self.kind == "wyoming":
            return f"wyoming://127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no log: {exc})"

    def kill(self) -> None:
        """Die at once, as a crashed server does (SIGKILL: no goodbyes on open sockets)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _command(name: str, port: int, work: Path) -> tuple[list[str], dict[str, str], str]:
    """How to run server ``name`` on ``port``: argv, extra environment, and its kind."""
    exe = str(python_of(name))
    if name == "wyoming-faster-whisper":
        return ([exe, "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{port}",
                 "--model", str(whisper_dir()), "--stt-library", "faster-whisper",
                 "--data-dir", str(work), "--local-files-only", "--cpu-threads", "1",
                 "--compute-type", "int8", "--beam-size", "1"], {}, "wyoming")
    if name == "wyoming-piper":
        return ([exe, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{port}",
                 "--voice", JOE, "--data-dir", str(piper_dir())], {}, "wyoming")
    if name == "faster-whisper-server":
        # Decoded as openlive's own Whisper does (int8, greedy): its YAML is the only place
        # for model and decoding options. "whisper-1" is the model name clients send.
        config = work / "models.yaml"
        config.write_text(json.dumps({"models": [{
            "name": "whisper-1", "path": str(whisper_dir()),
            "model_options": {"compute_type": "int8", "cpu_threads": 1},
            "transcribe_options": {"beam_size": 1}}]}))  # JSON is YAML
        return ([exe, "-m", "faster_whisper_server", "--config", str(config), "--host",
                 "127.0.0.1", "--port", str(port)], {"OMP_NUM_THREADS": "1"}, "openai")
    if name == "local-tts-studio":
        # Its settings live in a data dir; the API's voice is chosen there, from a voices
        # folder with the bundled joe in it (linked, not copied).
        voices = work / "voices"
        voices.mkdir(parents=True, exist_ok=True)
        for suffix in (".onnx", ".onnx.json"):
            link = voices / f"{JOE}{suffix}"
            if not link.exists():
                link.symlink_to(piper_dir() / f"{JOE}{suffix}")
        (work / "settings.json").write_text(json.dumps({
            "voices_dir": str(voices), "device": "cpu", "api_default_voice": JOE}))
        return ([exe, "-m", "local_tts.cli", "--host", "127.0.0.1", "--port", str(port)],
                {"LOCAL_TTS_DATA_DIR": str(work)}, "openai")
    raise ValueError(name)


def start(name: str, work: Path, port: int | None = None) -> SpeechServer:
    """Start server ``name`` (one of :data:`SERVERS`) and wait until it answers."""
    work.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv, extra, kind = _command(name, port, work)
    log = work / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **extra}
    env.pop("PYTHONPATH", None)  # the server's own venv, not openlive's tree
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work,
                                start_new_session=True)
    server = SpeechServer(name, port, proc, log, kind)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{server.log_tail()}")
        if _answers(server):
            return server
        time.sleep(0.2)
    server.kill()
    pytest.fail(f"{name} did not answer within {START_TIMEOUT:.0f} s:\n{server.log_tail()}")


def _answers(server: SpeechServer) -> bool:
    if server.kind == "wyoming":
        return _wyoming_describes(server.port)
    path = "/health" if server.name == "faster-whisper-server" else "/v1/models"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def _wyoming_describes(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b'{"type": "describe", "version": "1.10.2"}\n')
            return s.recv(64).startswith(b"{")
    except OSError:
        return False


@contextlib.contextmanager
def running(name: str, work: Path) -> Iterator[SpeechServer]:
    server = start(name, work)
    try:
        yield server
    finally:
        server.stop()


# -- a proxy that watches --------------------------------------------------------------------


@dataclass
class Link:
    """One connection through the proxy."""

    sent: bytearray = field(default_factory=bytearray)  # what the client sent the server
    delivered: bytearray = field(default_factory=bytearray)  # what the client was given
    at_hangup: bytes | None = None  # what it had been given when it hung up first
    server_ended: bool = False  # the server closed its side first
    done: threading.Event = field(default_factory=threading.Event)

    def wyoming_events(self, data: bytes | None = None) -> list[str]:
        """The types of the whole Wyoming events in ``data`` (default: all delivered):
        a JSON header line, then ``data_length`` bytes of JSON, ``payload_length`` of audio."""
        stream = bytes(self.delivered if data is None else data)
        kinds, at = [], 0
        while (end := stream.find(b"\n", at)) >= 0:
            header = json.loads(stream[at:end])
            at = end + 1 + header.get("data_length", 0) + header.get("payload_length", 0)
            if at > len(stream):
                break  # cut short: not a whole event
            kinds.append(header["type"])
        return kinds


_GONE = threading.Lock()


def wyoming_answered(link: Link, data: bytes | None) -> bool:
    """Whether ``data`` (say ``link.at_hangup``) holds the whole answer to a synthesis:
    up to ``synthesize-stopped`` for a streaming request, ``audio-stop`` for a plain one
    (a streaming answer has an ``audio-stop`` after each sentence)."""
    events = link.wyoming_events(data)
    if b'"synthesize-start"' in link.sent:
        return "synthesize-stopped" in events
    return "audio-stop" in events


def http_complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole HTTP response (by Content-Length, or the last chunk)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return body.endswith(b"0\r\n\r\n")


class Proxy:
    """A TCP proxy on a free port in front of ``target_port``; ``rate``: at most this many
    bytes per second from the server to the client (None: as fast as they come)."""

    def __init__(self, target_port: int, rate: float | None = None) -> None:
        self.target_port = target_port
        self.rate = rate
        self.links: list[Link] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)  # a server may think for long before it answers
            link = Link()
            self.links.append(link)
            threading.Thread(target=self._upstream, args=(client, server, link),
                             daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, link),
                             daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, link: Link) -> None:
        """Client to server, until the client hangs up."""
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                link.sent += data
                server.sendall(data)
        self._client_gone(link)
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)
        server.close()

    def _downstream(self, server: socket.socket, client: socket.socket, link: Link) -> None:
        """Server to client, paced at ``rate``, until either side hangs up."""
        started, sent = time.monotonic(), 0
        try:
            while data := server.recv(4096):
                try:
                    client.sendall(data)
                except OSError:  # the client hung up while the server had more to say
                    self._client_gone(link)
                    return
                link.delivered += data
                sent += len(data)
                if self.rate:
                    time.sleep(max(0.0, started + sent / self.rate - time.monotonic()))
            link.server_ended = link.at_hangup is None  # the server closed first
        except OSError:
            pass
        finally:
            link.done.set()
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()

    @staticmethod
    def _client_gone(link: Link) -> None:
        """The client closed: unless the server had closed first, note what it had got.
        (Either pump may notice first: a read of the client's end, or a write to it.)"""
        with _GONE:
            if not link.server_ended and link.at_hangup is None:
                link.at_hangup = bytes(link.delivered)
