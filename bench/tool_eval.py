"""How well the default model calls tools, and what a call adds to a turn's latency.

Declares five tools (weather, lights with a room enum, timer, e-mail, currency) and asks
25 prompts that need one of them and 8 that need none, greedy decoding, through
``LlamaCppModel`` exactly as a session would (tools in ``GenerationRequest.tools``). For
each tool-prompt format it reports, as markdown tables:

* the share of tool prompts answered with the right tool and schema-valid arguments
  (the target is 90 %), and the stricter share whose argument values are the expected
  ones (city, room, minutes, currency codes...);
* false calls on prompts that need no tool (valid calls, and attempts rejected because
  they name a function that was not declared: the user gets no answer either way);
* latency: time to the parsed call, time to the first text token of a plain answer
  (same no-tool prompts, no tools declared) and with the tools declared, and the time
  to the first token of the answer that follows the call's result; "a call adds" is the
  median time to the call minus the median time to a plain answer's first token;
* every miss, so that the numbers can be checked by eye.

    .venv/bin/python bench/tool_eval.py [--formats template guarded] [--model-path X.gguf]
                                        [--threads 2] [--json results.json]
                                        [--resume journal.jsonl]

One model is loaded at a time. Takes about 5 minutes per format on 2 idle cores (much
more on a busy machine: ``--resume`` continues a run that was stopped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lib.stats import pct
from lib.tables import header

from openlive.chat.schema import schema_from_declaration
from openlive.engines.llm.base import (
    ChatMessage,
    GenerationRequest,
    MalformedToolCall,
    SamplingParams,
    TextDelta,
    ToolCall,
    ToolCallsRequested,
    ToolSpec,
)
from openlive.engines.llm.llamacpp import LlamaCppModel

SYSTEM = "You are a helpful voice assistant. Answer briefly."
MAX_TOKENS = 64  # an e-mail call with a body takes ~45 tokens


def declaration(name: str, description: str, properties: dict[str, Any], required: list[str]):
    """A ToolSpec built from a Live-style declaration (upper-case OpenAPI Schema)."""
    parameters = {"type": "OBJECT", "properties": properties, "required": required}
    return ToolSpec(name, description, schema_from_declaration(parameters))


TOOLS = (
    declaration(
        "get_weather",
        "Get the current weather for a city.",
        {"city": {"type": "STRING", "description": "The city's name, e.g. Paris"}},
        ["city"],
    ),
    declaration(
        "set_lights",
        "Turn the lights of one room on or off.",
        {
            "room": {"type": "STRING", "enum": ["kitchen", "bedroom", "living_room", "bathroom"]},
            "on": {"type": "BOOLEAN", "description": "true to turn on, false to turn off"},
        },
        ["room", "on"],
    ),
    declaration(
        "set_timer",
        "Start a countdown timer.",
        {"minutes": {"type": "NUMBER", "description": "Duration in minutes"}},
        ["minutes"],
    ),
    declaration(
        "send_email",
        "Send an e-mail.",
        {
            "to": {"type": "STRING", "description": "The recipient's e-mail address"},
            "subject": {"type": "STRING"},
            "body": {"type": "STRING", "nullable": True},
        },
        ["to", "subject"],
    ),
    declaration(
        "convert_currency",
        "Convert an amount of money from one currency to another.",
        {
            "amount": {"type": "NUMBER"},
            "from": {"type": "STRING", "description": "ISO 4217 code of the source, e.g. USD"},
            "to": {"type": "STRING", "description": "ISO 4217 code of the target, e.g. EUR"},
        },
        ["amount", "from", "to"],
    ),
)

# prompt, tool, the argument values a correct call has (strings compared case-insensitively)
TOOL_PROMPTS: list[tuple[str, str, dict[str, Any]]] = [
    ("What's the weather like in Paris right now?", "get_weather", {"city": "Paris"}),
    ("Is it going to rain in London today?", "get_weather", {"city": "London"}),
    ("How warm is it in Tokyo?", "get_weather", {"city": "Tokyo"}),
    ("Tell me the current weather in New York.", "get_weather", {"city": "New York"}),
    ("Do I need a jacket in Berlin right now?", "get_weather", {"city": "Berlin"}),
    ("Turn on the lights in the kitchen.", "set_lights", {"room": "kitchen", "on": True}),
    ("Switch off the bedroom light.", "set_lights", {"room": "bedroom", "on": False}),
    ("Please turn the living room lights off.", "set_lights", {"room": "living_room", "on": False}),
    (
        "It's dark in the bathroom, lights on please.",
        "set_lights",
        {"room": "bathroom", "on": True},
    ),
    ("Kill the lights in the kitchen.", "set_lights", {"room": "kitchen", "on": False}),
    ("Set a timer for 10 minutes.", "set_timer", {"minutes": 10}),
    ("Start a 25 minute timer.", "set_timer", {"minutes": 25}),
    ("Remind me in 5 minutes with a timer.", "set_timer", {"minutes": 5}),
    ("Can you time 3 minutes for my eggs?", "set_timer", {"minutes": 3}),
    ("Set a timer for an hour and a half.", "set_timer", {"minutes": 90}),
    (
        "Send an email to bob@example.com with the subject Lunch tomorrow.",
        "send_email",
        {"to": "bob@example.com", "subject": "Lunch tomorrow"},
    ),
    (
        "Email alice@example.org, subject: Quarterly report.",
        "send_email",
        {"to": "alice@example.org", "subject": "Quarterly report"},
    ),
    (
        "Write to carol@example.com that the meeting moved, subject Meeting moved.",
        "send_email",
        {"to": "carol@example.com", "subject": "Meeting moved"},
    ),
    (
        "Send dave@example.net an email titled Happy birthday.",
        "send_email",
        {"to": "dave@example.net", "subject": "Happy birthday"},
    ),
    (
        "Shoot an email to eve@example.com about the invoice, subject Invoice 42.",
        "send_email",
        {"to": "eve@example.com", "subject": "Invoice 42"},
    ),
    (
        "How much is 50 US dollars in euros?",
        "convert_currency",
        {"amount": 50, "from": "USD", "to": "EUR"},
    ),
    (
        "Convert 100 euros to Japanese yen.",
        "convert_currency",
        {"amount": 100, "from": "EUR", "to": "JPY"},
    ),
    (
        "What's 20 British pounds in US dollars?",
        "convert_currency",
        {"amount": 20, "from": "GBP", "to": "USD"},
    ),
    (
        "Change 250 Swiss francs into euros.",
        "convert_currency",
        {"amount": 250, "from": "CHF", "to": "EUR"},
    ),
    (
        "How many Canadian dollars do I get for 75 US dollars?",
        "convert_currency",
        {"amount": 75, "from": "USD", "to": "CAD"},
    ),
]

NO_TOOL_PROMPTS = [
    "What is the capital of Italy?",
    "Tell me a short joke.",
    "How many legs does a spider have?",
    "Who wrote Romeo and Juliet?",
    "What does a CPU do? One sentence.",
    "Say good morning in Spanish.",
    "What is 12 times 12?",
    "Give me a synonym for happy.",
]

# what each tool "returns" in the follow-up, and a word the answer should repeat
RESULTS: dict[str, tuple[dict[str, Any], str]] = {
    "get_weather": ({"output": {"temperature_c": 18, "sky": "light rain"}}, "rain"),
    "set_lights": ({"output": {"ok": True}}, "light"),
    "set_timer": ({"output": {"status": "started"}}, "timer"),
    "send_email": ({"output": {"status": "sent"}}, "sent"),
    "convert_currency": ({"output": {"amount": 46.1}}, "46.1"),
}


@dataclass
class Outcome:
    """What one generation did, with its timings in seconds from the request."""

    prompt: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    text: str = ""
    first_text: float | None = None  # time to the first TextDelta
    call_at: float | None = None  # time to ToolCallsRequested / MalformedToolCall
    total: float = 0.0


async def run(model: LlamaCppModel, messages: tuple[ChatMessage, ...], tools: bool) -> Outcome:
    sampling = SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS)
    request = GenerationRequest(messages, sampling, tools=TOOLS if tools else ())
    outcome = Outcome(next(m.content for m in messages if m.role == "user"))
    started = time.perf_counter()
    async for event in model.stream(request):
        now = time.perf_counter() - started
        if isinstance(event, TextDelta):
            outcome.first_text = outcome.first_text or now
            outcome.text += event.text
        elif isinstance(event, ToolCallsRequested):
            outcome.call_at = now
            outcome.calls = [{"name": c.name, "arguments": c.arguments} for c in event.calls]
            outcome.rejected = list(event.rejected)
        elif isinstance(event, MalformedToolCall):
            outcome.call_at = now
            outcome.rejected = list(event.reasons)
    outcome.total = time.perf_counter() - started
    return outcome


class Journal:
    """Outcomes already measured, kept in a JSON-lines file so that a run can resume.

    On a shared machine a long run may be stopped; ``--resume FILE`` skips what FILE holds.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._done: dict[str, Outcome] = {}
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                key = entry.pop("key")
                self._done[key] = Outcome(**entry)

    def get(self, key: str) -> Outcome | None:
        return self._done.get(key)

    def add(self, key: str, outcome: Outcome) -> None:
        self._done[key] = outcome
        if self._path is not None:
            with self._path.open("a") as file:
                file.write(json.dumps({"key": key, **asdict(outcome)}) + "\n")


class Runner:
    """Runs (or replays from the journal) the generations of one prompt format."""

    def __init__(self, fmt: str, options: dict[str, Any], journal: Journal) -> None:
        self.fmt, self._options, self._journal = fmt, options, journal
        self._model: LlamaCppModel | None = None
        self._warm: bool | None = None  # which prefix (tools or not) the cache holds

    async def run(self, key: str, messages: tuple[ChatMessage, ...], tools: bool) -> Outcome:
        key = f"{self.fmt}/{key}"
        if (done := self._journal.get(key)) is not None:
            return done
        model = self._loaded()
        if self._warm is not tools:  # time the prompt, not a cold prefix
            await run(model, ask("Hello!"), tools)
            self._warm = tools
        outcome = await run(model, messages, tools)
        self._journal.add(key, outcome)
        return outcome

    def _loaded(self) -> LlamaCppModel:
        if self._model is None:
            path = self._options.pop("model_path", None)
            if path:
                self._model = LlamaCppModel(path, **self._options)
            else:
                self._model = LlamaCppModel.from_default_weights(**self._options)
        return self._model

    async def aclose(self) -> None:
        if self._model is not None:
            await self._model.aclose()


def ask(prompt: str) -> tuple[ChatMessage, ...]:
    return (ChatMessage("system", SYSTEM), ChatMessage("user", prompt))


def expected_values(arguments: dict[str, Any], expected: dict[str, Any]) -> bool:
    def same(got: Any, want: Any) -> bool:
        if isinstance(want, str):
            return isinstance(got, str) and got.strip().lower() == want.lower()
        if isinstance(want, bool):
            return got is want
        return isinstance(got, int | float) and not isinstance(got, bool) and got == want

    return all(same(arguments.get(name), value) for name, value in expected.items())


async def follow_up(runner: Runner, prompt: str, call: dict[str, Any]) -> Outcome:
    tool_call = ToolCall("function-call-100000000000000001", call["name"], call["arguments"])
    result, _ = RESULTS[call["name"]]
    messages = (
        *ask(prompt),
        ChatMessage("assistant", "", tool_calls=(tool_call,)),
        ChatMessage("tool", json.dumps(result), tool_call_id=tool_call.id, name=tool_call.name),
    )
    return await runner.run(f"after/{prompt}", messages, tools=True)


async def evaluate(fmt: str, options: dict[str, Any], journal: Journal) -> dict[str, Any]:
    runner = Runner(fmt, {"n_ctx": 2048, **options, "tool_prompt": fmt}, journal)
    try:
        tool_runs = []
        for prompt, name, expected in TOOL_PROMPTS:
            outcome = await runner.run(f"tool/{prompt}", ask(prompt), tools=True)
            right = [c for c in outcome.calls if c["name"] == name]
            answer = await follow_up(runner, prompt, right[0]) if right else None
            tool_runs.append((outcome, name, expected, answer))
            got = outcome.calls or outcome.rejected or outcome.text
            print(f"  [{fmt}] {prompt!r}: {got!r}", file=sys.stderr)
        no_tool_runs = [
            await runner.run(f"none/{prompt}", ask(prompt), tools=True)
            for prompt in NO_TOOL_PROMPTS
        ]
        plain_runs = [
            await runner.run(f"plain/{prompt}", ask(prompt), tools=False)
            for prompt in NO_TOOL_PROMPTS
        ]
    finally:
        await runner.aclose()
    return summarise(fmt, tool_runs, no_tool_runs, plain_runs)


def summarise(
    fmt: str,
    tool_runs: list[tuple[Outcome, str, dict[str, Any], Outcome | None]],
    no_tool_runs: list[Outcome],
    plain_runs: list[Outcome],
) -> dict[str, Any]:
    right_valid, right_values, misses = 0, 0, []
    answers_in_text, answers_using_result, follow_ups = 0, 0, []
    for outcome, name, expected, answer in tool_runs:
        calls = outcome.calls
        ok = len(calls) == 1 and calls[0]["name"] == name
        right_valid += ok
        exact = ok and expected_values(calls[0]["arguments"], expected)
        right_values += exact
        if not exact:
            got = calls or outcome.rejected or outcome.text
            misses.append(f"{outcome.prompt!r} → {got!r}")
        if answer is not None:
            follow_ups.append(answer)
            answers_in_text += bool(answer.text) and not answer.calls
            word = RESULTS[name][1]
            answers_using_result += word in answer.text.lower()
    false_calls = [o for o in no_tool_runs if o.calls]
    attempts = [o for o in no_tool_runs if o.rejected and not o.calls]
    call_times = [o.call_at for o, *_ in tool_runs if o.call_at is not None and o.calls]
    return {
        "format": fmt,
        "tool_prompts": len(tool_runs),
        "right_tool_valid_args": right_valid,
        "right_tool_expected_values": right_values,
        "no_tool_prompts": len(no_tool_runs),
        "false_calls": len(false_calls),
        "rejected_attempts": len(attempts),
        "false_call_examples": [
            f"{o.prompt!r} → {o.calls or o.rejected!r}" for o in false_calls + attempts
        ],
        "time_to_call": _stats(call_times),
        "ttft_plain": _stats([o.first_text for o in plain_runs if o.first_text is not None]),
        "ttft_tools_declared": _stats(
            [o.first_text for o in no_tool_runs if o.first_text is not None]
        ),
        "ttft_answer_after_result": _stats(
            [o.first_text for o in follow_ups if o.first_text is not None]
        ),
        "follow_ups": len(follow_ups),
        "answers_in_text": answers_in_text,
        "answers_using_result": answers_using_result,
        "misses": misses,
        "runs": [asdict(o) for o, *_ in tool_runs] + [asdict(o) for o in no_tool_runs],
    }


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "n": 0}
    return {"p50": statistics.median(values), "p90": pct(values, 0.9), "n": len(values)}


ACCURACY_HEADER = header(
    "prompt format", "right tool, valid args", "right tool, expected values",
    "no-tool prompts: false calls / rejected attempts", "answer after result: text / uses it")
LATENCY_HEADER = header(
    "prompt format", "first token, plain answer", "first token, tools declared",
    "parsed call", "a call adds", "first token of the answer after the result")


def markdown(results: list[dict[str, Any]]) -> str:
    lines = list(ACCURACY_HEADER)
    for r in results:
        n, m, f = r["tool_prompts"], r["no_tool_prompts"], r["follow_ups"]
        lines.append(
            f"| {r['format']} | {r['right_tool_valid_args']}/{n} "
            f"({100 * r['right_tool_valid_args'] / n:.0f} %) | "
            f"{r['right_tool_expected_values']}/{n} "
            f"({100 * r['right_tool_expected_values'] / n:.0f} %) | "
            f"{r['false_calls']}/{m} / {r['rejected_attempts']}/{m} | "
            f"{r['answers_in_text']}/{f} / {r['answers_using_result']}/{f} |"
        )
    lines += ["", *LATENCY_HEADER]
    for r in results:
        plain, call = r["ttft_plain"], r["time_to_call"]
        adds = call["p50"] - plain["p50"]
        lines.append(
            f"| {r['format']} | {_ms(plain)} | {_ms(r['ttft_tools_declared'])} | {_ms(call)} | "
            f"+{adds * 1000:.0f} ms | {_ms(r['ttft_answer_after_result'])} |"
        )
    lines.append("")
    lines.append("Latencies: p50 / p90 over the prompts, from the request to the event.")
    for r in results:
        if r["misses"] or r["false_call_examples"]:
            lines.append("")
            lines.append(f"Misses with the {r['format']} format:")
            lines += [f"- {miss}" for miss in r["misses"] + r["false_call_examples"]]
    return "\n".join(lines)


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in averages)


def _ms(stats: dict[str, float]) -> str:
    return f"{stats['p50'] * 1000:.0f} / {stats['p90'] * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--formats",
        nargs="+",
        default=["template", "guarded"],
        choices=["template", "guarded"],
        help="tool-prompt formats to compare (LlamaCppModel's tool_prompt)",
    )
    parser.add_argument("--model-path", help="a GGUF instead of the bundled default model")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    parser.add_argument(
        "--resume",
        type=Path,
        help="journal of measured runs (JSON lines): skipped if present, appended to as it goes",
    )
    args = parser.parse_args()
    started, load_before = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()
    journal = Journal(args.resume)
    options = {"model_path": args.model_path, "n_threads": args.threads}
    results = []
    for fmt in args.formats:
        results.append(asyncio.run(evaluate(fmt, dict(options), journal)))
    print(markdown(results))
    print(
        f"\nRun {started}, {os.cpu_count()} cores, load average {_load(load_before)} at "
        f"start and {_load(os.getloadavg())} at the end (other jobs share the machine)."
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
