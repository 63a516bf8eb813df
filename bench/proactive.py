"""Proactive audio: how often the model answers speech that is for it, and speech that is
not, on the test set ``bench/data/proactive.jsonl``.

Each item is a system instruction (an assistant for one topic: Italian cooking, travel
in Japan, a router's support, ...) and one utterance heard in the room: a question the
instruction covers (relevant), or background talk between people and questions on other
topics (irrelevant). The in-process default model (llama.cpp, Qwen2.5 0.5B) judges each
as a fresh proactive-audio session's first turn would be judged
(``LlamaCppModel.judge_relevance`` on the session's request), and the session's rule
(``openlive.session.relevance.answers``) decides. Reported per split: ``tune`` is the
half the threshold was chosen on, ``test`` the half it was not. Targets: at least 90 %
of relevant turns answered, at most 20 % of irrelevant ones.

With ``--spoken`` each utterance is first spoken with espeak-ng and recognized by the
server's Whisper, and the transcript is judged (what a voice session judges).

    .venv/bin/python bench/proactive.py [--spoken] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from lib.machine import git_commit, load_average
from lib.tables import header, row

from openlive.chat import ChatMessage, GenerationRequest, SpokenReply
from openlive.engines.llm.llamacpp import LlamaCppModel
from openlive.session.relevance import RELEVANCE_THRESHOLD, answers

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "proactive.jsonl"


def items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


async def heard(texts: list[str]) -> dict[str, str]:
    """Each text spoken by espeak-ng and recognized by Whisper (the server's default)."""
    from lib.speech import cache_dir, espeak, require_tools

    from openlive.engines.asr.whisper import WhisperRecognizer

    require_tools()
    asr = WhisperRecognizer()
    out = {}
    try:
        for index, text in enumerate(texts):
            voice = ("en-us", "en-us+m3", "en-us+f2", "en-gb")[index % 4]
            pcm = espeak(text, voice, 170, cache_dir())
            out[text] = (await asr.transcribe(pcm, language="en")).text
    finally:
        await asr.aclose()
    return out


def rates(results: list[dict[str, Any]], split: str | None) -> tuple[str, str]:
    mine = [r for r in results if split is None or r["split"] == split]
    relevant = [r for r in mine if r["relevant"]]
    irrelevant = [r for r in mine if not r["relevant"]]

    def share(rows: list[dict[str, Any]]) -> str:
        answered = sum(r["answered"] for r in rows)
        return f"{answered}/{len(rows)} ({100 * answered / max(len(rows), 1):.0f} %)"

    return share(relevant), share(irrelevant)


def report(results: list[dict[str, Any]], spoken: bool, seconds: list[float]) -> str:
    seconds = sorted(seconds)
    kind = "spoken (espeak-ng → Whisper)" if spoken else "text"
    about = (f"{len(results)} items, {kind}; threshold {RELEVANCE_THRESHOLD}; judging took "
             f"{seconds[len(seconds) // 2]:.2f} s at the median "
             f"({seconds[int(len(seconds) * 0.95)]:.2f} s p95) on 2 shared cores (load "
             f"average at the end {load_average()}); commit {git_commit()}.")
    lines = [about, ""]
    lines += header("split", "relevant answered (target ≥ 90 %)",
                    "irrelevant answered (target ≤ 20 %)")
    for split in ("tune", "test", None):
        lines.append(row(split or "all", *rates(results, split)))
    lines += ["", *header("kind", "answered")]
    for kind in sorted({r["kind"] for r in results}):
        mine = [r for r in results if r["kind"] == kind]
        lines.append(row(kind, f"{sum(r['answered'] for r in mine)}/{len(mine)}"))
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spoken", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = items()
    transcripts = await heard([i["utterance"] for i in data]) if args.spoken else {}
    model = LlamaCppModel.from_default_weights()
    results, seconds = [], []
    try:
        for item in data:
            words = transcripts.get(item["utterance"], item["utterance"])
            request = GenerationRequest(
                (ChatMessage("system", item["instruction"]), ChatMessage("user", words)),
                spoken=SpokenReply("en-US", 240))
            start = time.monotonic()
            relevance = await model.judge_relevance(request)
            seconds.append(time.monotonic() - start)
            results.append({**item, "heard": words, "probability": relevance.probability,
                            "answered": answers(relevance.probability)})
    finally:
        await model.aclose()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(report(results, args.spoken, seconds))


if __name__ == "__main__":
    asyncio.run(main())
