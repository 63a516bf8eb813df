"""LLM time to first token when several conversations share one llama.cpp model.

Voice sessions take turns on the one ``LlamaCppModel`` of a server. This script plays
N conversations (each its own system instruction and a few turns of history, a few
hundred prompt tokens) in turn on one model in-process, each round adding a user turn
to every conversation, twice in the same run: with per-conversation KV snapshots
(``kv_snapshots_bytes`` default) and without them (``kv_snapshots_bytes=0``). The two
models alternate round by round, so that a noisy neighbour hits both alike. The first
round of each conversation evaluates its prompt cold in both modes and is not counted.
Prints time to first token p50/p95 per mode, and the snapshots' save/restore time and
size.

    .venv/bin/python bench/llm_sessions.py [--conversations 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass, field

from lib.stats import pct
from lib.tables import header, ms, row

MAX_TOKENS = 20

BAKERY = (
    "You are Marlow, the voice assistant of the Harbour Street Bakery. Speak warmly "
    "and answer in one or two short sentences. The bakery opens at 7am and closes at "
    "6pm from Tuesday to Sunday; it is closed on Mondays. Sourdough loaves cost 6 "
    "dollars, baguettes 3 dollars, croissants 2.50 dollars and cinnamon rolls 3.25 "
    "dollars. Custom cakes need 48 hours notice and start at 40 dollars for an "
    "eight-inch cake; gluten-free cakes cost 10 dollars more. Delivery is free above "
    "30 dollars within five miles, otherwise 5 dollars. Never invent items that are "
    "not on the menu. If asked about allergens, say that everything is baked in a "
    "kitchen that also handles nuts, dairy, eggs and wheat."
)
RAIL = (
    "You are Atlas, a travel assistant for a small rail company. Be precise and brief. "
    "Trains run from Northgate to Lakeside every 30 minutes between 6am and 11pm; the "
    "trip takes 47 minutes. A single ticket costs 12 euros, a return 20 euros, and a "
    "weekly pass 65 euros. Children under 12 travel at half price and under 4 for free. "
    "Bicycles are allowed outside the rush hours of 7 to 9am and 5 to 7pm, for 3 euros. "
    "Seat reservations are not needed. The quiet coach is always the first coach. "
    "Tickets can be bought at the station, on the app, or on board for 2 euros extra. "
    "Refunds are possible up to one hour before departure."
)
GARDEN = (
    "You are Juno, a home assistant that helps with a vegetable garden. Answer in plain "
    "words, at most two sentences. The garden has four raised beds: bed A has tomatoes "
    "and basil, bed B carrots and onions, bed C lettuce and radishes, bed D courgettes. "
    "Watering is automatic at 6am for 15 minutes, and the user can add a second round in "
    "the evening during heat waves. Tomatoes need feeding every two weeks with a potash "
    "feed. Slugs are a problem in bed C; the user prefers wool pellets to chemical slug "
    "bait. Frost dates: last spring frost around April 20, first autumn frost around "
    "October 25. Do not recommend pesticides."
)
# (system instruction, earlier turns as user/assistant pairs, the next user turns)
PERSONAS: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    (BAKERY, [
        ("Hi, are you open on Monday?",
         "Sorry, we're closed on Mondays. We open Tuesday to Sunday from 7am to 6pm."),
        ("How much is a sourdough loaf?", "A sourdough loaf is 6 dollars."),
        ("Can I order a birthday cake for Saturday?",
         "Yes, with 48 hours notice. An eight-inch cake starts at 40 dollars."),
    ], ["Do you deliver to Elm Park?", "What about a gluten-free one?",
        "Is there anything without nuts?", "And croissants, how much?"]),
    (RAIL, [
        ("When is the last train to Lakeside?",
         "The last train leaves Northgate at 11pm and arrives in Lakeside at 11:47pm."),
        ("How much for two adults and a child of 8?",
         "Two adult singles are 24 euros and the child pays half, 6 euros: 30 euros."),
        ("Can I bring my bike at 8am?",
         "Not at 8am: bicycles are not allowed between 7 and 9am. From 9am it is 3 euros."),
    ], ["Which coach is quiet?", "Can I get a refund tomorrow morning?",
        "Is the weekly pass worth it for 4 trips?", "How long is the trip?"]),
    (GARDEN, [
        ("When should I feed the tomatoes again?",
         "Every two weeks with a potash feed: two weeks after the last feed."),
        ("The lettuce has holes in it.",
         "That is probably slugs in bed C. Spread wool pellets around the plants."),
        ("It will be 34 degrees tomorrow.",
         "Add an evening watering round tomorrow, on top of the automatic one at 6am."),
    ], ["Can I plant more radishes now?", "What goes well with courgettes?",
        "When is the first frost?", "Should I water bed B more?"]),
]


@dataclass
class Conversation:
    system: str
    history: list[tuple[str, str]]
    questions: list[str]
    asked: int = 0

    def next_request(self) -> tuple[object, ...]:
        from openlive.engines.llm.base import ChatMessage

        messages = [ChatMessage("system", self.system)]
        for user, assistant in self.history:
            messages += [ChatMessage("user", user), ChatMessage("assistant", assistant)]
        question = self.questions[self.asked % len(self.questions)]
        messages.append(ChatMessage("user", question))
        return tuple(messages)

    def answered(self, reply: str) -> None:
        question = self.questions[self.asked % len(self.questions)]
        self.history.append((question, reply))
        self.asked += 1


@dataclass
class Mode:
    name: str
    model: object
    conversations: list[Conversation]
    ttft: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)


async def turn(mode: Mode, conversation: Conversation, counted: bool) -> None:
    from openlive.engines.llm.base import Finished, GenerationRequest, SamplingParams, TextDelta

    request = GenerationRequest(
        conversation.next_request(),  # type: ignore[arg-type]
        SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS),
    )
    started = time.perf_counter()
    first, text = 0.0, ""
    async for event in mode.model.stream(request):  # type: ignore[attr-defined]
        if isinstance(event, TextDelta):
            first = first or time.perf_counter() - started
            text += event.text
        elif isinstance(event, Finished) and counted:
            mode.ttft.append(first)
            mode.prompt_tokens.append(event.prompt_tokens)
    conversation.answered(text.strip())


def conversations(count: int) -> list[Conversation]:
    return [
        Conversation(system, list(history), questions)
        for system, history, questions in (PERSONAS[i % len(PERSONAS)] for i in range(count))
    ]


async def run(args: argparse.Namespace) -> tuple[list[Mode], object]:
    from openlive.engines.llm.llamacpp import LlamaCppModel

    modes = [
        Mode("snapshots on", LlamaCppModel.from_default_weights(
            n_ctx=args.n_ctx, n_threads=args.threads), conversations(args.conversations)),
        Mode("snapshots off", LlamaCppModel.from_default_weights(
            n_ctx=args.n_ctx, n_threads=args.threads, kv_snapshots_bytes=0),
            conversations(args.conversations)),
    ]
    try:
        for round_no in range(args.rounds + 1):
            for mode in modes:
                for conversation in mode.conversations:
                    await turn(mode, conversation, counted=round_no > 0)
            print(f"round {round_no}/{args.rounds} done"
                  + (" (warm-up: cold prompts, not counted)" if round_no == 0 else ""),
                  file=sys.stderr)
        stats = modes[0].model.snapshot_stats  # type: ignore[attr-defined]
    finally:
        for mode in modes:
            await mode.model.aclose()  # type: ignore[attr-defined]
    return modes, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2,
                        help="counted rounds, after one warm-up round")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="llama.cpp decode threads")
    parser.add_argument("--n-ctx", type=int, default=4096)
    args = parser.parse_args()
    started = time.perf_counter()
    modes, stats = asyncio.run(run(args))
    elapsed = time.perf_counter() - started
    prompts = modes[0].prompt_tokens
    print(f"\nLLM time to first token, {args.conversations} conversations taking turns on one "
          f"model, {args.rounds} counted rounds ({len(prompts)} turns per mode), prompts "
          f"{min(prompts)}-{max(prompts)} tokens, max {MAX_TOKENS} tokens, temperature 0, "
          f"{args.threads} threads ({elapsed:.0f} s in all)\n")
    print(*header("mode", "TTFT p50", "TTFT p95"), sep="\n")
    for mode in modes:
        print(row(mode.name, ms(pct(mode.ttft, 0.5)), ms(pct(mode.ttft, 0.95))))
    s = stats
    if s.saves and s.restores:
        print()
        print(*header("snapshots", "count", "mean time", "mean size"), sep="\n")
        print(row("saved", s.saves, ms(s.save_seconds / s.saves, 1),
                  f"{s.saved_bytes / s.saves / 1e6:.1f} MB ({s.saved_tokens // s.saves} tokens, "
                  f"{s.saved_bytes / max(s.saved_tokens, 1) / 1024:.1f} KiB/token)"))
        print(row("restored", s.restores, ms(s.restore_seconds / s.restores, 1),
                  f"{s.restored_tokens // s.restores} prompt tokens reused"))


if __name__ == "__main__":
    main()
