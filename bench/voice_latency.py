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
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lib.capacity import capacity, capacity_only, capacity_report
from lib.live import LiveClient, Turn
from lib.lower_bound import lower_bound
from lib.machine import CpuWindow, await_quiet, git_commit, load_average, proc_status
from lib.server import FAKE_LLM, ROOT, Server
from lib.sessions import TURN_TIMEOUT, Bench, conversation, conversations
from lib.speech import Utterance, cache_dir, make_utterances
from lib.stats import pct
from lib.trace import stage_buckets, stage_quantiles, turn_lines
from lib.turn_taking import barge_in_session, cutoffs
from lib.voice_report import CAPACITY_TITLE, report, write_docs

# --- the phases against a server --------------------------------------------------------------


async def served(args: argparse.Namespace, questions: list[Utterance],
                 pauses: list[Utterance], results: dict[str, Any]) -> None:
    """Start a server, run the phases against it, stop it."""
    with tempfile.TemporaryDirectory(prefix="openlive-bench-") as tmp:
        print("starting openlive serve …", file=sys.stderr)
        extra = ["--llm-threads", str(args.llm_threads)] if args.llm_threads else []
        server = Server(Path(tmp), FAKE_LLM if args.fake_llm else None,
                        [*extra, *args.server_arg])
        print(f"  up in {server.start_seconds:.1f} s (pid {server.pid}, port {server.port})",
              file=sys.stderr)
        try:
            await phases(Bench(args, server), questions, pauses, results)
        finally:
            server.stop()
            if args.keep_log:
                shutil.copy(server.log_path, args.keep_log)


async def phases(bench: Bench, questions: list[Utterance], pauses: list[Utterance],
                 results: dict[str, Any]) -> None:
    """Every phase that needs the server, in order, into ``results``."""
    args, server = bench.args, bench.server
    await asyncio.sleep(1.0)
    results["memory"]["idle"] = proc_status(server.pid).get("VmRSS")
    print("warm-up turn …", file=sys.stderr)
    _, warm = await conversation(bench, questions[:1], 1, 0.0, random.Random(1))
    if not warm or warm[0].e2e is None:
        raise SystemExit("the warm-up turn got no audio answer; see "
                         f"{server.log_path}:\n{server.log_text()[-3000:]}")
    await conversation_phase(bench, questions, results)
    if args.barge_in_trials:
        await barge_in_phase(bench, questions, results)
    if args.cutoff_trials:
        print(f"cut-offs: {args.cutoff_trials} trials × 2 conditions …", file=sys.stderr)
        started = time.perf_counter()
        results["cutoffs"] = [vars(c) for c in await cutoffs(bench, pauses, args.cutoff_trials)]
        results["phases"]["cutoffs"] = time.perf_counter() - started
    if args.capacity:
        await await_quiet(args.quiet_wait, server.pid)
        print(f"capacity: {args.capacity} …", file=sys.stderr)
        started = time.perf_counter()
        levels, results["nagle"] = await capacity(bench, args.capacity, args.capacity_seconds)
        results["capacity"] = [vars(lv) for lv in levels]
        results["phases"]["capacity"] = time.perf_counter() - started
    results["memory"]["peak"] = proc_status(server.pid).get("VmHWM")
    results["server_warnings"] = server.warnings(40)


async def conversation_phase(bench: Bench, questions: list[Utterance],
                             results: dict[str, Any]) -> None:
    """The conversations, and the server's stages of their turns."""
    args, server = bench.args, bench.server
    before = stage_buckets(server.metrics())
    await await_quiet(args.quiet_wait, server.pid)
    print(f"conversations: {args.sessions} sessions × {args.turns} turns …", file=sys.stderr)
    window = CpuWindow(server.pid)
    started = time.perf_counter()
    sessions = await conversations(bench, questions, args.sessions, args.turns)
    results["cpu"]["conversations"] = window.cores()
    results["phases"]["conversations"] = time.perf_counter() - started
    print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    after = stage_buckets(server.metrics())
    results["memory"]["after_turns"] = proc_status(server.pid).get("VmRSS")
    results["histogram"].update(stage_quantiles(before, after))
    record_turns(sessions, turn_lines(server.log_text()), results)
    late = [x for client, _ in sessions for x in client.lateness]
    results["client_send_late_p95"] = pct(late, 0.95)


def record_turns(sessions: list[tuple[LiveClient, list[Turn]]],
                 lines: dict[str, list[dict[str, float]]], results: dict[str, Any]) -> None:
    """Each turn as the client saw it, joined with the server's line for it when every
    turn of the session has one."""
    for client, done in sessions:
        # A trace whose "first audio" was the previous reply's has no LLM stage.
        server_lines = [line for line in lines.get(client.session_id, [])
                        if "llm_first_token" in line]
        results["stray_lines"] += len(lines.get(client.session_id, [])) - len(server_lines)
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


async def barge_in_phase(bench: Bench, questions: list[Utterance],
                         results: dict[str, Any]) -> None:
    """Barge-ins on two sessions at once (one if a single trial)."""
    args = bench.args
    await await_quiet(args.quiet_wait, bench.server.pid)
    print(f"barge-in: {args.barge_in_trials} trials …", file=sys.stderr)
    parallel = 2 if args.barge_in_trials > 1 else 1
    per = math.ceil(args.barge_in_trials / parallel)
    window = CpuWindow(bench.server.pid)
    outcome = await asyncio.gather(*(
        barge_in_session(bench, questions, per, random.Random(20 + i))
        for i in range(parallel)))
    results["cpu"]["barge_in"] = window.cores()
    results["phases"]["barge_in"] = time.perf_counter() - window.start[0]
    results["barge_in"] = [vars(b) for _, rows in outcome for b in rows]


# --- the command line -------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """The command line, with the defaults that depend on --quick filled in."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    add_phase_arguments(parser)
    args = parser.parse_args()
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
    return args


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The server, the sessions and the conversations."""
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


def add_phase_arguments(parser: argparse.ArgumentParser) -> None:
    """The other phases, the machine and the output."""
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


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    questions, pauses = make_utterances(cache_dir())
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
    else:
        asyncio.run(served(args, questions, pauses, results))
        if not args.no_lower_bound:
            print("lower bound, in-process (server stopped) …", file=sys.stderr)
            started_lb = time.perf_counter()
            results["lower_bound"], results["lower_bound_cpu"] = asyncio.run(
                lower_bound(questions[:2] if args.quick else questions, args))
            results["phases"]["lower_bound"] = time.perf_counter() - started_lb
    results["load_end"] = load_average()
    results["elapsed"] = time.perf_counter() - started
    text = capacity_report(results, args) if args.capacity_only else report(results, args)
    print()
    print(text)
    if results.get("server_warnings"):
        print("\nserver warnings/errors:", *results["server_warnings"], sep="\n  ",
              file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if args.write_docs:
        if args.capacity_only:
            write_docs(text, ROOT / "docs" / "benchmarks.md", CAPACITY_TITLE)
        else:
            write_docs(text, ROOT / "docs" / "benchmarks.md")
        print("wrote docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
