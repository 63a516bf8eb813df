"""Understanding on the evaluation set: what the server hears, when it answers, and whether
the answer is right, per voice kind, at default settings and with ``languageCode`` set.

Each item of ``bench/evalset.json`` (built by ``bench/evalset.py``) is one fresh Live
session over the raw wire protocol (``websockets``): a live microphone that streams
low-level noise in 40 ms chunks at the item's rate, in real time, the item's audio in
the middle, with ``inputAudioTranscription`` and ``outputAudioTranscription`` on and the
system instruction "You are a voice assistant. Answer in one short sentence." Twice:
``default`` (no ``languageCode``: what most Live programs send) and ``languageCode``
(``speechConfig.languageCode`` = the item's language).

Per item:

* **WER**: the final ``inputTranscription`` pieces against the reference, both
  normalized (``bench/textnorm.py``: case, punctuation, accents, English numbers as
  words); summed over items (errors / reference words);
* **wrong script / wrong language**: letters outside the language's script (Thai for
  English speech), or a transcript clearly in another Latin-script language;
* **cut-off**: the server ended the turn before the utterance was over (a final
  transcript or answer audio before the last speech sample was sent, or the utterance
  heard as two turns); the pause items test it most;
* **late end**: answer audio starting more than ``--late`` seconds after the last speech
  sample was sent (end of turn + recognition + first words + first audio);
* **barge-ins**: a prompt asks for a long reply; one second into it a noise, a cough or a
  backchannel (must not interrupt: a *false* barge-in if it does) or a question (must:
  *missed* if no ``interrupted`` within 2.5 s of its end) is played over it;
* **answers right**: any of the item's keywords in the ``outputTranscription``; and
  among the questions heard word for word, so that what the model gets wrong is told
  apart from what the recognizer did.

Starts ``openlive serve`` on the default stack (its own data directory, a free port)
unless ``--url`` and ``--key`` name a running server. Prints markdown tables;
``--write-docs`` appends/replaces the section in docs/benchmarks.md.

    .venv/bin/python bench/evalset.py build                   # once: the audio
    .venv/bin/python bench/understanding.py                   # all items, both settings
    .venv/bin/python bench/understanding.py --items 'human-*' --conditions default
    .venv/bin/python bench/understanding.py --url ws://127.0.0.1:8080 --key KEY --limit 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from evalset import DEFAULT_CACHE, MANIFEST, Built, Item, build, load_items, select
from lib.live import close_connection
from lib.server import LIVE_PATH, Server
from lib.stats import pct
from lib.tables import replace_section
from textnorm import has_answer, word_errors, wrong_language, wrong_script

ROOT = Path(__file__).resolve().parents[1]
MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
SYSTEM = "You are a voice assistant. Answer in one short sentence."
CHUNK_S = 0.04
LEAD_S = 0.4  # microphone noise before the item
NOISE_RMS = 10.0  # a live microphone's "silence": white noise, about -70 dBFS
CONDITIONS = ("default", "languageCode")
OVER_AFTER_S = 1.0  # a barge-in item starts this long into the reply's audio
BARGE_WAIT_S = 2.5  # after its end, how long ``interrupted`` may take
HEARD_TIMEOUT_S = 10.0  # after the speech, give up when nothing at all was heard
TITLE = "## Understanding (evaluation set)"


# --- one session ------------------------------------------------------------------------


@dataclass
class Events:
    """What the server sent, with arrival times (time.perf_counter)."""

    inputs: list[tuple[float, str]] = field(default_factory=list)  # final transcripts
    outputs: list[tuple[float, str]] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)
    interrupted: list[float] = field(default_factory=list)
    turn_complete: list[float] = field(default_factory=list)
    closed: str | None = None

    def since(self, times: Sequence[float], t: float) -> list[float]:
        return [x for x in times if x >= t]


class Microphone:
    """One Live session fed like a microphone: noise, unless an utterance is queued."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.events = Events()
        self._queue: list[tuple[bytes, asyncio.Future[float]]] = []
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        rng = np.random.default_rng(0)
        n = int(rate * CHUNK_S)
        self._chunk_bytes = n * 2
        self._silence = [self._message(np.clip(rng.normal(0, NOISE_RMS, n), -32768, 32767)
                                       .astype("<i2").tobytes()) for _ in range(8)]

    def _message(self, pcm: bytes) -> str:
        return json.dumps({"realtimeInput": {"audio": {
            "data": base64.b64encode(pcm).decode(), "mimeType": f"audio/pcm;rate={self.rate}"}}})

    async def open(self, url: str, setup: dict[str, Any]) -> None:
        from websockets.asyncio.client import connect

        self._ws = await connect(url, max_size=None, open_timeout=60, ping_interval=None)
        await self._ws.send(json.dumps({"setup": setup}))
        reply = json.loads(await asyncio.wait_for(self._ws.recv(), 60))
        if "setupComplete" not in reply:
            raise RuntimeError(f"setup refused: {reply}")
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._send())]

    def say(self, pcm: bytes) -> asyncio.Future[float]:
        """Queue ``pcm`` (at the session's rate); the future gets the send time of its first
        chunk (the sender keeps real time, so sample ``i`` goes out ``i / rate`` later)."""
        started: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.append((pcm, started))
        return started

    async def close(self) -> None:
        await close_connection(self._tasks, self._ws)

    async def _send(self) -> None:
        due, k, pending = time.perf_counter(), 0, b""
        started: asyncio.Future[float] | None = None
        while True:
            if not pending and self._queue:
                pending, started = self._queue.pop(0)
            if pending:
                piece, pending = pending[:self._chunk_bytes], pending[self._chunk_bytes:]
                message = self._message(piece)
            else:
                message = self._silence[k % len(self._silence)]
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                await self._ws.send(message)
            except Exception as exc:  # noqa: BLE001  (the server closed: stop sending)
                self.events.closed = self.events.closed or f"send failed: {exc!r}"
                return
            if started is not None and not started.done():
                started.set_result(time.perf_counter())
            k += 1
            due += CHUNK_S

    async def _receive(self) -> None:
        events = self.events
        try:
            async for frame in self._ws:
                now = time.perf_counter()
                content = json.loads(frame).get("serverContent")
                if content is None:
                    continue
                if "inputTranscription" in content:
                    events.inputs.append((now, content["inputTranscription"].get("text", "")))
                if "outputTranscription" in content:
                    events.outputs.append((now, content["outputTranscription"].get("text", "")))
                for part in (content.get("modelTurn") or {}).get("parts", []):
                    if (part.get("inlineData") or {}).get("data"):
                        events.audio.append(now)
                if content.get("interrupted"):
                    events.interrupted.append(now)
                if content.get("turnComplete"):
                    events.turn_complete.append(now)
        except Exception as exc:  # noqa: BLE001  (a dropped connection ends the session)
            events.closed = f"receive failed: {exc!r}"
        else:
            events.closed = "closed by the server"


def setup_for(item: Item, condition: str) -> dict[str, Any]:
    generation: dict[str, Any] = {"responseModalities": ["AUDIO"]}
    if condition == "languageCode":
        generation["speechConfig"] = {"languageCode": item.language}
    return {"model": MODEL, "generationConfig": generation,
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "inputAudioTranscription": {}, "outputAudioTranscription": {}}


# --- one item ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one item showed under one condition."""

    item: str
    condition: str
    kind: str
    voice_kind: str
    language: str
    reference: str
    heard: str = ""
    said: str = ""
    errors: int = 0
    ref_words: int = 0
    wrong_script: bool = False
    wrong_language: bool = False
    cut_off: bool = False
    latency: float | None = None  # last speech sample sent -> first answer audio
    answered: bool | None = None  # a question: the keywords were in the answer
    interrupted: bool | None = None  # a barge-in item: None when the reply was already over
    note: str = ""


async def wait_answer(events: Events, speech_end: float, timeout: float,
                      answers: bool = True) -> None:
    """Until a turn completes after the last final transcript and the speech (with
    ``answers`` false: until the speech's transcript is there), or nothing was heard for
    HEARD_TIMEOUT_S, or ``timeout`` after the speech."""
    while True:
        await asyncio.sleep(0.1)
        now = time.perf_counter()
        if events.closed or now > speech_end + timeout:
            return
        # a turn ended before the speech did (a cut-off): the rest comes as another turn
        rest_heard = any(t >= speech_end for t, _ in events.inputs)
        if not rest_heard and now > speech_end + HEARD_TIMEOUT_S:
            return
        if rest_heard and not answers:
            await asyncio.sleep(0.5)  # late transcript pieces
            return
        last = max([speech_end, *(t for t, _ in events.inputs)])
        if rest_heard and events.since(events.turn_complete, last):
            await asyncio.sleep(0.3)  # late transcript pieces
            return


def score_speech(out: Outcome, item: Item, events: Events, speech_end: float) -> None:
    heard = " ".join(text.strip() for _, text in events.inputs).strip()
    out.heard, out.said = heard, "".join(text for _, text in events.outputs).strip()
    if item.kind in ("transcribe", "question", "pause"):
        out.errors, out.ref_words = word_errors(item.text, heard, item.language)
    check_language(out)
    early = [t for t, _ in events.inputs if t < speech_end] + [t for t in events.audio
                                                               if t < speech_end]
    out.cut_off = bool(early) or len(events.inputs) > 1
    after = events.since(events.audio, speech_end)
    out.latency = after[0] - speech_end if after else None
    if item.answer:
        out.answered = has_answer(out.said, item.answer, item.language)
    if not events.inputs:
        out.note = "nothing heard"


def check_language(out: Outcome) -> None:
    """Set the wrong script / wrong language flags from what was heard."""
    out.wrong_script = bool(out.heard) and wrong_script(out.heard, out.language)
    out.wrong_language = bool(out.heard) and wrong_language(out.heard, out.language)


async def run_item(url: str, item: Item, built: dict[str, Built], condition: str,
                   timeout: float, answers: bool = True) -> Outcome:
    """One fresh session: the item (over its prompt's reply for a barge-in item); with
    ``answers`` false it ends once the speech is transcribed, and answers are not scored."""
    out = Outcome(item.id, condition, item.kind, item.voice_kind, item.language, item.text)
    mic = Microphone(item.rate)
    await mic.open(url, setup_for(item, condition))
    try:
        if item.over is not None:
            await barge_in(mic, item, built, out, timeout)
        else:
            this = built[item.id]
            start = await mic.say(silence(LEAD_S, item.rate) + this.pcm())
            speech_end = start + LEAD_S + this.speech_end
            await wait_answer(mic.events, speech_end, timeout, answers)
            score_speech(out, item, mic.events, speech_end)
            if not answers:
                out.answered = None
    finally:
        await mic.close()
    if mic.events.closed and mic.events.closed != "closed by the server":
        out.note = (out.note + "; " if out.note else "") + mic.events.closed
    return out


async def barge_in(mic: Microphone, item: Item, built: dict[str, Built], out: Outcome,
                   timeout: float) -> None:
    """The prompt, then ``item`` played OVER_AFTER_S into the reply's audio."""
    assert item.over is not None
    prompt = built[item.over]
    pcm = prompt.pcm() if prompt.item.rate == item.rate else resampled(prompt, item.rate)
    start = await mic.say(silence(LEAD_S, item.rate) + pcm)
    prompt_end = start + LEAD_S + prompt.speech_end
    events = mic.events
    deadline = prompt_end + timeout
    while not events.since(events.audio, prompt_end) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    if not events.audio:
        out.note = "the prompt got no answer"
        return
    await asyncio.sleep(OVER_AFTER_S)
    if events.turn_complete:
        out.note = "the reply was over before the sound"
        return
    this = built[item.id]
    onset = await mic.say(this.pcm()) + this.speech_start
    over_end = onset - this.speech_start + this.speech_end
    await asyncio.sleep(max(0.0, over_end + BARGE_WAIT_S - time.perf_counter()))
    out.interrupted = bool(events.since(events.interrupted, onset))
    if item.kind == "barge-stop" and out.interrupted:
        await wait_answer(events, over_end, timeout)
    heard = [text for t, text in events.inputs if t >= onset]
    out.heard = " ".join(heard).strip()
    check_language(out)
    out.said = "".join(text for t, text in events.outputs if t >= onset).strip()
    if item.answer and out.interrupted:
        out.answered = has_answer(out.said, item.answer, item.language)


def silence(seconds: float, rate: int) -> bytes:
    n = int(seconds * rate)
    noise = np.random.default_rng(1).normal(0, NOISE_RMS, n)
    return np.clip(noise, -32768, 32767).astype("<i2").tobytes()


def resampled(built: Built, rate: int) -> bytes:
    import soxr

    audio = np.frombuffer(built.pcm(), dtype="<i2").astype(np.float32)
    return np.asarray(soxr.resample(audio, built.item.rate, rate)).astype("<i2").tobytes()


def live_url(base: str, key: str) -> str:
    """The Live endpoint of a server at ``base`` (ws://host:port), with the key."""
    return f"{base.rstrip('/')}{LIVE_PATH}?key={key}"


# --- running and reporting ---------------------------------------------------------------


async def run_all(url: str, items: Sequence[Item], built: dict[str, Built],
                  conditions: Sequence[str], timeout: float) -> list[Outcome]:
    """Every measured item under every condition, one session at a time."""
    outcomes = []
    measured = [i for i in items if i.kind != "prompt"]
    for condition in conditions:
        for n, item in enumerate(measured, 1):
            try:
                out = await run_item(url, item, built, condition, timeout)
            except (TimeoutError, OSError, RuntimeError) as exc:
                out = Outcome(item.id, condition, item.kind, item.voice_kind, item.language,
                              item.text, note=f"session failed: {exc!r}")
            outcomes.append(out)
            print(f"[{condition} {n}/{len(measured)}] {item.id}: heard {out.heard!r}"
                  f"{' CUT-OFF' if out.cut_off else ''}"
                  f"{'' if out.answered is None else ' right' if out.answered else ' WRONG'}"
                  f"{'' if out.interrupted is None else ' interrupted' if out.interrupted else ''}"
                  f"{' (' + out.note + ')' if out.note else ''} → {out.said[:80]!r}",
                  file=sys.stderr)
    return outcomes


def _share(hits: int, n: int) -> str:
    return "–" if n == 0 else f"{hits}/{n}"


def _seconds(values: Sequence[float]) -> str:
    if not values:
        return "–"
    return f"{pct(values, 0.5):.1f} / {pct(values, 0.95):.1f} s"


def row(label: str, rows: Sequence[Outcome], late: float) -> str:
    """One table row: the measures over ``rows``."""
    speech = [o for o in rows if o.kind in ("transcribe", "question", "pause")]
    words = sum(o.ref_words for o in speech)
    wer = f"{100 * sum(o.errors for o in speech) / words:.1f} %" if words else "–"
    spoken = [o for o in rows if o.reference]
    latencies = [o.latency for o in speech if o.latency is not None]
    barge_ok = [o for o in rows if o.kind == "barge-ok" and o.interrupted is not None]
    barge_stop = [o for o in rows if o.kind == "barge-stop" and o.interrupted is not None]
    questions = [o for o in rows if o.answered is not None or o.kind == "question"]
    pauses = [o for o in speech if o.kind == "pause"]
    exact = [o for o in questions if o.kind == "question" and o.ref_words and not o.errors]
    return "| " + " | ".join([
        label, str(len(rows)), wer,
        _share(sum(o.wrong_script for o in spoken), len(spoken)),
        _share(sum(o.wrong_language for o in spoken), len(spoken)),
        _share(sum(o.cut_off for o in pauses), len(pauses)),
        _share(sum(o.cut_off for o in speech if o.kind != "pause"),
               len([o for o in speech if o.kind != "pause"])),
        _share(sum(1 for o in speech if o.latency is None or o.latency > late), len(speech)),
        _seconds(latencies),
        _share(sum(bool(o.interrupted) for o in barge_ok), len(barge_ok)),
        _share(sum(not o.interrupted for o in barge_stop), len(barge_stop)),
        _share(sum(bool(o.answered) for o in questions), len(questions)),
        # heard word for word: what is wrong there is the model's, not the recognizer's
        _share(sum(bool(o.answered) for o in exact), len(exact)),
    ]) + " |"


def report(outcomes: Sequence[Outcome], late: float) -> str:
    head = ("| voices | items | WER | wrong script | wrong language | cut-offs (pause items) "
            f"| cut-offs (others) | late or no answer (> {late:g} s) | answer start p50 / p95 "
            "| false barge-ins | missed barge-ins | answers right "
            "| right when heard exactly |")
    lines = []
    for condition in dict.fromkeys(o.condition for o in outcomes):
        these = [o for o in outcomes if o.condition == condition]
        setting = ("no `languageCode` (default)" if condition == "default"
                   else "`speechConfig.languageCode` = the item's language")
        lines += [f"**{setting}**", "", head, "|" + "---|" * 13]
        for kind in ("human", "piper", "kokoro", "espeak", "noise"):
            group = [o for o in these if o.voice_kind == kind and o.language.startswith("en")]
            if group:
                lines.append(row(f"{kind}, English", group, late))
        for language in sorted({o.language for o in these if not o.language.startswith("en")}):
            lines.append(row(language, [o for o in these if o.language == language], late))
        lines.append(row("**all**", these, late))
        lines.append("")
    misheard = [o for o in outcomes if o.wrong_script or o.wrong_language]
    if misheard:
        lines.append("Transcripts in the wrong script or language:")
        lines += [f"- {o.condition}, {o.item}: “{o.heard}”" for o in misheard]
        lines.append("")
    return "\n".join(lines)


def write_docs(text: str, path: Path) -> None:
    """Put ``text`` (which starts with TITLE) in ``path``: replace that section, or append it."""
    path.write_text(replace_section(path.read_text(), TITLE.removeprefix("## "), text))


def preamble(args: argparse.Namespace, items: Sequence[Item]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    return "\n".join([
        TITLE, "",
        (f"`bench/understanding.py` on the evaluation set (`bench/evalset.json`, built by "
        f"`bench/evalset.py`), {time.strftime('%Y-%m-%d %H:%M')}, commit {commit or '?'}, "
        f"{os.cpu_count()} cores ({platform.machine()}, shared), default stack, one "
        f"session at a time. {len([i for i in items if i.kind != 'prompt'])} items; "
        "command:"), "",
        "    python bench/understanding.py " + " ".join(sys.argv[1:]), "", "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (ws://host:port); needs --key")
    parser.add_argument("--key", help="the API key for --url")
    parser.add_argument("--items", action="append", default=[], metavar="GLOB",
                        help="only items whose id matches (repeatable), e.g. 'human-*'")
    parser.add_argument("--limit", type=int, default=None, help="at most this many items")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help="default, languageCode or both (comma-separated)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="the built audio")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--late", type=float, default=3.0,
                        help="an answer starting later than this after the speech is late")
    parser.add_argument("--turn-timeout", type=float, default=30.0,
                        help="seconds after the speech to wait for a complete answer")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="an extra argument for `openlive serve` (repeatable)")
    parser.add_argument("--json", type=Path, help="also write every outcome here")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="no run: the tables of earlier runs' --json files")
    parser.add_argument("--write-docs", action="store_true",
                        help="put the tables into docs/benchmarks.md")
    args = parser.parse_args()
    conditions = [c for c in args.conditions.split(",") if c]
    if not set(conditions) <= set(CONDITIONS):
        parser.error(f"--conditions: choose from {', '.join(CONDITIONS)}")
    if bool(args.url) != bool(args.key):
        parser.error("--url and --key go together")
    items = select(load_items(args.manifest), args.items, args.limit)
    if args.report:
        outcomes = [Outcome(**o) for path in args.report for o in json.loads(path.read_text())]
        for out in outcomes:  # the checks may have improved since the run
            check_language(out)
        print(preamble(args, items) + report(outcomes, args.late))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on the way out
    built = build(items, args.cache)
    with tempfile.TemporaryDirectory(prefix="openlive-understanding-") as tmp:
        server = None if args.url else Server(Path(tmp), None, args.server_arg)
        base = f"ws://127.0.0.1:{server.port}" if server is not None else args.url
        url = live_url(base, args.key or (server.key if server is not None else ""))
        try:
            outcomes = asyncio.run(run_all(url, items, built, conditions, args.turn_timeout))
        finally:
            if server is not None:
                server.stop()
    text = preamble(args, items) + report(outcomes, args.late)
    print(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1,
                                        ensure_ascii=False))
    if args.write_docs:
        write_docs(text, ROOT / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
