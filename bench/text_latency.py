"""Text latency through openlive versus the same engine called directly, in one run.

For each prompt, two measurements with identical settings (temperature 0, fixed seed,
same max tokens): (a) the unmodified google-genai SDK in its own virtualenv → openlive
(TLS on the single port) → llama.cpp; (b) the same llama.cpp model called in-process.
Rounds alternate (a) and (b) so that a noisy neighbour hits both alike. Prints a table of
time to first token and decode rate (p50/p95) and the overhead ratio at p50.

    .venv/bin/python bench/text_latency.py [--rounds 3] [--sdk 3.6.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lib.server import ROOT, Server
from lib.stats import pct
from lib.tables import header, ms, row

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Explain in one sentence what a CPU does.",
    "Write a haiku about the sea.",
    "How many days are in a leap year?",
    "Give me a synonym for happy.",
]
MAX_TOKENS = 48
SEED = 1234


def through_openlive(sdk_python: Path, data_dir: Path, threads: int) -> list[dict[str, float]]:
    server = Server(data_dir, None, ["--no-voice", "--llm-threads", str(threads)],
                    log_level="warning", voice=False)
    try:
        env = {**os.environ, "GOOGLE_GEMINI_BASE_URL": server.http,
               "GEMINI_API_KEY": server.key, "SSL_CERT_FILE": str(data_dir / "tls" / "ca.pem")}
        job = {"model": "gemini-live-2.5-flash-preview", "prompts": PROMPTS,
               "config": {"temperature": 0.0, "seed": SEED, "max_output_tokens": MAX_TOKENS}}
        out = subprocess.run([str(sdk_python), str(ROOT / "bench" / "sdk_text_client.py"),
                              json.dumps(job)], env=env, check=True, capture_output=True,
                             text=True, timeout=600)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    finally:
        server.stop()


async def direct(threads: int) -> list[dict[str, float]]:
    from openlive.engines.llm.base import (
        ChatMessage,
        Finished,
        GenerationRequest,
        SamplingParams,
        TextDelta,
    )
    from openlive.engines.llm.factory import create_language_model

    model = create_language_model("llamacpp", n_threads=threads)
    results = []
    try:
        for prompt in PROMPTS:
            request = GenerationRequest(
                (ChatMessage("user", prompt),),
                SamplingParams(temperature=0.0, seed=SEED, max_tokens=MAX_TOKENS))
            start = time.perf_counter()
            first = last = 0.0
            tokens = 0
            async for event in model.stream(request):
                if isinstance(event, TextDelta):
                    last = time.perf_counter()
                    first = first or last
                elif isinstance(event, Finished):
                    tokens = event.completion_tokens
            results.append({"ttft": first - start, "decode": last - first, "tokens": tokens})
    finally:
        await model.aclose()
    return results


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    ttft = [r["ttft"] for r in rows]
    rate = [(r["tokens"] - 1) / r["decode"] for r in rows if r["decode"] > 0 and r["tokens"]]
    return {"ttft50": pct(ttft, 0.5), "ttft95": pct(ttft, 0.95),
            "tps50": statistics.median(rate), "tps5": pct(rate, 0.05)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sdk", default="3.6.1", help="google-genai version in .sdk-envs/")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="llama.cpp decode threads, the same on both paths")
    args = parser.parse_args()
    sdk_python = ROOT / ".sdk-envs" / f"google-genai-{args.sdk}" / "bin" / "python"
    if not sdk_python.exists():
        raise SystemExit(f"{sdk_python} missing: run scripts/sdk-envs.sh first")
    served: list[dict[str, float]] = []
    called: list[dict[str, float]] = []
    for round_no in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            served += through_openlive(sdk_python, Path(tmp), args.threads)
        called += asyncio.run(direct(args.threads))
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    a, b = summarize(served), summarize(called)
    print(f"\nText latency, {len(served)} turns each, max {MAX_TOKENS} tokens, "
          f"temperature 0, {args.threads} llama.cpp threads "
          f"(google-genai {args.sdk} over TLS vs in-process llama.cpp)\n")
    print(*header("path", "TTFT p50", "TTFT p95", "decode tok/s p50", "decode tok/s p5"),
          sep="\n")
    for name, s in (("SDK → openlive → llama.cpp", a), ("llama.cpp direct", b)):
        print(row(name, ms(s["ttft50"]), ms(s["ttft95"]), f"{s['tps50']:.1f}",
                  f"{s['tps5']:.1f}"))
    print(f"\noverhead ratio at p50: TTFT {a['ttft50'] / b['ttft50']:.3f}, "
          f"decode rate {b['tps50'] / a['tps50']:.3f} (1.000 = no overhead; target ≤ 1.05)")


if __name__ == "__main__":
    main()
