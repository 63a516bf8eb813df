"""Turn-taking phases of the voice benchmark: barge-in (talking over an answer) and Smart
Turn cut-offs (a pause in the middle of a sentence)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from lib.live import LiveClient, Turn, setup_message, wait
from lib.sessions import Bench
from lib.speech import Utterance

TALKED_OVER_SECONDS = 0.6  # audio still sent this long after a barge-in's onset: ignored


@dataclass
class BargeIn:
    """One barge-in trial."""

    outcome: str  # see judge_barge_in
    to_interrupted: float | None = None  # onset of the new speech -> `interrupted` received
    audio_after_onset: float | None = None  # onset -> last audio chunk of the old answer
    heard_after_onset: float | None = None  # onset -> the old answer stops for the user
    answered: bool = False  # the interrupting question got an answer with audio
    split: bool = False  # the interrupting question was heard as several turns


def heard_until(audio_log: list[tuple[float, int]], flush_at: float | None) -> float:
    """When a client that plays audio as it arrives (24 kHz 16-bit) and drops its buffer
    on `interrupted` (as the SDK examples do) stops playing this answer."""
    playhead = 0.0
    for arrival, size in audio_log:
        if flush_at is not None and arrival > flush_at:
            break
        playhead = max(playhead, arrival) + size / 48_000
    return playhead if flush_at is None else min(playhead, flush_at)


def judge_barge_in(old: Turn, new: Turn) -> BargeIn:
    """What became of the answer ``old`` once ``new`` began to be said over it: its
    outcome is "answer ended first", "interrupted", "talked over" or "answer all sent
    within 0.6 s"."""
    onset = new.onset
    if onset is None:
        raise ValueError("the new turn has not been said yet")
    if old.done.is_set() and old.turn_complete is not None and old.turn_complete <= onset:
        return BargeIn("answer ended first")
    after = [t for t, _ in old.audio_log if t > onset]
    result = BargeIn("interrupted")
    result.audio_after_onset = (max(after) - onset) if after else 0.0
    if old.interrupted is None:
        # No `interrupted`: fine if the answer had all been sent by the time the barge-in
        # could be confirmed; a failure if its audio kept coming while the user spoke.
        result.outcome = ("talked over" if result.audio_after_onset > TALKED_OVER_SECONDS
                          else "answer all sent within 0.6 s")
    result.heard_after_onset = max(0.0, heard_until(old.audio_log, old.interrupted) - onset)
    if old.interrupted is not None:
        result.to_interrupted = old.interrupted - onset
    return result


async def barge_in_session(bench: Bench, questions: list[Utterance], cycles: int,
                           rng: random.Random) -> tuple[LiveClient, list[BargeIn]]:
    """Ask, and while the answer plays, ask the next question; ``cycles`` times."""
    client = bench.client()
    await client.open(bench.setup_default)
    results: list[BargeIn] = []
    timeout = bench.args.turn_timeout
    try:
        await asyncio.sleep(rng.uniform(0.3, 1.0))
        utterance = rng.choice(questions)
        turn = bench.ask(client, utterance)
        for _ in range(cycles):
            if not await wait(turn.heard_audio.wait(), timeout):
                results.append(BargeIn("no answer"))
                client.drop(turn)
                break
            await asyncio.sleep(rng.uniform(0.2, 0.6))  # talk over the answer
            utterance = rng.choice(questions)
            new = bench.ask(client, utterance)
            if not await wait(turn.done.wait(), timeout):  # interrupted, or spoke on
                client.drop(turn)
            while new.onset is None and not client.closed:
                await asyncio.sleep(0.01)
            result = judge_barge_in(turn, new)
            result.answered = await wait(new.heard_audio.wait(), timeout)
            result.split = new.split
            results.append(result)
            turn = new
        await wait(turn.done.wait(), timeout)
    finally:
        await client.close()
    return client, results


@dataclass
class CutOff:
    """One trial of a sentence with a pause in it."""

    condition: str
    utterance: str
    cut: bool | None  # None: no transcript at all
    first: str
    endpoint_to_transcript: float | None  # end of speech -> the transcript of the last part


async def cutoff_trial(bench: Bench, utterance: Utterance, silence_ms: int | None
                       ) -> CutOff:
    """Say ``utterance`` on a session of its own whose end of turn waits ``silence_ms``
    (None: the server's default, Smart Turn) and see whether the pause cut it."""
    condition = "unset (Smart Turn)" if silence_ms is None else f"{silence_ms} ms"
    setup = setup_message(silence_ms=silence_ms, language=bench.args.language,
                          max_tokens=bench.args.max_tokens)
    client = bench.client()
    await client.open(setup)
    try:
        await asyncio.sleep(0.5)
        turn = Turn(utterance.name)
        client.say(bench.messages(utterance), turn)
        deadline = time.perf_counter() + utterance.seconds + 8.0
        while time.perf_counter() < deadline:
            end = turn.speech_end
            if end is not None and any(t > end for t, kind, _ in client.events
                                       if kind == "input"):
                break
            await asyncio.sleep(0.05)
        inputs = [(t, text) for t, kind, text in client.events if kind == "input"]
    finally:
        await client.close()
    if not inputs:
        return CutOff(condition, utterance.name, None, "", None)
    first = inputs[0][1]
    cut = "salad" not in first.lower() and "please" not in first.lower()
    end = turn.speech_end
    final = next((t for t, _ in inputs if end is not None and t > end), None)
    latency = final - end if final is not None and end is not None else None
    return CutOff(condition, utterance.name, cut, first, latency)


async def cutoffs(bench: Bench, pauses: list[Utterance], trials: int) -> list[CutOff]:
    """``trials`` pairs of cut-off trials, Smart Turn and 1500 ms side by side."""
    results: list[CutOff] = []
    for i in range(trials):
        utterance = pauses[i % len(pauses)]
        pair = await asyncio.gather(cutoff_trial(bench, utterance, None),
                                    cutoff_trial(bench, utterance, 1500))
        results += pair
    return results
