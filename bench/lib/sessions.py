"""Conversations over Live sessions: the client settings every session of a run shares
(``Bench``), and sessions that ask the test questions turn after turn."""

from __future__ import annotations

import argparse
import asyncio
import random

import numpy as np

from lib.live import LiveClient, Turn, audio_message, chunk_messages, setup_message, wait
from lib.server import Server
from lib.speech import RATE, Utterance, noise

TURN_TIMEOUT = 60.0  # seconds to wait for one answer


class Bench:
    """Shared settings of the client side, from the command line (``chunk_ms``,
    ``silence_ms``, ``language``, ``max_tokens``, ``no_deflate``, ``turn_timeout``)."""

    def __init__(self, args: argparse.Namespace, server: Server) -> None:
        self.args = args
        self.server = server
        rng = np.random.default_rng(11)
        self.chunk_bytes = int(RATE * args.chunk_ms / 1000) * 2
        self.pad = noise(1.0, rng)
        self.silence = [audio_message(noise(args.chunk_ms / 1000, rng)) for _ in range(16)]
        self.setup_default = setup_message(silence_ms=args.silence_ms, language=args.language,
                                           max_tokens=args.max_tokens)

    def messages(self, utterance: Utterance) -> list[str]:
        """The chunks that say ``utterance``."""
        return chunk_messages(utterance.pcm, self.chunk_bytes, self.pad)

    def ask(self, client: LiveClient, utterance: Utterance) -> Turn:
        """Say ``utterance`` on ``client`` as a new turn that expects an answer."""
        turn = Turn(utterance.name)
        client.expect(turn)
        client.say(self.messages(utterance), turn)
        return turn

    def client(self, chunk_ms: int | None = None, silence: list[str] | None = None
               ) -> LiveClient:
        """A client of the server (not open yet)."""
        return LiveClient(self.server.ws_url, chunk_ms or self.args.chunk_ms,
                          silence or self.silence, not self.args.no_deflate)


async def conversation(bench: Bench, questions: list[Utterance], turns: int, offset: float,
                       rng: random.Random) -> tuple[LiveClient, list[Turn]]:
    """One session, ``offset`` seconds from now: ``turns`` questions, each after a
    think time and once the answer to the one before is complete (or timed out)."""
    await asyncio.sleep(offset)
    client = bench.client()
    await client.open(bench.setup_default)
    done: list[Turn] = []
    try:
        for _ in range(turns):
            await asyncio.sleep(rng.uniform(0.5, 1.5))  # think time, the microphone stays on
            utterance = rng.choice(questions)
            turn = bench.ask(client, utterance)
            ok = await wait(turn.done.wait(), bench.args.turn_timeout)
            done.append(turn)
            if not ok:
                client.drop(turn)
            if client.closed:
                break
    finally:
        await client.close()
    return client, done


async def conversations(bench: Bench, questions: list[Utterance], sessions: int, turns: int
                        ) -> list[tuple[LiveClient, list[Turn]]]:
    """``sessions`` conversations at once, their starts spread over 3 s."""
    rng = random.Random(5)
    spread = 3.0 if sessions > 1 else 0.0
    jobs = [conversation(bench, questions, turns, spread * i / sessions,
                         random.Random(rng.random())) for i in range(sessions)]
    return list(await asyncio.gather(*jobs))
