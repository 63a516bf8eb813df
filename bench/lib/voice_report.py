"""The markdown report of ``bench/voice_latency.py``, section by section, and putting it
into docs/benchmarks.md.

Every section reads the run's ``results`` (plain data, as ``--json`` writes them) and the
command line's ``args``, and returns its lines.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lib.capacity import capacity_section
from lib.machine import cores_text
from lib.speech import PAUSE_FIRST, PAUSE_MS, PAUSE_SECOND
from lib.stats import quantiles
from lib.tables import header, mib, ms, replace_section, row
from lib.trace import STAGES
from lib.turn_taking import TALKED_OVER_SECONDS
from openlive.session.activity import ActivityDefaults

PAUSE_REPORT_MS = ActivityDefaults().pause_ms  # silence that makes the server transcribe
VOICE_TITLE = "Voice latency"
CAPACITY_TITLE = "Listening capacity: VAD on the event loop vs batched"

Lines = dict[str, dict[str, float]]  # "session/turn" -> a "turn latency" line


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    """The whole report of a run (not ``--capacity-only``)."""
    out = run_section(results, args) + latency_section(results, args)
    if results["lower_bound"]:
        out += lower_bound_section(results, args)
    if results["barge_in"]:
        out += barge_in_section(results)
    if results["capacity"]:
        out += capacity_section(results["capacity"], results.get("nagle") or {}, args)
    out += memory_section(results)
    if results["cutoffs"]:
        out += cutoff_section(results["cutoffs"])
    return "\n".join(out)


def answering_ahead(args: argparse.Namespace) -> bool:
    return "--no-answer-ahead" not in args.server_arg


def run_section(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """When, where, which stack and which clients."""
    llm = "fake echo LLM (tests.fakes.llm)" if args.fake_llm else "llama.cpp Qwen2.5-0.5B"
    window = (f"unset → Whisper at each {PAUSE_REPORT_MS} ms pause, then Smart Turn v3.2 when "
              "the words could end a sentence, 1500 ms fallback"
              if args.silence_ms is None else f"silenceDurationMs={args.silence_ms}")
    window += ("; the answer is generated during the pause and held (answering ahead)"
               if answering_ahead(args) else "; no answering ahead")
    language = (f"languageCode {args.language} → Whisper tiny.en" if args.language
                else "no languageCode → Whisper base with language detection")
    phases = ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in results["phases"].items())
    return [
        (f"Run {results['when']} at commit {results['commit']}, {results['machine']}; "
        f"load average {results['load_start']} at start, {results['load_end']} at end "
        "(the machine is shared: see the CPU of other processes below).  "),
        (f"Stack: Silero VAD, {window}, {language}, {llm} (maxOutputTokens "
        f"{args.max_tokens}, a one-sentence system instruction), Piper.  "),
        (f"Clients: raw `websockets` (permessage-deflate "
        f"{'off' if args.no_deflate else 'on, as the SDKs'}), {args.chunk_ms} ms chunks sent "
        "in real time, low-level noise between utterances.  "),
        f"Command: `{results['command']}` ({results['elapsed']:.0f} s: {phases})",
        ""]


def client_e2e(turns: list[dict[str, Any]]) -> tuple[int, float, float]:
    """End of speech → first audio at the client, over the turns heard as one turn."""
    return quantiles(t["e2e"] for t in turns if t["e2e"] is not None and not t["split"])


def after_endpoint(lines: Lines) -> tuple[int, float, float]:
    """The server's endpoint decision → first audio queued."""
    return quantiles(line["first_audio"] - line["endpoint"] for line in lines.values()
                     if "first_audio" in line and "endpoint" in line)


def latency_section(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """End of speech → first audio: the client's view and the server's stages."""
    turns: list[dict[str, Any]] = results["turns"]
    lines: Lines = results["turn_lines"]
    out = [(f"### End of speech → first audio ({args.sessions} concurrent sessions × "
           f"{args.turns} turns)"), "",
           f"During the conversations: {cores_text(results['cpu'].get('conversations'))}.", "",
           *header("stage", "n", "p50", "p95", "histogram p50", "histogram p95")]
    client = client_e2e(turns)
    out.append(row("**client: end of speech → first audio byte received**", client[0],
                   f"**{ms(client[1])}**", f"**{ms(client[2])}**", "", ""))
    hist = results["histogram"]
    for stage in STAGES:
        n, p50, p95 = quantiles(line.get(stage) for line in lines.values())
        h = hist.get(stage, {})
        label = ("server: end of speech → first audio queued" if stage == "first_audio"
                 else f"server: {stage}")
        out.append(row(label, n, ms(p50), ms(p95), ms(h.get("p50", math.nan)),
                       ms(h.get("p95", math.nan))))
    # an answer started ahead of the endpoint overlaps it by "ahead"
    gap = quantiles(line["first_audio"] + line.get("ahead", 0.0) - sum(line.get(s, 0.0) for s in (
        "endpoint", "asr", "llm_first_piece", "tts_first_chunk")) for line in lines.values()
        if "first_audio" in line)
    delivery = quantiles(t["first_audio_wall"] - t["server"]["logged_at"] for t in turns
                         if t["server"] and t["first_audio_wall"] and "logged_at" in t["server"])
    for label, (n, p50, p95) in (
            ("server: endpoint decision → first audio", after_endpoint(lines)),
            ("server: not in any stage (queues, hand-offs)", gap),
            ("first audio queued (server log time) → received (client), ms clocks", delivery)):
        out.append(row(label, n, ms(p50), ms(p95), "", ""))
    out += ["",
            ("Client column: per turn, from the send time of the chunk holding the last speech "
            "sample to the arrival of the first audio chunk of the answer. Server rows: the "
            "server's own per-turn `turn latency` log lines (exact). Histogram columns: "
            "`openlive_voice_stage_seconds` bucket deltas between two scrapes of `/metrics`, "
            "interpolated linearly within buckets (only as fine as the buckets: 25, 50, 100, "
            "150, 200, 300, 400, 500, 700 ms, 1, 1.5, 2, 3, 5 s)."), ""]
    out += [f"- {note}" for note in latency_notes(results, args)]
    return [*out, ""]


def latency_notes(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Turns the latency table leaves out, and why."""
    turns: list[dict[str, Any]] = results["turns"]
    notes = []
    if args.silence_ms is None:
        endpoints = [line["endpoint"] for line in results["turn_lines"].values()
                     if "endpoint" in line]
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
    return notes


LOWER_BOUND_ROWS = (
    ("asr", "Whisper on the utterance (+300 ms pre-roll)"),
    ("llm_first_token", "LLM first token"),
    ("llm_first_piece", "LLM first speakable piece (TextChunker)"),
    ("tts_first_chunk", "Piper first chunk of that piece"),
    ("sum", "**sum = lower bound after the endpoint decision**"))


def lower_bound_section(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The engines alone in-process, beside what the server took for the same stages."""
    lb: list[dict[str, float]] = results["lower_bound"]
    lines: Lines = results["turn_lines"]
    out = [(f"### Critical-path lower bound (same engines in-process, server stopped, "
           f"{len(lb)} runs)"), ""]
    lb_cpu = results.get("lower_bound_cpu")
    if lb_cpu:
        out += [(f"During these runs: benchmark (the engines) {lb_cpu['bench']:.2f}, other "
                f"processes {lb_cpu['other']:.2f} cores."), ""]
    out += header("stage", "p50", "p95", "served p50 (log lines above)")
    for stage, label in LOWER_BOUND_ROWS:
        _, p50, p95 = quantiles(r.get(stage) for r in lb)
        s50 = (after_endpoint(lines)[1] if stage == "sum"
               else quantiles(line.get(stage) for line in lines.values())[1])
        out.append(row(label, ms(p50), ms(p95), ms(s50)))
    _, st50, st95 = quantiles(r.get("smart_turn") for r in lb)
    out.append(row("Smart Turn inference (after the words; beside the answer when it is "
                   "generated ahead)", ms(st50), ms(st95), ""))
    how, paths = first_pause_paths(lb, args)
    _, e50, e95 = quantiles(paths)
    client = client_e2e(results["turns"])
    out += [row(f"end of speech → first audio if the turn ends at the first pause ({how})",
                ms(e50), ms(e95), f"{ms(client[1])} (client)"), "",
            ("The served ASR can be shorter than Whisper alone: the server transcribes "
            "speculatively at each pause, so at the endpoint the transcript is often ready."),
            ""]
    return out


def first_pause_paths(lb: list[dict[str, float]], args: argparse.Namespace
                      ) -> tuple[str, Iterable[float]]:
    """How the end of speech → first audio bound is made up, and its value per run."""
    ahead = answering_ahead(args)
    pause = PAUSE_REPORT_MS / 1000
    if args.silence_ms is None:
        # answering ahead: Smart Turn runs beside the answer, off the critical path
        how = (f"{PAUSE_REPORT_MS} ms pause + sum" if ahead
               else f"{PAUSE_REPORT_MS} ms pause + sum + Smart Turn")
        return how, [pause + r["sum"] + (0.0 if ahead else r["smart_turn"]) for r in lb
                     if "sum" in r]
    window_s = args.silence_ms / 1000
    how = (f"the later of the {args.silence_ms} ms window and {PAUSE_REPORT_MS} ms "
           "pause + sum (answered ahead)" if ahead
           else f"{args.silence_ms} ms window + sum")
    return how, [max(window_s, pause + r["sum"]) if ahead else window_s + r["sum"]
                 for r in lb if "sum" in r]


def barge_in_section(results: dict[str, Any]) -> list[str]:
    """How fast talking over an answer stops it, and what became of each trial."""
    barge: list[dict[str, Any]] = results["barge_in"]
    real = [b for b in barge if b["outcome"] not in ("answer ended first", "no answer")]
    out = [(f"### Barge-in ({len(barge)} trials: a new question 0.2–0.6 s into the answer's "
           "audio)"), "",
           f"During the barge-ins: {cores_text(results['cpu'].get('barge_in'))}.", "",
           *header("metric", "n", "p50", "p95")]
    for key, label in (
            ("to_interrupted", "speech onset (first speech chunk sent) → `interrupted`"),
            ("audio_after_onset", ("speech onset → last audio chunk of the old answer "
                                  "received")),
            ("heard_after_onset", ("speech onset → old answer stops for a client that "
                                  "plays as it receives and flushes on `interrupted`"))):
        n, p50, p95 = quantiles(b[key] for b in real)
        out.append(row(label, n, ms(p50), ms(p95)))
    outcomes: dict[str, int] = {}
    for b in barge:
        outcomes[b["outcome"]] = outcomes.get(b["outcome"], 0) + 1
    return [*out, "",
            "- outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.items())
            + f" (talked over: no `interrupted`, and the old answer's audio kept arriving "
            f"more than {TALKED_OVER_SECONDS * 1000:.0f} ms after the onset)",
            (f"- interrupting questions answered with audio: "
            f"{sum(1 for b in barge if b['answered'])}/{len(barge)}; heard as several turns: "
            f"{sum(1 for b in barge if b['split'])}/{len(barge)}"), ""]


def memory_section(results: dict[str, Any]) -> list[str]:
    """The server's RSS through the run."""
    mem = results["memory"]
    levels = results["capacity"]
    out = ["### Server memory (VmRSS)", "", *header("when", "RSS"),
           row("idle, engines loaded, before any session", mib(mem.get("idle"))),
           row("after the conversations", mib(mem.get("after_turns")))]
    if levels:
        out.append(row(f"at {levels[-1]['sessions']} listening sessions",
                       mib(levels[-1]["rss"])))
    return [*out, row("peak (VmHWM)", mib(mem.get("peak"))), ""]


def cutoff_section(cuts: list[dict[str, Any]]) -> list[str]:
    """How often a pause in the middle of a sentence ended the turn, per condition."""
    out = [(f"### Smart Turn cut-offs (\"{PAUSE_FIRST}\" — {PAUSE_MS} ms pause — "
           f"\"{PAUSE_SECOND}\", a different espeak voice/speed each trial)"), "",
           *header("silenceDurationMs", "trials", "cut off at the pause", "no transcript",
                   "end of speech → transcript of the (last) turn p50")]
    for condition in dict.fromkeys(c["condition"] for c in cuts):
        rows = [c for c in cuts if c["condition"] == condition]
        cut = sum(1 for c in rows if c["cut"])
        none = sum(1 for c in rows if c["cut"] is None)
        _, p50, _ = quantiles(c["endpoint_to_transcript"] for c in rows)
        out.append(row(condition, len(rows), f"{cut}/{len(rows)} "
                       f"({100 * cut / len(rows):.0f}%)", none, ms(p50)))
    return [*out, "",
            ("A cut-off: the first `inputTranscription` lacks the second half. Both conditions "
            "run side by side, on the same audio."), ""]


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
    text = replace_section(text, title, body, before="Text latency")
    if "## Text latency" not in text:
        text = text.rstrip() + "\n\n## Text latency\n\n(see bench/text_latency.py)\n"
    path.write_text(text.rstrip() + "\n")
