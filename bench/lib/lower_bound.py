"""The critical-path lower bound: each engine of the voice path alone, in-process, on the
same utterances, with the server stopped. Their sum is what a perfectly pipelined server
could reach after the end-of-turn decision.

The engines are the server's own (the language model built from
``openlive.config.Settings``, threads included), imported only when measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncGenerator
from typing import Any, cast

import numpy as np

from lib.live import SYSTEM
from lib.machine import CpuWindow, await_quiet
from lib.server import FAKE_LLM, ROOT
from lib.speech import RATE, Utterance, noise


class Engines:
    """Whisper, the language model, Piper and Smart Turn, loaded as the server loads them.

    Call ``load`` to make one and ``aclose`` when done.
    """

    def __init__(self, args: argparse.Namespace, engines: dict[str, Any]) -> None:
        self.args = args
        self.asr, self.llm, self.tts, self.turn = (
            engines["asr"], engines["llm"], engines["tts"], engines["turn"])
        self.language = engines["language"]
        self.preroll = noise(0.3, np.random.default_rng(1))  # the server keeps 300 ms

    @classmethod
    async def load(cls, args: argparse.Namespace) -> Engines:
        """The engines for ``args`` (``fake_llm``, ``llm_threads``, ``language``)."""
        from openlive.config import Settings
        from openlive.engines.asr.factory import create_speech_recognizer
        from openlive.engines.llm.factory import create_language_model
        from openlive.engines.tts.factory import create_speech_synthesizer
        from openlive.engines.tts.voices import resolve_language
        from openlive.engines.turn.smart_turn import SmartTurn

        if args.fake_llm:
            sys.path.insert(0, str(ROOT))
        settings = Settings(llm=FAKE_LLM if args.fake_llm else "llamacpp", voice=True,
                            llm_threads=args.llm_threads)
        return cls(args, {
            "language": resolve_language(args.language).code if args.language else None,
            "asr": await asyncio.to_thread(create_speech_recognizer, "whisper"),
            "llm": await asyncio.to_thread(create_language_model, settings.llm,
                                           **settings.llm_options()),
            "tts": await asyncio.to_thread(create_speech_synthesizer, "piper"),
            "turn": await asyncio.to_thread(SmartTurn)})

    async def aclose(self) -> None:
        for engine in (self.asr, self.llm, self.tts, self.turn):
            await engine.aclose()

    async def measure(self, utterance: Utterance, prompt: str | None = None
                      ) -> dict[str, float]:
        """One run: stage -> seconds, and "sum" of the stages after the endpoint. The
        language model answers ``prompt`` if given, else what Whisper heard."""
        row: dict[str, float] = {}
        pcm = self.preroll + utterance.pcm
        start = time.perf_counter()
        await self.turn.predict(pcm[-8 * RATE * 2:])
        row["smart_turn"] = time.perf_counter() - start
        start = time.perf_counter()
        text = (await self.asr.transcribe(pcm, language=self.language)).text
        row["asr"] = time.perf_counter() - start
        piece = await self._first_piece(prompt or text or utterance.text, row)
        start = time.perf_counter()
        speech = self.tts.synthesize(piece or "Okay.", voice="Puck", language=self.language)
        async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], speech)) as audio:
            async for _chunk in audio:
                row["tts_first_chunk"] = time.perf_counter() - start
                break
        row["sum"] = row["asr"] + row["llm_first_piece"] + row["tts_first_chunk"]
        return row

    async def _first_piece(self, prompt: str, row: dict[str, float]) -> str:
        """The first speakable piece of the answer (TextChunker), timing its first token
        and the piece into ``row``."""
        from openlive.engines.llm.base import (
            ChatMessage,
            GenerationRequest,
            SamplingParams,
            TextDelta,
        )
        from openlive.session.chunker import TextChunker

        request = GenerationRequest(
            (ChatMessage("system", SYSTEM), ChatMessage("user", prompt)),
            SamplingParams(max_tokens=self.args.max_tokens))
        chunker = TextChunker()
        piece = ""
        start = time.perf_counter()
        stream = cast(AsyncGenerator[Any, None], self.llm.stream(request))
        async with contextlib.aclosing(stream) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    row.setdefault("llm_first_token", time.perf_counter() - start)
                    pieces = chunker.feed(event.text)
                    if pieces:
                        piece = pieces[0]
                        break
            else:
                piece = next(iter(chunker.flush()), "")
        row["llm_first_piece"] = time.perf_counter() - start
        return piece


async def lower_bound(questions: list[Utterance], args: argparse.Namespace
                      ) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Each engine of the critical path alone, on the same utterances, nothing else
    running: the runs (see ``Engines.measure``) and the cores used during them."""
    engines = await Engines.load(args)
    rows: list[dict[str, float]] = []
    await await_quiet(args.quiet_wait)
    try:
        deadline = time.perf_counter() + args.lower_bound_budget
        # warm-up (first calls load and allocate), with a prompt none of the runs repeats:
        # only the system instruction's prefix is cached, as in a served first turn
        await engines.measure(questions[0], prompt="Say hello.")
        window = CpuWindow(None)
        for _ in range(args.lower_bound_reps):
            for utterance in questions:
                if time.perf_counter() > deadline and rows:
                    break  # a loaded machine makes each run slow: keep the run bounded
                rows.append(await engines.measure(utterance))
        cpu = window.cores()
    finally:
        await engines.aclose()
    return rows, cpu
