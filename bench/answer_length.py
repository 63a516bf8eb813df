"""Spoken answers end: how long voice answers are, with and without the spoken-answer bound.

Issue 11 met an answer that spoke for 30 s until the client gave up. Each question here
is one fresh AUDIO session over the raw wire protocol, asked as ``realtimeInput.text``
(so recognition plays no part) with ``outputAudioTranscription`` on and no system
instruction, as most Live programs send it. Two servers run side by side, on the same
models, asked in turn (machines here are shared and noisy, so the comparison is within
one run):

* ``bounded``: today's defaults (``--spoken-answer-chars 240``: the answer ends at the
  first sentence end past 240 characters);
* ``unbounded``: ``--spoken-answer-chars 0`` (no bound; the spoken-reply instruction,
  which every AUDIO session gets, stays);

and a third condition on the bounded server, ``asked``, sets
``generationConfig.maxOutputTokens`` 400, which replaces the bound.

Per condition: answer audio seconds and characters (p50 / max), answers past the bound
(text after the first sentence end past 240 characters), turns that did not complete
within the timeout, and send → first audio latency (the instruction's prompt tokens cost
something the first time a session's prompt is evaluated).

    .venv/bin/python bench/answer_length.py            # both servers, all questions
    .venv/bin/python bench/answer_length.py --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.live import MODEL, close_connection
from lib.server import Server
from lib.stats import pct

from openlive.engines.llm.spoken import SentenceBound

BOUND = 240
OUTPUT_RATE = 24_000
QUESTIONS = (
    # open questions that invite a long answer
    "Tell me everything you know about the history of Paris.",
    "Explain how a car engine works.",
    "What can you tell me about dolphins?",
    "How do I learn to play the guitar?",
    "Tell me a story about a dragon who learns to bake.",
    "Describe the water cycle in detail.",
    # short factual ones
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What colour is the sky on a clear day?",
    "What do bees make?",
)


@dataclass
class Answer:
    condition: str
    question: str
    text: str = ""
    audio_seconds: float = 0.0
    first_audio: float | None = None  # send -> first audio chunk
    completed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def past_bound(self) -> bool:
        """Text goes on after the first sentence end past the bound."""
        kept, reached = SentenceBound(BOUND).feed(self.text)
        return reached and len(self.text.strip()) > len(kept.strip())


async def ask(url: str, question: str, condition: str, timeout: float) -> Answer:
    from websockets.asyncio.client import connect

    answer = Answer(condition, question)
    generation: dict[str, Any] = {"responseModalities": ["AUDIO"]}
    if condition == "asked":
        generation["maxOutputTokens"] = 400
    async with connect(url, max_size=None, open_timeout=60) as ws:
        await ws.send(json.dumps({"setup": {"model": MODEL, "generationConfig": generation,
                                            "outputAudioTranscription": {}}}))
        json.loads(await asyncio.wait_for(ws.recv(), 60))
        sent = time.perf_counter()
        await ws.send(json.dumps({"realtimeInput": {"text": question}}))
        receive = asyncio.create_task(_receive(ws, answer, sent))
        try:
            await asyncio.wait_for(asyncio.shield(receive), timeout)
        except TimeoutError:
            answer.notes.append(f"no turnComplete within {timeout:g} s")
        await close_connection([receive], None)
    return answer


async def _receive(ws: Any, answer: Answer, sent: float) -> None:
    async for frame in ws:
        content = json.loads(frame).get("serverContent") or {}
        for part in (content.get("modelTurn") or {}).get("parts", []):
            data = (part.get("inlineData") or {}).get("data")
            if data:
                if answer.first_audio is None:
                    answer.first_audio = time.perf_counter() - sent
                answer.audio_seconds += len(base64.b64decode(data)) / 2 / OUTPUT_RATE
        if "outputTranscription" in content:
            answer.text += content["outputTranscription"].get("text", "")
        if content.get("turnComplete"):
            answer.completed = True
            return


def _row(condition: str, answers: list[Answer]) -> str:
    seconds = [a.audio_seconds for a in answers]
    chars = [len(a.text.strip()) for a in answers]
    firsts = [a.first_audio for a in answers if a.first_audio is not None]
    return (f"| {condition} | {len(answers)} | {pct(seconds, 0.5):.1f} / {max(seconds):.1f} s "
            f"| {pct(chars, 0.5):.0f} / {max(chars)} | "
            f"{sum(a.past_bound for a in answers)}/{len(answers)} | "
            f"{sum(not a.completed for a in answers)}/{len(answers)} | "
            f"{pct(firsts, 0.5):.2f} / {pct(firsts, 0.95):.2f} s |")


def report(answers: list[Answer]) -> str:
    head = ("| condition | answers | answer audio p50 / max | characters p50 / max "
            f"| past the bound ({BOUND} chars + sentence) | not completed "
            "| text sent → first audio p50 / p95 |")
    lines = [head, "|" + "---|" * 7]
    for condition in dict.fromkeys(a.condition for a in answers):
        lines.append(_row(condition, [a for a in answers if a.condition == condition]))
    return "\n".join(lines)


async def run(urls: dict[str, str], rounds: int, timeout: float) -> list[Answer]:
    answers = []
    for r in range(rounds):
        for question in QUESTIONS:
            order = list(urls) if r % 2 == 0 else list(reversed(urls))
            for condition in order:
                answer = await ask(urls[condition], question, condition, timeout)
                answers.append(answer)
                print(f"[{condition}] {question[:40]!r}: {answer.audio_seconds:.1f} s, "
                      f"{len(answer.text)} chars{' PAST' if answer.past_bound else ''}"
                      f"{' ' + '; '.join(answer.notes) if answer.notes else ''}",
                      file=sys.stderr)
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="times each question is asked")
    parser.add_argument("--timeout", type=float, default=90.0,
                        help="seconds to wait for a turn to complete")
    parser.add_argument("--json", type=Path, help="also write every answer here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="openlive-answers-") as tmp:
        bounded_dir, unbounded_dir = Path(tmp, "bounded"), Path(tmp, "unbounded")
        bounded_dir.mkdir()
        unbounded_dir.mkdir()
        bounded = Server(bounded_dir, None)
        unbounded = Server(unbounded_dir, None, ["--spoken-answer-chars", "0"])
        try:
            urls = {"bounded": bounded.ws_url, "unbounded": unbounded.ws_url,
                    "asked": bounded.ws_url}
            answers = asyncio.run(run(urls, args.rounds, args.timeout))
        finally:
            bounded.stop()
            unbounded.stop()
    print(report(answers))
    if args.json:
        args.json.write_text(json.dumps([a.__dict__ for a in answers], indent=1))


if __name__ == "__main__":
    main()
