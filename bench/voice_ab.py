"""A/B voice latency: the same conversations against differently configured servers,
alternating in one run, so that the machine's drift hits every configuration alike.

Each configuration is one ``openlive serve`` (the real default stack) started with its
own extra arguments; all run at once (idle ones cost no CPU). Round after round, in an
order that alternates (ABBA…), every configuration gets ``--sessions`` concurrent
sessions × ``--turns`` turns of the same utterances, streamed in real time: by default
the English speech of the understanding evaluation set (human recordings, Piper, Kokoro
and espeak voices; ``bench/evalset.py build`` first), or with ``--voices espeak`` the
espeak questions of ``bench/voice_latency.py``. Reported per configuration: end of user
speech → first audio byte at the client (p50/p95), the server's own per-turn stages from
its ``turn latency`` log lines, and, beside them, the word error rate of what the server
heard (speed may never cost words).

    python bench/voice_ab.py                       # answering ahead on vs off
    python bench/voice_ab.py --config 'new=' \
        --config 'conventional=--no-answer-ahead --no-prefill --interim-every 0'
    python bench/voice_ab.py --config 1-thread=--llm-threads=1 \\
                             --config 2-threads=--llm-threads=2
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lib.live import Turn
from lib.machine import CpuWindow, await_quiet, git_commit
from lib.server import Server
from lib.sessions import TURN_TIMEOUT, Bench, conversation, conversations
from lib.speech import Utterance, cache_dir, make_utterances
from lib.stats import pct
from lib.tables import header, ms, row
from lib.trace import turn_lines

DEFAULT_CONFIGS = ("answer ahead=", "no answer ahead=--no-answer-ahead")
STAGES = ("endpoint", "ahead", "llm_first_token", "llm_first_piece", "tts_first_chunk",
          "first_audio")


def parse_config(text: str) -> tuple[str, list[str]]:
    name, _, flags = text.partition("=")
    return name.strip(), [f for f in flags.replace(",", " ").split() if f]


def evalset_utterances() -> list[Utterance]:
    """The evaluation set's English speech (not the pauses, noises or barge-ins), at
    16 kHz and trimmed to the speech, as a microphone would send it."""
    import numpy as np
    import soxr
    from evalset import build, load_items

    items = [i for i in load_items() if i.language.startswith("en")
             and i.kind in ("question", "transcribe") and i.voice_kind != "noise"]
    utterances = []
    for item_id, built in build(items, quiet=True).items():
        audio = np.frombuffer(built.pcm(), dtype="<i2").astype(np.float32)
        audio = audio[int(built.speech_start * built.item.rate):
                      int(built.speech_end * built.item.rate)]
        if len(audio) > 8 * built.item.rate:
            continue  # the long book sentences: turns of a conversation are shorter
        pcm = np.asarray(soxr.resample(audio, built.item.rate, 16_000))
        pcm16 = np.clip(pcm, -32768, 32767).astype("<i2").tobytes()
        utterances.append(Utterance(f"{built.item.voice_kind}:{item_id}", built.item.text,
                                    pcm16))
    return utterances


def heard_wer(turns: list[Turn], references: dict[str, str]) -> tuple[int, int]:
    """(word errors, reference words) of what the server heard, over ``turns``."""
    from textnorm import word_errors

    errors = words = 0
    for turn in turns:
        e, n = word_errors(references[turn.utterance], turn.heard)
        errors, words = errors + e, words + n
    return errors, words


async def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    if args.voices == "evalset":
        questions = evalset_utterances()
    else:
        questions, _ = make_utterances(cache_dir())
    references = {u.name: u.text for u in questions}
    configs = [parse_config(c) for c in (args.config or DEFAULT_CONFIGS)]
    results: dict[str, dict[str, Any]] = {
        name: {"e2e": [], "lines": [], "cpu": [], "errors": 0, "words": 0}
        for name, _ in configs}
    with tempfile.TemporaryDirectory(prefix="openlive-ab-") as tmp:
        servers: dict[str, Server] = {}
        try:
            for i, (name, flags) in enumerate(configs):
                print(f"starting {name!r}: openlive serve {' '.join(flags)} …", file=sys.stderr)
                data = Path(tmp) / str(i)
                data.mkdir()
                servers[name] = Server(data, None, flags)
            benches = {name: Bench(args, server) for name, server in servers.items()}
            for name, bench in benches.items():  # one warm-up turn each
                await conversation(bench, questions[:1], 1, 0.0, random.Random(1))
            for round_no in range(args.rounds):
                order = list(benches) if round_no % 2 == 0 else list(benches)[::-1]
                for name in order:
                    await await_quiet(args.quiet_wait, servers[name].pid)
                    print(f"round {round_no + 1}/{args.rounds}: {name}", file=sys.stderr)
                    window = CpuWindow(servers[name].pid)
                    sessions = await conversations(benches[name], questions,
                                                      args.sessions, args.turns)
                    results[name]["cpu"].append(window.cores())
                    for _, turns in sessions:
                        results[name]["e2e"] += [t.e2e for t in turns
                                                 if t.e2e is not None and not t.split]
                        errors, words = heard_wer(turns, references)
                        results[name]["errors"] += errors
                        results[name]["words"] += words
            for name, server in servers.items():
                per_session = list(turn_lines(server.log_text()).values())[1:]  # no warm-up
                results[name]["lines"] = [line for lines in per_session for line in lines
                                          if "llm_first_token" in line]
        finally:
            for server in servers.values():
                server.stop()
    return results


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    out = [(f"### A/B: end of speech → first audio ({args.sessions} concurrent session(s) × "
           f"{args.turns} turns × {args.rounds} rounds per configuration, alternating)"), ""]
    names = list(results)
    out += header("", *names)
    out.append(row("turns", *(len(results[name]["e2e"]) for name in names)))
    out.append(row("word error rate of what was heard", *(
        f"{100 * results[n]['errors'] / results[n]['words']:.1f} %" if results[n]["words"]
        else "–" for n in names)))
    for q, label in ((0.5, "p50"), (0.95, "p95")):
        out.append(row(f"**client: end of speech → first audio, {label}**",
                       *(f"**{ms(pct(results[name]['e2e'], q))}**" for name in names)))
    for stage in STAGES:
        cells = []
        for name in names:
            values = [line[stage] for line in results[name]["lines"] if stage in line]
            cells.append(f"{ms(pct(values, 0.5))} (n={len(values)})" if values else "–")
        out.append(row(f"server p50: {stage}", *cells))
    cpu = []
    for name in names:
        other = [c.get("other", 0.0) for c in results[name]["cpu"]]
        cpu.append(f"{max(other):.2f}" if other else "–")
    out.append(row("other processes, most cores in a round", *cpu))
    out += ["", ("Server stages exclude each server's warm-up turn. `ahead`: how long before "
            "the endpoint an answer was started (turns answered during the pause only).")]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--config", action="append", metavar="NAME=FLAGS",
                        help="a configuration: a name and the `openlive serve` flags, "
                             "space- or comma-separated (repeatable; default: answering "
                             "ahead on and off)")
    parser.add_argument("--voices", choices=("evalset", "espeak"), default="evalset",
                        help="the evaluation set's English speech (human and every voice), "
                             "or the espeak questions")
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="seconds to wait, at most, for other processes to quiet down "
                             "before each round")
    # the client settings voice_latency.Bench reads
    parser.add_argument("--chunk-ms", type=int, default=40)
    parser.add_argument("--silence-ms", type=int, default=None)
    parser.add_argument("--language", default="en-US")
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--turn-timeout", type=float, default=TURN_TIMEOUT)
    parser.add_argument("--no-deflate", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    results = asyncio.run(run(args))
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, commit {git_commit()}, "
          f"{time.perf_counter() - started:.0f} s\n")
    print(report(results, args))


if __name__ == "__main__":
    main()
