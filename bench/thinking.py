"""What thinking costs a spoken answer: first text and first audio by thinking budget, and
whether the answers are right more or less often.

The in-process default stack, without the network: the llama.cpp model (Qwen2.5 0.5B)
answers the English questions of the understanding evaluation set (``bench/evalset.json``,
the text, not the audio) as a voice session asks it (the spoken-reply guidance and bound,
the evaluation's system instruction, temperature 0), once per thinking budget: 0 (what a
session without thinkingConfig gets), 64, 128 (LOW) and -1 (dynamic: 256 tokens here).
Per answer:

* **first thought**: request to the first token of thinking;
* **first text**: request to the first token of the answer (what a TEXT session waits);
* **first audio**: the first piece of the answer that the session would speak (up to the
  first sentence end, or all of it) is complete, plus Piper's time to its first audio
  chunk, measured: what a voice session waits after the end of the user's turn, less
  recognition;
* **right**: one of the item's answer keywords in the answer (``bench/textnorm.py``).

Budgets alternate within each question, so a busy neighbour slows them alike.

    .venv/bin/python bench/thinking.py [--limit 12] [--budgets 0,64,128,-1] [--json out]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lib.machine import git_commit, load_average
from lib.tables import header, ms, row
from textnorm import has_answer

from openlive.chat import ChatMessage, GenerationRequest, SamplingParams, SpokenReply
from openlive.engines.llm.base import TextDelta, ThoughtDelta
from openlive.engines.llm.llamacpp import LlamaCppModel
from openlive.engines.tts.piper import PiperSynthesizer

HERE = Path(__file__).resolve().parent
SYSTEM = "You are a voice assistant. Answer in one short sentence."  # as understanding.py
SENTENCE_END = re.compile(r"[.!?](\s|$)")


def questions(limit: int) -> list[dict[str, Any]]:
    """The English questions of the evaluation set, each text once."""
    items = json.loads((HERE / "evalset.json").read_text())["items"]
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        if item["kind"] == "question" and item["language"].startswith("en"):
            seen.setdefault(item["text"], item)
    return list(seen.values())[:limit]


async def one(model: LlamaCppModel, tts: PiperSynthesizer, item: dict[str, Any],
              budget: int) -> dict[str, Any]:
    request = GenerationRequest(
        (ChatMessage("system", SYSTEM), ChatMessage("user", item["text"])),
        SamplingParams(temperature=0.0, max_tokens=120),
        spoken=SpokenReply("en-US", 240), thinking_budget=budget)
    start = time.monotonic()
    first_thought = first_text = piece_at = None
    answer, thoughts, thought_tokens = "", "", 0
    async for event in model.stream(request):
        now = time.monotonic() - start
        if isinstance(event, ThoughtDelta):
            first_thought = first_thought if first_thought is not None else now
            thoughts += event.text
        elif isinstance(event, TextDelta):
            first_text = first_text if first_text is not None else now
            answer += event.text
            if piece_at is None and SENTENCE_END.search(answer):
                piece_at = now
        elif hasattr(event, "thoughts_tokens"):
            thought_tokens = event.thoughts_tokens
    piece_at = piece_at if piece_at is not None else time.monotonic() - start
    piece = answer[: m.end()] if (m := SENTENCE_END.search(answer)) else answer
    synth_start = time.monotonic()
    first_chunk = None
    async for _ in tts.synthesize(piece.strip() or "Okay.", voice="Puck", language="en-US"):
        first_chunk = time.monotonic() - synth_start
        break
    return {"id": item["id"], "budget": budget, "first_thought": first_thought,
            "first_text": first_text, "first_audio": piece_at + (first_chunk or 0.0),
            "thought_tokens": thought_tokens, "answer": answer, "thoughts": thoughts,
            "right": has_answer(answer, item["answer"], item["language"])}


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def report(results: list[dict[str, Any]], budgets: list[int]) -> str:
    about = (f"Qwen2.5 0.5B in-process, {len({r['id'] for r in results})} questions, "
             f"commit {git_commit()}, load average at the end {load_average()} (the 2 "
             "cores were shared with other work).")
    lines = [about, ""]
    lines += header("thinking budget", "thought tokens (median)", "first thought",
                    "first text", "first audio", "first audio vs no thinking", "right")
    base = median([r["first_audio"] for r in results if r["budget"] == 0])
    for budget in budgets:
        mine = [r for r in results if r["budget"] == budget]
        audio = median([r["first_audio"] for r in mine])
        extra = f"+{ms(audio - base)}" if base is not None and audio is not None else "–"
        name = {0: "0 (no thinkingConfig)", -1: "-1 (dynamic, 256)"}.get(budget, str(budget))
        lines.append(row(name, f"{median([r['thought_tokens'] for r in mine]):.0f}",
                         ms(median([r["first_thought"] for r in mine])),
                         ms(median([r["first_text"] for r in mine])), ms(audio),
                         extra if budget else "–",
                         f"{sum(r['right'] for r in mine)}/{len(mine)}"))
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--budgets", default="0,64,128,-1")
    parser.add_argument("--json", type=Path, help="write every answer here")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    model = LlamaCppModel.from_default_weights()
    tts = PiperSynthesizer()
    results = []
    try:
        for index, item in enumerate(questions(args.limit)):
            order = budgets[index % len(budgets):] + budgets[: index % len(budgets)]
            for budget in order:
                result = await one(model, tts, item, budget)
                print(json.dumps({k: result[k] for k in ("id", "budget", "first_audio",
                                                          "thought_tokens", "right")}),
                      file=sys.stderr, flush=True)
                results.append(result)
    finally:
        await model.aclose()
        await tts.aclose()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(report(results, budgets))


if __name__ == "__main__":
    asyncio.run(main())
