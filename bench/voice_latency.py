"""Voice latency through openlive, with the critical-path lower bound of the same engines.

One run, on the machine it runs on:

1. starts ``openlive serve`` (its own data directory, a free port, log level info) on the
   real default stack, or with ``--fake-llm`` on ``tests.fakes.llm:create`` (an echo
   model with no think time) to separate the pipeline from the language model;
2. speaks a set of English questions with espeak-ng (several voices and speeds; 16 kHz
   16-bit mono; leading/trailing silence trimmed with an energy threshold, so the last
   sample sent is the last speech sample), cached in a temporary directory; the
   session asks for languageCode en-US unless ``--language none``;
3. streams them in real time (``--chunk-ms``) over ``--sessions`` concurrent Live
   sessions that speak the wire protocol directly (``websockets``, plain ``ws://``): a
   continuous microphone stream of low-level noise, a question, noise again until the
   answer is over, and so on for ``--turns`` turns. Per turn the client records
   end of speech (the send time of the chunk holding the last speech sample) → first
   audio byte received;
4. breaks each turn down by stage from the server's own "turn latency" log lines
   (exact, per turn) and, as a cross-check, from the ``openlive_voice_stage_seconds``
   histogram scraped before and after (quantiles interpolated linearly within buckets);
5. barge-in: talks over an answer and measures speech onset (the send time of the first
   speech chunk) → ``interrupted``; each interrupting question must be answered in turn;
6. Smart Turn cut-offs: "I would like to order a pizza and … a large salad please" with
   a 600 ms pause (one espeak SSML sentence with a break), silenceDurationMs unset
   (Smart Turn decides) versus
   silenceDurationMs=1500 in the same run; a cut-off is a first inputTranscription
   without the second half;
7. listening capacity: K sessions stream noise in real time (no turns) while a separate
   process times ``GET /health`` about every 50 ms on a keep-alive connection with
   TCP_QUICKACK (the outside view of the server's event-loop lag); the ramp stops at the
   first K whose p95 is over 20 ms; the server's RSS and the CPU of the server, of this
   benchmark and of every other process (the machine may be shared) at each level;
8. stops the server and measures, in-process on the same utterances, Whisper, the
   language model's first token and first speakable piece (TextChunker), Piper's first
   chunk and Smart Turn's inference: their sum is the lower bound a perfectly pipelined
   server could reach after the end-of-turn decision. The language model is built from
   the server's own settings (``openlive.config.Settings``), threads included.

Before each measured phase it waits (``--quiet-wait``, bounded) for other processes to
quiet down, and reports the CPU they used during it.

``--capacity-only`` runs phase 7 alone, on two fresh servers per round: one that scores
the VAD on the event loop (``--no-vad-batching``, the old path) and one that batches it
on a worker thread (the default), alternating which goes first.

Prints markdown tables; ``--write-docs`` also puts them into docs/benchmarks.md.

    .venv/bin/python bench/voice_latency.py --quick            # about 2 minutes
    .venv/bin/python bench/voice_latency.py --write-docs       # full run, ≤ 10 minutes
    .venv/bin/python bench/voice_latency.py --fake-llm         # pipeline without LLM time
    .venv/bin/python bench/voice_latency.py --capacity-only    # VAD on the loop vs batched
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from stats import pct

from openlive.session.activity import ActivityDefaults

ROOT = Path(__file__).resolve().parents[1]
MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
RATE = 16_000
SYSTEM = "You are a voice assistant. Answer in one short sentence."
FAKE_LLM = "tests.fakes.llm:create"

# (text, espeak-ng voice, words per minute)
QUESTIONS = [
    ("What is the capital of France?", "en-us", 165),
    ("How many days are there in a week?", "en-gb", 150),
    ("What color is the sky on a clear day?", "en-us+f3", 175),
    ("Can you name a fruit that is yellow?", "en-gb-scotland", 160),
    ("What is two plus three?", "en-us+m3", 140),
    ("Which animal says moo?", "en-029", 170),
    ("What do bees make?", "en-gb-x-rp", 155),
    ("How many legs does a spider have?", "en-us+f2", 180),
    ("What is the opposite of hot?", "en-us", 145),
    ("Name a planet in our solar system.", "en-gb", 170),
]
PAUSE_FIRST = "I would like to order a pizza and"
PAUSE_SECOND = "a large salad please"
PAUSE_MS = 600
PAUSE_REPORT_MS = ActivityDefaults().pause_ms  # silence that makes the server transcribe
PAUSE_VOICES = [("en-us", 165), ("en-gb", 150), ("en-us+f3", 175), ("en-gb-scotland", 160),
                ("en-us+m3", 140), ("en-029", 170), ("en-gb-x-rp", 155), ("en-us+f2", 180),
                ("en-us", 140), ("en-gb", 185)]
STAGES = ("endpoint", "asr", "ahead", "llm_first_token", "llm_first_piece", "tts_first_chunk",
          "first_audio")
SPEECH_THRESHOLD_DB = 35.0  # a 10 ms frame within this many dB of the loudest is speech
NOISE_RMS = 10.0  # the "silence" a live microphone sends: white noise, about -70 dBFS
LAG_TARGET_MS = 20.0
TURN_TIMEOUT = 60.0  # seconds to wait for one answer (quick: 30)
TALKED_OVER_SECONDS = 0.6  # audio still sent this long after a barge-in's onset: ignored
PROBE_INTERVAL = 0.05


# --- small helpers ------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "–" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class CpuWindow:
    """Cores used by the server, by this benchmark and by everything else, over a window."""

    def __init__(self, server_pid: int | None) -> None:
        self.pid = server_pid
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        server = proc_cpu_seconds(self.pid) if self.pid is not None else 0.0
        return (time.perf_counter(), server, own_cpu_seconds(), system_busy_seconds())

    def cores(self) -> dict[str, float]:
        end = self._sample()
        wall = end[0] - self.start[0]
        server, bench, busy = (end[i] - self.start[i] for i in (1, 2, 3))
        return {"server": server / wall, "bench": bench / wall,
                "other": max(0.0, busy - server - bench) / wall}


def mib(n: int | None) -> str:
    return "–" if not n else f"{n / 2**20:.0f} MiB"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


# --- utterances -------------------------------------------------------------------------------


@dataclass
class Utterance:
    name: str
    text: str
    pcm: bytes  # 16 kHz 16-bit mono, trimmed to speech

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def espeak(text: str, voice: str, wpm: int, cache: Path, ssml: bool = False) -> bytes:
    """``text`` spoken by espeak-ng, 16 kHz 16-bit mono raw PCM (cached by content)."""
    key = re.sub(r"\W+", "_", f"{voice}_{wpm}_{'ssml_' if ssml else ''}{text}")[:120]
    raw = cache / f"{key}.raw"
    if not raw.exists():
        wav = cache / f"{key}.wav"
        subprocess.run(["espeak-ng", *(["-m"] if ssml else []), "-v", voice, "-s", str(wpm),
                        "-w", str(wav), text], check=True, capture_output=True)
        subprocess.run(["sox", str(wav), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
                        "-t", "raw", str(raw)], check=True, capture_output=True)
    return raw.read_bytes()


def trim(pcm: bytes) -> bytes:
    """Cut leading and trailing silence: keep from the first to the last 10 ms frame whose
    RMS is within SPEECH_THRESHOLD_DB of the loudest frame."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frame = RATE // 100
    n = len(samples) // frame
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9
    db = 20 * np.log10(rms)
    loud = np.nonzero(db >= db.max() - SPEECH_THRESHOLD_DB)[0]
    first, last = int(loud[0]), int(loud[-1])
    return pcm[first * frame * 2:(last + 1) * frame * 2]


def noise(seconds: float, rng: np.random.Generator) -> bytes:
    samples = rng.normal(0.0, NOISE_RMS, int(seconds * RATE))
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


def make_utterances(cache: Path) -> tuple[list[Utterance], list[Utterance]]:
    """The questions, and the pizza order with a mid-sentence pause in several voices."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise SystemExit("espeak-ng and sox are needed (apt-get install espeak-ng sox)")
    questions = [Utterance(f"q{i}-{voice}-{wpm}", text, trim(espeak(text, voice, wpm, cache)))
                 for i, (text, voice, wpm) in enumerate(QUESTIONS)]
    pauses = []
    for voice, wpm in PAUSE_VOICES:
        # one sentence with a break in it, so that the prosody runs on across the pause
        ssml = f'<speak>{PAUSE_FIRST} <break time="{PAUSE_MS}ms"/> {PAUSE_SECOND}</speak>'
        pcm = trim(espeak(ssml, voice, wpm, cache, ssml=True))
        pauses.append(Utterance(f"pause-{voice}-{wpm}", f"{PAUSE_FIRST} … {PAUSE_SECOND}", pcm))
    return questions, pauses


# --- the server -------------------------------------------------------------------------------


class Server:
    """``openlive serve`` in a subprocess, with its log captured."""

    def __init__(self, data_dir: Path, llm: str | None, extra: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir / "server.log"
        openlive = [sys.executable, "-m", "openlive"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.key = subprocess.run([*openlive, "keys", "create", "--data-dir", str(data_dir)],
                                  check=True, capture_output=True, text=True,
                                  env=env).stdout.strip()
        command = [*openlive, "serve", "--port", str(self.port), "--data-dir", str(data_dir),
                   "--log-level", "info"]
        if llm:
            command += ["--llm", llm]
        command += list(extra)
        self._log = open(self.log_path, "w")  # noqa: SIM115
        started = time.monotonic()
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=ROOT)
        deadline = started + 300
        while True:
            try:
                urllib.request.urlopen(f"{self.http}/health", timeout=1).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"server did not start; see {self.log_path}:\n"
                                     + self.log_path.read_text()[-3000:]) from None
                time.sleep(0.25)
        self.start_seconds = time.monotonic() - started
        log = self.log_path.read_text()
        if "voice engines ready" not in log:
            self.stop()
            raise SystemExit(f"the server has no voice engines:\n{log[-3000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{LIVE_PATH}?key={self.key}"

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.http}/metrics", timeout=10) as response:
            return str(response.read().decode())

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


# --- metrics and log lines ---------------------------------------------------------------------

_BUCKET = re.compile(
    r'^openlive_voice_stage_seconds_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$', re.MULTILINE)


def stage_buckets(text: str) -> dict[str, list[tuple[float, float]]]:
    """stage -> [(upper bound, cumulative count)], sorted by bound."""
    out: dict[str, list[tuple[float, float]]] = {}
    for match in _BUCKET.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        out.setdefault(labels["stage"], []).append((bound, float(match["value"])))
    return {stage: sorted(rows) for stage, rows in out.items()}


def histogram_quantile(before: list[tuple[float, float]], after: list[tuple[float, float]],
                       q: float) -> tuple[float, int]:
    """(quantile, count) of the observations between two scrapes, interpolating linearly
    inside the bucket that holds the quantile (as Prometheus' histogram_quantile)."""
    old = dict(before)
    rows = [(bound, count - old.get(bound, 0.0)) for bound, count in after]
    total = rows[-1][1] if rows else 0
    if total <= 0:
        return math.nan, 0
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in rows:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower, int(total)  # past the last finite bound: report that bound
            inside = cumulative - below
            fraction = (rank - below) / inside if inside else 1.0
            return lower + (bound - lower) * fraction, int(total)
        lower, below = bound, cumulative
    return lower, int(total)


_TURN_LINE = re.compile(r"session (\w+): turn latency (.*)$")
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
_HEARD_LINE = re.compile(r"session (\w+): heard (.*)$")


def turn_lines(log: str) -> dict[str, list[dict[str, float]]]:
    """session id -> its "turn latency" lines in order, as stage -> seconds."""
    out: dict[str, list[dict[str, float]]] = {}
    for line in log.splitlines():
        match = _TURN_LINE.search(line)
        if match:
            stages = {}
            stamp = _LOG_TIME.match(line)
            if stamp:  # when the line was logged: as the first audio was queued
                stages["logged_at"] = time.mktime(
                    time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")) + int(stamp[2]) / 1000
            for part in match[2].split(", "):
                name, _, value = part.rpartition(" ")[0].rpartition(" ")
                with contextlib.suppress(ValueError):
                    stages[name] = float(value) / 1000
            out.setdefault(match[1], []).append(stages)
    return out


# --- the client -------------------------------------------------------------------------------


def audio_message(pcm: bytes) -> str:
    return json.dumps({"realtimeInput": {"audio": {
        "data": base64.b64encode(pcm).decode(), "mimeType": f"audio/pcm;rate={RATE}"}}})


def chunk_messages(pcm: bytes, chunk_bytes: int, pad: bytes) -> list[str]:
    """The messages of one utterance; the last chunk is padded with noise to full size."""
    out = []
    for i in range(0, len(pcm), chunk_bytes):
        piece = pcm[i:i + chunk_bytes]
        out.append(audio_message(piece + pad[:chunk_bytes - len(piece)]))
    return out


@dataclass
class Turn:
    """What the client saw of one user turn and the answer to it."""

    utterance: str
    onset: float | None = None  # send time of the first speech chunk
    speech_end: float | None = None  # send time of the chunk with the last speech sample
    inputs: list[tuple[float, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    first_audio: float | None = None
    first_audio_wall: float | None = None  # time.time() of the same moment
    early_audio: int = 0  # audio messages before the end of speech
    audio_bytes: int = 0
    audio_log: list[tuple[float, int]] = field(default_factory=list)  # (arrival, bytes)
    interrupted: float | None = None
    generation_complete: float | None = None
    turn_complete: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    heard_audio: asyncio.Event = field(default_factory=asyncio.Event)
    got_interrupted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def e2e(self) -> float | None:
        if self.first_audio is None or self.speech_end is None:
            return None
        return self.first_audio - self.speech_end

    @property
    def heard(self) -> str:
        return " ".join(text for _, text in self.inputs)

    @property
    def split(self) -> bool:
        """The server heard this utterance as more than one turn (ended it too early)."""
        return len(self.inputs) > 1


@dataclass
class _Speech:
    messages: list[str]
    turn: Turn | None
    index: int = 0


def setup_message(*, silence_ms: int | None, language: str | None, max_tokens: int) -> str:
    detection: dict[str, Any] = {}
    if silence_ms is not None:
        detection["silenceDurationMs"] = silence_ms
    generation: dict[str, Any] = {"responseModalities": ["AUDIO"], "maxOutputTokens": max_tokens}
    if language:
        generation["speechConfig"] = {"languageCode": language}
    setup: dict[str, Any] = {
        "model": MODEL,
        "generationConfig": generation,
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
    }
    if detection:
        setup["realtimeInputConfig"] = {"automaticActivityDetection": detection}
    return json.dumps({"setup": setup})


class LiveClient:
    """One Live session over raw websockets with a live microphone: it always sends
    ``chunk_s`` of audio every ``chunk_s`` seconds, noise unless it is saying something."""

    def __init__(self, url: str, chunk_ms: int, silence: list[str], deflate: bool) -> None:
        self.url = url
        self.phase = random.random() * chunk_ms / 1000  # real microphones are not in step
        self.chunk_s = chunk_ms / 1000
        self.silence = silence
        self.deflate = deflate
        self.session_id = ""
        self.events: list[tuple[float, str, str]] = []  # (time, kind, text): transcripts etc.
        self.lateness: list[float] = []  # how late each chunk went out vs. its schedule
        self.closed: str | None = None
        self._speech: deque[_Speech] = deque()
        self._turns: deque[Turn] = deque()  # the current turn first, then those expected
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, setup: str, stream: bool = True) -> None:
        from websockets.asyncio.client import connect

        self._ws = await connect(self.url, max_size=None, open_timeout=60, ping_interval=None,
                                 compression="deflate" if self.deflate else None)
        await self._ws.send(setup)
        reply = json.loads(await asyncio.wait_for(self._ws.recv(), 60))
        if "setupComplete" not in reply:
            raise RuntimeError(f"setup refused: {reply}")
        self.session_id = reply["setupComplete"].get("sessionId", "")
        self._tasks.append(asyncio.create_task(self._receive()))
        if stream:
            self._tasks.append(asyncio.create_task(self._send()))

    def expect(self, turn: Turn) -> None:
        """Messages go to ``turn`` once the turns before it are complete."""
        self._turns.append(turn)

    def say(self, messages: list[str], turn: Turn | None) -> None:
        self._speech.append(_Speech(messages, turn))

    def drop(self, turn: Turn) -> None:
        """Stop routing messages to ``turn`` (it timed out)."""
        with contextlib.suppress(ValueError):
            self._turns.remove(turn)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)

    async def _send(self) -> None:
        k = 0
        await asyncio.sleep(self.phase)
        due = time.perf_counter()
        while True:
            speech = self._speech[0] if self._speech else None
            message = (speech.messages[speech.index] if speech is not None
                       else self.silence[k % len(self.silence)])
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._ws.send(message)
            except Exception as exc:  # noqa: BLE001  (the server closed: stop sending)
                self.closed = self.closed or f"send failed: {exc!r}"
                return
            now = time.perf_counter()
            self.lateness.append(now - due)
            if speech is not None:
                turn = speech.turn
                if speech.index == 0 and turn is not None:
                    turn.onset = now
                speech.index += 1
                if speech.index == len(speech.messages):
                    if turn is not None:
                        turn.speech_end = now
                    self._speech.popleft()
            k += 1
            due += self.chunk_s
            if now - due > 1.0:  # hopelessly behind (overloaded client): resynchronize
                due = now

    async def _receive(self) -> None:
        try:
            async for frame in self._ws:
                now = time.perf_counter()
                message = json.loads(frame)
                content = message.get("serverContent")
                if content is not None:
                    self._content(now, content)
        except Exception as exc:  # noqa: BLE001  (a dropped connection ends the session)
            self.closed = f"receive failed: {exc!r}"
        else:
            code = getattr(self._ws.close_rcvd, "code", None)
            reason = getattr(self._ws.close_rcvd, "reason", "")
            self.closed = f"closed {code} {reason}"
        for turn in self._turns:  # nobody waits forever
            turn.done.set()

    def _content(self, now: float, content: dict[str, Any]) -> None:
        turn = self._turns[0] if self._turns else None
        if "inputTranscription" in content:
            text = content["inputTranscription"].get("text", "")
            self.events.append((now, "input", text))
            if turn is not None:
                turn.inputs.append((now, text))
        if "outputTranscription" in content and turn is not None:
            turn.outputs.append(content["outputTranscription"].get("text", ""))
        for part in (content.get("modelTurn") or {}).get("parts", []):
            data = (part.get("inlineData") or {}).get("data")
            if data and turn is not None:
                if turn.speech_end is None:
                    turn.early_audio += 1
                    continue
                if turn.first_audio is None:
                    turn.first_audio = now
                    turn.first_audio_wall = time.time()
                    turn.heard_audio.set()
                size = len(data) * 3 // 4
                turn.audio_bytes += size
                turn.audio_log.append((now, size))
        answering = turn is not None and turn.speech_end is not None
        if content.get("interrupted"):
            self.events.append((now, "interrupted", ""))
            if turn is not None and answering:
                turn.interrupted = now
                turn.got_interrupted.set()
        if content.get("generationComplete"):
            self.events.append((now, "generationComplete", ""))
            if turn is not None and answering:
                turn.generation_complete = now
        if content.get("turnComplete"):
            self.events.append((now, "turnComplete", ""))
            # The answer to this turn is over once it completed or was interrupted after the
            # user finished; an earlier turnComplete ends a reply to a fragment of it.
            if turn is not None and (turn.generation_complete or turn.interrupted):
                turn.turn_complete = now
                turn.done.set()
                self._turns.popleft()


class Bench:
    """Shared settings of the client side."""

    def __init__(self, args: argparse.Namespace, server: Server) -> None:
        self.args = args
        self.server = server
        rng = np.random.default_rng(11)
        self.chunk_bytes = int(RATE * args.chunk_ms / 1000) * 2
        self.pad = noise(1.0, rng)
        self.silence = [audio_message(noise(args.chunk_ms / 1000, rng)) for _ in range(16)]
        self.nagle: dict[str, float] = {}
        self.setup_default = setup_message(silence_ms=args.silence_ms, language=args.language,
                                           max_tokens=args.max_tokens)

    def messages(self, utterance: Utterance) -> list[str]:
        return chunk_messages(utterance.pcm, self.chunk_bytes, self.pad)

    def client(self, chunk_ms: int | None = None, silence: list[str] | None = None
               ) -> LiveClient:
        return LiveClient(self.server.ws_url, chunk_ms or self.args.chunk_ms,
                          silence or self.silence, not self.args.no_deflate)


async def wait(awaitable: Awaitable[Any], timeout: float) -> bool:
    try:
        await asyncio.wait_for(awaitable, timeout)
        return True
    except TimeoutError:
        return False


# --- phase: conversations ---------------------------------------------------------------------


async def conversation(bench: Bench, questions: list[Utterance], turns: int, offset: float,
                       rng: random.Random) -> tuple[LiveClient, list[Turn]]:
    await asyncio.sleep(offset)
    client = bench.client()
    await client.open(bench.setup_default)
    done: list[Turn] = []
    try:
        for _ in range(turns):
            await asyncio.sleep(rng.uniform(0.5, 1.5))  # think time, the microphone stays on
            utterance = rng.choice(questions)
            turn = Turn(utterance.name)
            client.expect(turn)
            client.say(bench.messages(utterance), turn)
            ok = await wait(turn.done.wait(), bench.args.turn_timeout)
            done.append(turn)
            if not ok:
                client.drop(turn)
            if client.closed:
                break
    finally:
        await client.close()
    return client, done


async def conversations(bench: Bench, questions: list[Utterance], sessions: int, turns: int
                        ) -> list[tuple[LiveClient, list[Turn]]]:
    rng = random.Random(5)
    spread = 3.0 if sessions > 1 else 0.0
    jobs = [conversation(bench, questions, turns, spread * i / sessions,
                         random.Random(rng.random())) for i in range(sessions)]
    return list(await asyncio.gather(*jobs))


# --- phase: barge-in --------------------------------------------------------------------------


@dataclass
class BargeIn:
    outcome: str  # see judge_barge_in
    to_interrupted: float | None = None  # onset of the new speech -> `interrupted` received
    audio_after_onset: float | None = None  # onset -> last audio chunk of the old answer
    heard_after_onset: float | None = None  # onset -> the old answer stops for the user
    answered: bool = False  # the interrupting question got an answer with audio
    split: bool = False  # the interrupting question was heard as several turns


def heard_until(audio_log: list[tuple[float, int]], flush_at: float | None) -> float:
    """When a client that plays audio as it arrives (24 kHz 16-bit) and drops its buffer
    on `interrupted` (as the SDK examples do) stops playing this answer."""
    playhead = 0.0
    for arrival, size in audio_log:
        if flush_at is not None and arrival > flush_at:
            break
        playhead = max(playhead, arrival) + size / 48_000
    return playhead if flush_at is None else min(playhead, flush_at)


def judge_barge_in(old: Turn, new: Turn) -> BargeIn:
    onset = new.onset
    assert onset is not None
    if old.done.is_set() and old.turn_complete is not None and old.turn_complete <= onset:
        return BargeIn("answer ended first")
    after = [t for t, _ in old.audio_log if t > onset]
    result = BargeIn("interrupted")
    result.audio_after_onset = (max(after) - onset) if after else 0.0
    if old.interrupted is None:
        # No `interrupted`: fine if the answer had all been sent by the time the barge-in
        # could be confirmed; a failure if its audio kept coming while the user spoke.
        result.outcome = ("talked over" if result.audio_after_onset > TALKED_OVER_SECONDS
                          else "answer all sent within 0.6 s")
    result.heard_after_onset = max(0.0, heard_until(old.audio_log, old.interrupted) - onset)
    if old.interrupted is not None:
        result.to_interrupted = old.interrupted - onset
    return result


async def barge_in_session(bench: Bench, questions: list[Utterance], cycles: int,
                           rng: random.Random) -> tuple[LiveClient, list[BargeIn]]:
    """Ask, and while the answer plays, ask the next question; ``cycles`` times."""
    client = bench.client()
    await client.open(bench.setup_default)
    results: list[BargeIn] = []
    timeout = bench.args.turn_timeout
    try:
        await asyncio.sleep(rng.uniform(0.3, 1.0))
        utterance = rng.choice(questions)
        turn = Turn(utterance.name)
        client.expect(turn)
        client.say(bench.messages(utterance), turn)
        for _ in range(cycles):
            if not await wait(turn.heard_audio.wait(), timeout):
                results.append(BargeIn("no answer"))
                client.drop(turn)
                break
            await asyncio.sleep(rng.uniform(0.2, 0.6))  # talk over the answer
            utterance = rng.choice(questions)
            new = Turn(utterance.name)
            client.expect(new)
            client.say(bench.messages(utterance), new)
            if not await wait(turn.done.wait(), timeout):  # interrupted, or spoke on
                client.drop(turn)
            while new.onset is None and not client.closed:
                await asyncio.sleep(0.01)
            result = judge_barge_in(turn, new)
            result.answered = await wait(new.heard_audio.wait(), timeout)
            result.split = new.split
            results.append(result)
            turn = new
        await wait(turn.done.wait(), timeout)
    finally:
        await client.close()
    return client, results


# --- phase: Smart Turn cut-offs ---------------------------------------------------------------


@dataclass
class CutOff:
    condition: str
    utterance: str
    cut: bool | None  # None: no transcript at all
    first: str
    endpoint_to_transcript: float | None  # end of speech -> the transcript of the last part


async def cutoff_trial(bench: Bench, utterance: Utterance, silence_ms: int | None
                       ) -> CutOff:
    condition = "unset (Smart Turn)" if silence_ms is None else f"{silence_ms} ms"
    setup = setup_message(silence_ms=silence_ms, language=bench.args.language,
                          max_tokens=bench.args.max_tokens)
    client = bench.client()
    await client.open(setup)
    try:
        await asyncio.sleep(0.5)
        turn = Turn(utterance.name)
        client.say(bench.messages(utterance), turn)
        deadline = time.perf_counter() + utterance.seconds + 8.0
        while time.perf_counter() < deadline:
            end = turn.speech_end
            if end is not None and any(t > end for t, kind, _ in client.events
                                       if kind == "input"):
                break
            await asyncio.sleep(0.05)
        inputs = [(t, text) for t, kind, text in client.events if kind == "input"]
    finally:
        await client.close()
    if not inputs:
        return CutOff(condition, utterance.name, None, "", None)
    first = inputs[0][1]
    cut = "salad" not in first.lower() and "please" not in first.lower()
    end = turn.speech_end
    final = next((t for t, _ in inputs if end is not None and t > end), None)
    latency = final - end if final is not None and end is not None else None
    return CutOff(condition, utterance.name, cut, first, latency)


async def cutoffs(bench: Bench, pauses: list[Utterance], trials: int) -> list[CutOff]:
    results: list[CutOff] = []
    for i in range(trials):
        utterance = pauses[i % len(pauses)]
        pair = await asyncio.gather(cutoff_trial(bench, utterance, None),
                                    cutoff_trial(bench, utterance, 1500))
        results += pair
    return results


# --- phase: listening capacity ----------------------------------------------------------------


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


async def run_probe(url: str, seconds: float, quickack: bool = True) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--probe", url, str(seconds),
        *([] if quickack else ["--probe-no-quickack"]), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return dict(json.loads(out))


@dataclass
class Level:
    sessions: int
    p50: float
    p95: float
    p99: float
    errors: int
    rss: int
    server_cpu: float  # cores the server used during the window
    client_cpu: float  # cores this benchmark process used
    other_cpu: float  # cores every other process on the machine used
    closed: int  # sessions the server closed
    send_late_p95: float  # client-side pacing lateness (s), to show the load was real time
    note: str = ""


async def capacity(bench: Bench, levels: list[int], measure_s: float) -> list[Level]:
    rng = np.random.default_rng(3)
    chunk_ms = 100  # what the Python SDK's examples send; 10 messages per second
    silence = [audio_message(noise(chunk_ms / 1000, rng)) for _ in range(16)]
    clients: list[LiveClient] = []
    results: list[Level] = []

    async def measure(k: int) -> Level:
        await asyncio.sleep(2.0)  # settle after the ramp
        for c in clients:
            c.lateness.clear()
        window = CpuWindow(bench.server.pid)
        probe_result = await run_probe(bench.server.http, measure_s)
        cores = window.cores()
        lag = probe_result["ms"]
        late = [x for c in clients for x in c.lateness]
        return Level(k, pct(lag, 0.5), pct(lag, 0.95), pct(lag, 0.99),
                     probe_result["errors"], proc_status(bench.server.pid).get("VmRSS", 0),
                     cores["server"], cores["bench"], cores["other"],
                     sum(1 for c in clients if c.closed), pct(late, 0.95))

    try:
        results.append(await measure(0))
        plain = await run_probe(bench.server.http, 3.0, quickack=False)
        bench.nagle = {"p50": pct(plain["ms"], 0.5), "p95": pct(plain["ms"], 0.95)}
        for k in levels:
            failed = ""
            while len(clients) < k and not failed:
                batch = [LiveClient(bench.server.ws_url, chunk_ms, silence,
                                    not bench.args.no_deflate)
                         for _ in range(min(10, k - len(clients)))]
                opened = await asyncio.gather(
                    *(asyncio.wait_for(c.open(bench.setup_default), 20) for c in batch),
                    return_exceptions=True)
                clients += [c for c, r in zip(batch, opened, strict=True) if r is None]
                errors = [r for r in opened if r is not None]
                if errors:
                    failed = f"{len(errors)} of {len(batch)} sessions failed to open: {errors[0]!r}"
            level = await measure(len(clients))
            level.note = failed
            results.append(level)
            print(f"  capacity {level.sessions}: /health p50 {level.p50:.1f} ms p95 "
                  f"{level.p95:.1f} ms, server {level.server_cpu:.2f} cores, other processes "
                  f"{level.other_cpu:.2f} cores, rss {mib(level.rss)} {failed}", file=sys.stderr)
            if failed or level.p95 > LAG_TARGET_MS or level.closed:
                break  # past the target: more sessions only overload the server
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return results


# --- phase: the lower bound, in-process --------------------------------------------------------


async def lower_bound(questions: list[Utterance], args: argparse.Namespace
                      ) -> list[dict[str, float]]:
    """Each engine of the critical path alone, on the same utterances, nothing else running."""
    from openlive.config import Settings
    from openlive.engines.asr.factory import create_speech_recognizer
    from openlive.engines.llm.base import (
        ChatMessage,
        GenerationRequest,
        SamplingParams,
        TextDelta,
    )
    from openlive.engines.llm.factory import create_language_model
    from openlive.engines.tts.factory import create_speech_synthesizer
    from openlive.engines.tts.voices import resolve_language
    from openlive.engines.turn.smart_turn import SmartTurn
    from openlive.session.chunker import TextChunker

    if args.fake_llm:
        sys.path.insert(0, str(ROOT))
    language = resolve_language(args.language).code if args.language else None
    asr = await asyncio.to_thread(create_speech_recognizer, "whisper")
    # the language model exactly as `openlive serve` configures it (threads included)
    settings = Settings(llm=FAKE_LLM if args.fake_llm else "llamacpp", voice=True,
                        llm_threads=args.llm_threads)
    llm = await asyncio.to_thread(create_language_model, settings.llm,
                                  **settings.llm_options())
    tts = await asyncio.to_thread(create_speech_synthesizer, "piper")
    turn_model = await asyncio.to_thread(SmartTurn)
    preroll = noise(0.3, np.random.default_rng(1))  # the server keeps 300 ms before onset

    async def one(utterance: Utterance, prompt: str | None = None) -> dict[str, float]:
        row: dict[str, float] = {}
        pcm = preroll + utterance.pcm
        start = time.perf_counter()
        await turn_model.predict(pcm[-8 * RATE * 2:])
        row["smart_turn"] = time.perf_counter() - start
        start = time.perf_counter()
        text = (await asr.transcribe(pcm, language=language)).text
        row["asr"] = time.perf_counter() - start
        request = GenerationRequest(
            (ChatMessage("system", SYSTEM),
             ChatMessage("user", prompt or text or utterance.text)),
            SamplingParams(max_tokens=args.max_tokens))
        chunker = TextChunker()
        piece = ""
        start = time.perf_counter()
        async with contextlib.aclosing(cast(AsyncGenerator[Any, None], llm.stream(request))) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    row.setdefault("llm_first_token", time.perf_counter() - start)
                    pieces = chunker.feed(event.text)
                    if pieces:
                        piece = pieces[0]
                        break
            else:
                piece = next(iter(chunker.flush()), "")
        row["llm_first_piece"] = time.perf_counter() - start
        start = time.perf_counter()
        speech = tts.synthesize(piece or "Okay.", voice="Puck", language=language)
        async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], speech)) as audio:
            async for _chunk in audio:
                row["tts_first_chunk"] = time.perf_counter() - start
                break
        row["sum"] = row["asr"] + row["llm_first_piece"] + row["tts_first_chunk"]
        return row

    rows: list[dict[str, float]] = []
    await await_quiet(args.quiet_wait)
    try:
        deadline = time.perf_counter() + args.lower_bound_budget
        # warm-up (first calls load and allocate), with a prompt none of the runs repeats:
        # only the system instruction's prefix is cached, as in a served first turn
        await one(questions[0], prompt="Say hello.")
        window = CpuWindow(None)
        for _ in range(args.lower_bound_reps):
            for utterance in questions:
                if time.perf_counter() > deadline and rows:
                    break  # a loaded machine makes each run slow: keep the run bounded
                rows.append(await one(utterance))
        args.lower_bound_cpu = window.cores()
    finally:
        for engine in (asr, llm, tts, turn_model):
            await engine.aclose()
    return rows


# --- the report -------------------------------------------------------------------------------


def quantiles(values: Iterable[float | None]) -> tuple[int, float, float]:
    got = [v for v in values if v is not None]
    return len(got), pct(got, 0.5), pct(got, 0.95)


def cores_text(cores: dict[str, float] | None) -> str:
    if not cores:
        return "?"
    return (f"server {cores['server']:.2f}, benchmark {cores['bench']:.2f}, "
            f"other processes {cores['other']:.2f} cores")


CAPACITY_HEADER = ("| listening sessions | /health p50 | p95 | p99 | server CPU | benchmark CPU | "
                   "other processes CPU | client send lateness p95 | server RSS | "
                   "sessions closed |")


def capacity_method(args: argparse.Namespace) -> str:
    return ("sessions streaming noise in real time in 100 ms chunks; `GET /health` from "
            f"another process every ~50 ms for {args.capacity_seconds:.0f} s")


def capacity_row(lv: dict[str, Any], first: str | None = None) -> str:
    """One level's table row; ``first`` replaces the session count in the first cell."""
    late = lv["send_late_p95"]
    return (f"| {first or lv['sessions']} | {lv['p50']:.1f} ms | {lv['p95']:.1f} ms | "
            f"{lv['p99']:.1f} ms | {lv['server_cpu']:.2f} | {lv['client_cpu']:.2f} | "
            f"{lv['other_cpu']:.2f} | "
            f"{'–' if math.isnan(late) else f'{late * 1000:.0f} ms'} | "
            f"{mib(lv['rss'])} | {lv['closed']} |")


def largest_passing(levels: list[dict[str, Any]]) -> int:
    """The largest K such that it and every smaller level met the lag target."""
    best = 0
    for lv in levels:
        if lv["sessions"] and lv["p95"] > LAG_TARGET_MS:
            break
        best = lv["sessions"]
    return best


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    out: list[str] = []
    add = out.append
    llm = "fake echo LLM (tests.fakes.llm)" if args.fake_llm else "llama.cpp Qwen2.5-0.5B"
    window = (f"unset → Whisper at each {PAUSE_REPORT_MS} ms pause, then Smart Turn v3.2 when "
              "the words could end a sentence, 1500 ms fallback"
              if args.silence_ms is None else f"silenceDurationMs={args.silence_ms}")
    ahead = "--no-answer-ahead" not in args.server_arg
    window += ("; the answer is generated during the pause and held (answering ahead)"
               if ahead else "; no answering ahead")
    language = (f"languageCode {args.language} → Whisper tiny.en" if args.language
                else "no languageCode → Whisper base with language detection")
    add(f"Run {results['when']} at commit {results['commit']}, {results['machine']}; "
        f"load average {results['load_start']} at start, {results['load_end']} at end "
        "(the machine is shared: see the CPU of other processes below).  ")
    add(f"Stack: Silero VAD, {window}, {language}, {llm} (maxOutputTokens "
        f"{args.max_tokens}, a one-sentence system instruction), Piper.  ")
    add(f"Clients: raw `websockets` (permessage-deflate "
        f"{'off' if args.no_deflate else 'on, as the SDKs'}), {args.chunk_ms} ms chunks sent "
        "in real time, low-level noise between utterances.  ")
    phases = ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in results["phases"].items())
    add(f"Command: `{results['command']}` ({results['elapsed']:.0f} s: {phases})")
    add("")

    turns: list[dict[str, Any]] = results["turns"]
    lines: dict[str, dict[str, float]] = results["turn_lines"]
    clean = [t for t in turns if t["e2e"] is not None and not t["split"]]
    add(f"### End of speech → first audio ({args.sessions} concurrent sessions × "
        f"{args.turns} turns)")
    add("")
    add(f"During the conversations: {cores_text(results['cpu'].get('conversations'))}.")
    add("")
    add("| stage | n | p50 | p95 | histogram p50 | histogram p95 |")
    add("|---|---|---|---|---|---|")
    client = quantiles(t["e2e"] for t in clean)
    add(f"| **client: end of speech → first audio byte received** | {client[0]} | "
        f"**{ms(client[1])}** | **{ms(client[2])}** | | |")
    hist = results["histogram"]
    for stage in STAGES:
        n, p50, p95 = quantiles(line.get(stage) for line in lines.values())
        h = hist.get(stage, {})
        label = ("server: end of speech → first audio queued" if stage == "first_audio"
                 else f"server: {stage}")
        add(f"| {label} | {n} | {ms(p50)} | {ms(p95)} | {ms(h.get('p50', math.nan))} | "
            f"{ms(h.get('p95', math.nan))} |")
    after = quantiles(line["first_audio"] - line["endpoint"] for line in lines.values()
                      if "first_audio" in line and "endpoint" in line)
    add(f"| server: endpoint decision → first audio | {after[0]} | {ms(after[1])} | "
        f"{ms(after[2])} | | |")
    # an answer started ahead of the endpoint overlaps it by "ahead"
    gap = quantiles(line["first_audio"] + line.get("ahead", 0.0) - sum(line.get(s, 0.0) for s in (
        "endpoint", "asr", "llm_first_piece", "tts_first_chunk")) for line in lines.values()
        if "first_audio" in line)
    add(f"| server: not in any stage (queues, hand-offs) | {gap[0]} | {ms(gap[1])} | "
        f"{ms(gap[2])} | | |")
    delivery = quantiles(t["first_audio_wall"] - t["server"]["logged_at"] for t in turns
                         if t["server"] and t["first_audio_wall"] and "logged_at" in t["server"])
    add(f"| first audio queued (server log time) → received (client), ms clocks | "
        f"{delivery[0]} | {ms(delivery[1])} | {ms(delivery[2])} | | |")
    add("")
    add("Client column: per turn, from the send time of the chunk holding the last speech "
        "sample to the arrival of the first audio chunk of the answer. Server rows: the "
        "server's own per-turn `turn latency` log lines (exact). Histogram columns: "
        "`openlive_voice_stage_seconds` bucket deltas between two scrapes of `/metrics`, "
        "interpolated linearly within buckets (only as fine as the buckets: 25, 50, 100, "
        "150, 200, 300, 400, 500, 700 ms, 1, 1.5, 2, 3, 5 s).")
    notes = []
    if args.silence_ms is None:
        endpoints = [line["endpoint"] for line in lines.values() if "endpoint" in line]
        early = sum(1 for e in endpoints if e < 1.4)
        notes.append(f"turns ended by Smart Turn before the 1500 ms fallback: "
                     f"{early}/{len(endpoints)}")
    split = [t for t in turns if t["split"]]
    notes.append(f"utterances heard as several turns (ended too early, excluded from the "
                 f"client column): {len(split)}/{len(turns)}")
    unanswered = [t for t in turns if t["e2e"] is None]
    notes.append(f"turns without an audio answer: {len(unanswered)}/{len(turns)}")
    if results["stray_lines"]:
        notes.append(f"`turn latency` lines without an LLM stage, excluded (a trace that "
                     f"took the previous reply's audio as its first audio): "
                     f"{results['stray_lines']}")
    add("")
    for note in notes:
        add(f"- {note}")
    add("")

    lb: list[dict[str, float]] = results["lower_bound"]
    if lb:
        add(f"### Critical-path lower bound (same engines in-process, server stopped, "
            f"{len(lb)} runs)")
        add("")
        lb_cpu = getattr(args, "lower_bound_cpu", None)
        if lb_cpu:
            add(f"During these runs: benchmark (the engines) {lb_cpu['bench']:.2f}, other "
                f"processes {lb_cpu['other']:.2f} cores.")
            add("")
        add("| stage | p50 | p95 | served p50 (log lines above) |")
        add("|---|---|---|---|")
        for stage, label, served_stage in (
                ("asr", "Whisper on the utterance (+300 ms pre-roll)", "asr"),
                ("llm_first_token", "LLM first token", "llm_first_token"),
                ("llm_first_piece", "LLM first speakable piece (TextChunker)", "llm_first_piece"),
                ("tts_first_chunk", "Piper first chunk of that piece", "tts_first_chunk"),
                ("sum", "**sum = lower bound after the endpoint decision**", None)):
            _, p50, p95 = quantiles(r.get(stage) for r in lb)
            s50 = (quantiles(line.get(served_stage) for line in lines.values())[1]
                   if served_stage else after[1])
            add(f"| {label} | {ms(p50)} | {ms(p95)} | {ms(s50)} |")
        _, st50, st95 = quantiles(r.get("smart_turn") for r in lb)
        add(f"| Smart Turn inference (after the words; beside the answer when it is "
            f"generated ahead) | {ms(st50)} | {ms(st95)} | |")
        semantic = args.silence_ms is None
        pause = PAUSE_REPORT_MS / 1000
        if semantic:
            # answering ahead: Smart Turn runs beside the answer, off the critical path
            how = (f"{PAUSE_REPORT_MS} ms pause + sum" if ahead
                   else f"{PAUSE_REPORT_MS} ms pause + sum + Smart Turn")
            paths = (pause + r["sum"] + (0.0 if ahead else r["smart_turn"]) for r in lb
                     if "sum" in r)
        else:
            window_s = args.silence_ms / 1000
            how = (f"the later of the {args.silence_ms} ms window and {PAUSE_REPORT_MS} ms "
                   "pause + sum (answered ahead)" if ahead
                   else f"{args.silence_ms} ms window + sum")
            paths = (max(window_s, pause + r["sum"]) if ahead else window_s + r["sum"]
                     for r in lb if "sum" in r)
        _, e50, e95 = quantiles(paths)
        add(f"| end of speech → first audio if the turn ends at the first pause ({how}) | "
            f"{ms(e50)} | {ms(e95)} | {ms(client[1])} (client) |")
        add("")
        add("The served ASR can be shorter than Whisper alone: the server transcribes "
            "speculatively at each pause, so at the endpoint the transcript is often ready.")
        add("")

    barge: list[dict[str, Any]] = results["barge_in"]
    if barge:
        real = [b for b in barge if b["outcome"] != "answer ended first"
                and b["outcome"] != "no answer"]
        add(f"### Barge-in ({len(barge)} trials: a new question 0.2–0.6 s into the answer's "
            "audio)")
        add("")
        add(f"During the barge-ins: {cores_text(results['cpu'].get('barge_in'))}.")
        add("")
        add("| metric | n | p50 | p95 |")
        add("|---|---|---|---|")
        for key, label in (
                ("to_interrupted", "speech onset (first speech chunk sent) → `interrupted`"),
                ("audio_after_onset", ("speech onset → last audio chunk of the old answer "
                                      "received")),
                ("heard_after_onset", ("speech onset → old answer stops for a client that "
                                      "plays as it receives and flushes on `interrupted`"))):
            n, p50, p95 = quantiles(b[key] for b in real)
            add(f"| {label} | {n} | {ms(p50)} | {ms(p95)} |")
        add("")
        outcomes: dict[str, int] = {}
        for b in barge:
            outcomes[b["outcome"]] = outcomes.get(b["outcome"], 0) + 1
        add("- outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.items())
            + f" (talked over: no `interrupted`, and the old answer's audio kept arriving "
            f"more than {TALKED_OVER_SECONDS * 1000:.0f} ms after the onset)")
        add(f"- interrupting questions answered with audio: "
            f"{sum(1 for b in barge if b['answered'])}/{len(barge)}; heard as several turns: "
            f"{sum(1 for b in barge if b['split'])}/{len(barge)}")
        add("")

    levels: list[dict[str, Any]] = results["capacity"]
    if levels:
        best = largest_passing(levels)
        add(f"### Listening capacity ({capacity_method(args)})")
        add("")
        add(CAPACITY_HEADER)
        add("|---|---|---|---|---|---|---|---|---|---|")
        out.extend(capacity_row(lv) for lv in levels)
        add("")
        for lv in levels:
            if lv.get("note"):
                add(f"Ramp stopped at {lv['sessions']} sessions: {lv['note']}.")
                add("")
        nagle = results.get("nagle") or {}
        if nagle:
            stalled = nagle["p95"] > LAG_TARGET_MS
            add(f"The probe sets TCP_QUICKACK. Without it, on the idle server: /health p50 "
                f"{nagle['p50']:.1f} ms, p95 {nagle['p95']:.1f} ms"
                + (" — the server's sockets have no TCP_NODELAY, so the response body waits "
                   "for the probe's delayed ACK." if stalled else
                   " (no delayed-ACK stall this time; it comes and goes)."))
            add("")
        add(f"Largest K (of {', '.join(str(k) for k in args.capacity)}) with /health "
            f"p95 ≤ {LAG_TARGET_MS:.0f} ms at that level and every smaller one: **{best}**. "
            "CPU in cores (of 2).")
        add("")

    mem = results["memory"]
    add("### Server memory (VmRSS)")
    add("")
    add("| when | RSS |")
    add("|---|---|")
    add(f"| idle, engines loaded, before any session | {mib(mem.get('idle'))} |")
    add(f"| after the conversations | {mib(mem.get('after_turns'))} |")
    if levels:
        add(f"| at {levels[-1]['sessions']} listening sessions | {mib(levels[-1]['rss'])} |")
    add(f"| peak (VmHWM) | {mib(mem.get('peak'))} |")
    add("")

    cuts: list[dict[str, Any]] = results["cutoffs"]
    if cuts:
        add(f"### Smart Turn cut-offs (\"{PAUSE_FIRST}\" — {PAUSE_MS} ms pause — "
            f"\"{PAUSE_SECOND}\", a different espeak voice/speed each trial)")
        add("")
        add("| silenceDurationMs | trials | cut off at the pause | no transcript | "
            "end of speech → transcript of the (last) turn p50 |")
        add("|---|---|---|---|---|")
        for condition in dict.fromkeys(c["condition"] for c in cuts):
            rows = [c for c in cuts if c["condition"] == condition]
            cut = sum(1 for c in rows if c["cut"])
            none = sum(1 for c in rows if c["cut"] is None)
            _, p50, _ = quantiles(c["endpoint_to_transcript"] for c in rows)
            add(f"| {condition} | {len(rows)} | {cut}/{len(rows)} "
                f"({100 * cut / len(rows):.0f}%) | {none} | {ms(p50)} |")
        add("")
        add("A cut-off: the first `inputTranscription` lacks the second half. Both conditions "
            "run side by side, on the same audio.")
        add("")
    return "\n".join(out)


VOICE_TITLE = "Voice latency"
CAPACITY_TITLE = "Listening capacity: VAD on the event loop vs batched"


def write_docs(section: str, path: Path, title: str = VOICE_TITLE) -> None:
    """Replace the '## <title>' section of docs/benchmarks.md (create the file; a new
    section goes before '## Text latency')."""
    text = path.read_text() if path.exists() else (
        "# Benchmarks\n\nEach benchmark compares with a baseline measured in the same run, on "
        "the machine it runs on (here: 2 cores, shared with other jobs).\n")
    how = ("`bench/voice_latency.py` (`--help` lists the options; `--quick` takes about 2 "
           "minutes)." if title == VOICE_TITLE else
           "`bench/voice_latency.py --capacity-only` (about 2 minutes per server and round; "
           "`--help` lists the options).")
    body = f"## {title}\n\n{how}\n\n" + section.strip() + "\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _m: body + "\n", text)
    elif "\n## Text latency" in text:
        text = text.replace("\n## Text latency", "\n" + body + "\n## Text latency", 1)
    else:
        text = text.rstrip() + "\n\n" + body
    if "## Text latency" not in text:
        text = text.rstrip() + "\n\n## Text latency\n\n(see bench/text_latency.py)\n"
    path.write_text(text.rstrip() + "\n")


# --- capacity only: the VAD on the event loop vs batched ---------------------------------------

# (name in the report, the server's flags); the first is the baseline
VAD_MODES = (("event loop", ["--no-vad-batching"]), ("batched", ["--vad-batching"]))


async def capacity_only(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Only the listening-capacity ramp, on a fresh server per VAD mode, alternating the
    order each round (ABBA…) so that drift in the machine's load hits both alike."""
    for round_no in range(1, args.capacity_rounds + 1):
        modes = VAD_MODES if round_no % 2 else VAD_MODES[::-1]
        for name, flags in modes:
            with tempfile.TemporaryDirectory(prefix="openlive-bench-") as tmp:
                print(f"round {round_no}, VAD {name}: starting openlive serve {' '.join(flags)} …",
                      file=sys.stderr)
                extra = ["--llm-threads", str(args.llm_threads)] if args.llm_threads else []
                server = Server(Path(tmp), FAKE_LLM if args.fake_llm else None,
                                [*extra, *flags])
                try:
                    await asyncio.sleep(1.0)
                    await await_quiet(args.quiet_wait, server.pid)
                    levels = await capacity(Bench(args, server), args.capacity,
                                            args.capacity_seconds)
                    results["capacity_runs"].append({
                        "round": round_no, "vad": name, "levels": [vars(lv) for lv in levels],
                        "peak": proc_status(server.pid).get("VmHWM"),
                        "warnings": [line for line in server.log_text().splitlines()
                                     if " WARNING " in line or " ERROR " in line][-10:]})
                finally:
                    server.stop()
                    if args.keep_log:
                        shutil.copy(server.log_path,
                                    f"{args.keep_log}.{round_no}.{name.replace(' ', '-')}")


def capacity_report(results: dict[str, Any], args: argparse.Namespace) -> str:
    runs: list[dict[str, Any]] = results["capacity_runs"]
    out: list[str] = []
    add = out.append
    llm = "fake echo LLM (tests.fakes.llm)" if args.fake_llm else "llama.cpp Qwen2.5-0.5B"
    add(f"Run {results['when']} at commit {results['commit']}, {results['machine']}; load "
        f"average {results['load_start']} at start, {results['load_end']} at end.  ")
    add(f"Servers: `openlive serve` with Silero VAD, Whisper, Piper, Smart Turn and {llm}, "
        "once with `--no-vad-batching` (each 32 ms frame scored on the event loop as it "
        "arrives: the old path) and once with `--vad-batching` (the default: one worker "
        "thread scores the frames of all sessions in batched calls), a fresh server for "
        f"each, alternating which goes first; rounds: {args.capacity_rounds}.  ")
    add(f"Load: {capacity_method(args)}; levels "
        f"{', '.join(str(k) for k in args.capacity)}, each ramp stopping at the first level "
        f"over {LAG_TARGET_MS:.0f} ms.  ")
    add(f"Command: `{results['command']}` ({results['elapsed']:.0f} s)")
    add("")
    add("| VAD | " + " | ".join(f"round {r}" for r in range(1, args.capacity_rounds + 1))
        + " |")
    add("|---|" + "---|" * args.capacity_rounds)
    for name, _ in VAD_MODES:
        cells = [str(largest_passing(run["levels"])) for run in runs if run["vad"] == name]
        add(f"| {name} | " + " | ".join(f"**{c}**" for c in cells) + " |")
    add("")
    add(f"Largest number of listening sessions with /health p95 ≤ {LAG_TARGET_MS:.0f} ms at "
        "that level and every smaller one. Every level measured, in the order run (CPU in "
        "cores of 2):")
    add("")
    add("| round, VAD: listening sessions"
        + CAPACITY_HEADER.removeprefix("| listening sessions"))
    add("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        out.extend(capacity_row(lv, f"{run['round']}, {run['vad']}: {lv['sessions']}")
                   for lv in run["levels"])
    add("")
    for run in runs:
        for lv in run["levels"]:
            if lv.get("note"):
                add(f"Round {run['round']}, {run['vad']}: ramp stopped at {lv['sessions']} "
                    f"sessions: {lv['note']}.")
                add("")
    return "\n".join(out)


# --- main -------------------------------------------------------------------------------------


async def served(args: argparse.Namespace, questions: list[Utterance],
                 pauses: list[Utterance], results: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="openlive-bench-") as tmp:
        print("starting openlive serve …", file=sys.stderr)
        extra = ["--llm-threads", str(args.llm_threads)] if args.llm_threads else []
        extra += args.server_arg
        server = Server(Path(tmp), FAKE_LLM if args.fake_llm else None, extra)
        print(f"  up in {server.start_seconds:.1f} s (pid {server.pid}, port {server.port})",
              file=sys.stderr)
        try:
            bench = Bench(args, server)
            await asyncio.sleep(1.0)
            results["memory"]["idle"] = proc_status(server.pid).get("VmRSS")
            print("warm-up turn …", file=sys.stderr)
            warm_client, warm = await conversation(bench, questions[:1], 1, 0.0,
                                                   random.Random(1))
            if not warm or warm[0].e2e is None:
                raise SystemExit("the warm-up turn got no audio answer; see "
                                 f"{server.log_path}:\n{server.log_text()[-3000:]}")
            before = stage_buckets(server.metrics())
            await await_quiet(args.quiet_wait, server.pid)
            print(f"conversations: {args.sessions} sessions × {args.turns} turns …",
                  file=sys.stderr)
            window = CpuWindow(server.pid)
            started = time.perf_counter()
            sessions = await conversations(bench, questions, args.sessions, args.turns)
            results["cpu"]["conversations"] = window.cores()
            results["phases"]["conversations"] = time.perf_counter() - started
            print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
            after = stage_buckets(server.metrics())
            results["memory"]["after_turns"] = proc_status(server.pid).get("VmRSS")
            for stage in STAGES:
                if stage in after:
                    p50, n = histogram_quantile(before.get(stage, []), after[stage], 0.5)
                    p95, _ = histogram_quantile(before.get(stage, []), after[stage], 0.95)
                    results["histogram"][stage] = {"p50": p50, "p95": p95, "n": n}
            lines = turn_lines(server.log_text())
            for client, done in sessions:
                # A trace whose "first audio" was the previous reply's has no LLM stage.
                server_lines = [line for line in lines.get(client.session_id, [])
                                if "llm_first_token" in line]
                results["stray_lines"] += len(lines.get(client.session_id, [])) - len(
                    server_lines)
                joined = len(server_lines) == len(done)
                for i, turn in enumerate(done):
                    results["turns"].append({
                        "session": client.session_id, "utterance": turn.utterance,
                        "heard": [text for _, text in turn.inputs],
                        "said": "".join(turn.outputs), "e2e": turn.e2e, "split": turn.split,
                        "first_audio_wall": turn.first_audio_wall,
                        "early_audio": turn.early_audio,
                        "server": server_lines[i] if joined else None,
                        "closed": client.closed})
                for j, line in enumerate(server_lines):
                    results["turn_lines"][f"{client.session_id}/{j}"] = line
            late = [x for client, _ in sessions for x in client.lateness]
            results["client_send_late_p95"] = pct(late, 0.95)

            if args.barge_in_trials:
                await await_quiet(args.quiet_wait, server.pid)
                print(f"barge-in: {args.barge_in_trials} trials …", file=sys.stderr)
                parallel = 2 if args.barge_in_trials > 1 else 1
                per = math.ceil(args.barge_in_trials / parallel)
                window = CpuWindow(server.pid)
                outcome = await asyncio.gather(*(
                    barge_in_session(bench, questions, per, random.Random(20 + i))
                    for i in range(parallel)))
                results["cpu"]["barge_in"] = window.cores()
                results["phases"]["barge_in"] = time.perf_counter() - window.start[0]
                results["barge_in"] = [vars(b) for _, rows in outcome for b in rows]

            if args.cutoff_trials:
                print(f"cut-offs: {args.cutoff_trials} trials × 2 conditions …",
                      file=sys.stderr)
                started = time.perf_counter()
                results["cutoffs"] = [vars(c) for c in
                                      await cutoffs(bench, pauses, args.cutoff_trials)]
                results["phases"]["cutoffs"] = time.perf_counter() - started

            if args.capacity:
                await await_quiet(args.quiet_wait, server.pid)
                print(f"capacity: {args.capacity} …", file=sys.stderr)
                started = time.perf_counter()
                results["capacity"] = [vars(lv) for lv in await capacity(
                    bench, args.capacity, args.capacity_seconds)]
                results["phases"]["capacity"] = time.perf_counter() - started
                results["nagle"] = bench.nagle
            results["memory"]["peak"] = proc_status(server.pid).get("VmHWM")
            results["server_warnings"] = [
                line for line in server.log_text().splitlines()
                if " WARNING " in line or " ERROR " in line][-40:]
            del warm_client
        finally:
            server.stop()
            if args.keep_log:
                shutil.copy(server.log_path, args.keep_log)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True,
                               check=False).stdout.strip()
        return out + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=None,
                        help="concurrent conversation sessions (default 3; quick 2)")
    parser.add_argument("--turns", type=int, default=None,
                        help="turns per conversation session (default 4; quick 2)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer turns and trials, one capacity level: about 2 minutes")
    parser.add_argument("--silence-ms", type=int, default=None,
                        help="silenceDurationMs of the conversation and barge-in sessions "
                             "(default: unset, so Smart Turn ends turns)")
    parser.add_argument("--fake-llm", action="store_true",
                        help=f"serve with --llm {FAKE_LLM} (pipeline latency without the "
                             "language model's time)")
    parser.add_argument("--language", default="en-US",
                        help="speechConfig.languageCode (default en-US; 'none' leaves it "
                             "unset, so the server detects the language with Whisper base)")
    parser.add_argument("--max-tokens", type=int, default=40, help="maxOutputTokens")
    parser.add_argument("--llm-threads", type=int, default=None,
                        help="llama.cpp threads, for the server and the lower bound alike "
                             "(default: the server's own default)")
    parser.add_argument("--chunk-ms", type=int, default=40,
                        help="audio chunk of the conversation clients, 20–100 (default 40)")
    parser.add_argument("--barge-in-trials", type=int, default=None,
                        help="barge-ins (default 6; quick 1)")
    parser.add_argument("--cutoff-trials", type=int, default=None,
                        help="pause trials per condition (default 10; quick 2)")
    parser.add_argument("--capacity", default=None,
                        help="listening-session levels, comma-separated "
                             "(default 10,25,50,100,150; quick 25; 0 skips); the ramp "
                             "stops at the first level past the 20 ms target")
    parser.add_argument("--capacity-seconds", type=float, default=None,
                        help="probe window per level (default 8; quick 3)")
    parser.add_argument("--capacity-only", action="store_true",
                        help="only the listening-capacity ramp, on a fresh server per VAD "
                             "mode: --no-vad-batching (the baseline) and --vad-batching, "
                             "alternating (default levels 25,50,75,100,125,150,200)")
    parser.add_argument("--capacity-rounds", type=int, default=2,
                        help="with --capacity-only: rounds of the two servers (default 2)")
    parser.add_argument("--lower-bound-reps", type=int, default=None,
                        help="passes over the utterances in-process (default 2; quick 1)")
    parser.add_argument("--lower-bound-budget", type=float, default=None,
                        help="seconds for the lower bound's runs, after loading "
                             "(default 90; quick 15)")
    parser.add_argument("--no-lower-bound", action="store_true",
                        help="skip the in-process lower bound")
    parser.add_argument("--no-deflate", action="store_true",
                        help="no permessage-deflate (the SDKs negotiate it)")
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="before each measured phase, wait up to this many seconds for "
                             "other processes to use under 0.4 cores (default 15; quick 0)")
    parser.add_argument("--turn-timeout", type=float, default=TURN_TIMEOUT,
                        help="seconds to wait for one answer")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="an extra argument for `openlive serve` (repeatable), e.g. "
                             "--server-arg=--no-answer-ahead")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep-log", type=Path, help="copy the server log here")
    parser.add_argument("--write-docs", action="store_true",
                        help="put the tables into docs/benchmarks.md")
    parser.add_argument("--probe", nargs=2, metavar=("URL", "SECONDS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--probe-no-quickack", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe[0], float(args.probe[1]), quickack=not args.probe_no_quickack)
        return
    quick = args.quick
    if args.language.lower() in ("", "none"):
        args.language = None
    args.sessions = args.sessions or (2 if quick else 3)
    args.turns = args.turns or (2 if quick else 4)
    args.barge_in_trials = (args.barge_in_trials if args.barge_in_trials is not None
                            else 1 if quick else 6)
    args.cutoff_trials = (args.cutoff_trials if args.cutoff_trials is not None
                          else 2 if quick else 10)
    levels = args.capacity if args.capacity is not None else (
        "25,50,75,100,125,150,200" if args.capacity_only else "25" if quick
        else "10,25,50,100,150")
    args.capacity = [int(x) for x in levels.split(",") if int(x) > 0]
    args.capacity_seconds = args.capacity_seconds or (3.0 if quick else 8.0)
    args.lower_bound_reps = args.lower_bound_reps or (1 if quick else 2)
    args.lower_bound_budget = args.lower_bound_budget or (15.0 if quick else 90.0)
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if quick else 15.0
    if quick and args.turn_timeout == TURN_TIMEOUT:
        args.turn_timeout = 30.0
    if not 20 <= args.chunk_ms <= 100:
        parser.error("--chunk-ms must be within 20–100")

    started = time.perf_counter()
    cache = Path(tempfile.gettempdir()) / "openlive-bench-voice"
    cache.mkdir(exist_ok=True)
    questions, pauses = make_utterances(cache)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "machine": f"{os.cpu_count()} cores ({platform.machine()})",
        "load_start": load_average(),
        "command": " ".join(["python", "bench/voice_latency.py", *sys.argv[1:]]),
        "memory": {}, "cpu": {}, "phases": {}, "turns": [], "turn_lines": {}, "stray_lines": 0,
        "histogram": {}, "barge_in": [], "cutoffs": [], "capacity": [], "lower_bound": [],
        "capacity_runs": [],
    }
    if args.capacity_only:
        asyncio.run(capacity_only(args, results))
        results["load_end"] = load_average()
        results["elapsed"] = time.perf_counter() - started
        text = capacity_report(results, args)
        print()
        print(text)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=str))
        if args.write_docs:
            write_docs(text, ROOT / "docs" / "benchmarks.md", CAPACITY_TITLE)
            print("wrote docs/benchmarks.md", file=sys.stderr)
        return
    asyncio.run(served(args, questions, pauses, results))
    if not args.no_lower_bound:
        print("lower bound, in-process (server stopped) …", file=sys.stderr)
        subset = questions if not quick else questions[:2]
        started_lb = time.perf_counter()
        results["lower_bound"] = asyncio.run(lower_bound(subset, args))
        results["phases"]["lower_bound"] = time.perf_counter() - started_lb
    results["load_end"] = load_average()
    results["elapsed"] = time.perf_counter() - started
    text = report(results, args)
    print()
    print(text)
    if results.get("server_warnings"):
        print("\nserver warnings/errors:", *results["server_warnings"], sep="\n  ",
              file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if args.write_docs:
        write_docs(text, ROOT / "docs" / "benchmarks.md")
        print("wrote docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
