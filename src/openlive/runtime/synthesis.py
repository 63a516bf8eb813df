"""Speech synthesis for one reply: pieces spoken strictly in order, one at a time.

The session sends ``Synthesize`` for each piece as the model writes it and
``EndSynthesis`` after the last; this queue speaks them in order on the shared
synthesizer and reports each chunk, then ``SynthesisDrained``. Cancelling the queue's
task (barge-in) stops the current piece within one chunk and drops the rest. A piece
whose synthesis fails retryably before its first chunk is tried again (``retry``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable

from openlive import metrics
from openlive.engines.scheduler import Priority, set_requester
from openlive.engines.tts.base import SpeechSynthesizer
from openlive.errors import EngineError
from openlive.runtime import retry
from openlive.session.actions import Synthesize
from openlive.session.events import (
    Event,
    SpeechSynthesized,
    SynthesisDrained,
    SynthesisFailed,
)

log = logging.getLogger("openlive.synthesis")


class SynthesisQueue:
    """The ordered pieces of one generation and the task that speaks them."""

    def __init__(self, generation_id: int, tts: SpeechSynthesizer,
                 feed: Callable[[Event], None], *, requester: str = "") -> None:
        self._requester = requester  # the session, for fair turns on the synthesizer
        self._generation_id = generation_id
        self._tts = tts
        self._feed = feed
        self._pieces: asyncio.Queue[Synthesize | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name="openlive-synthesis")

    def put(self, piece: Synthesize) -> None:
        self._pieces.put_nowait(piece)

    def end(self) -> None:
        self._pieces.put_nowait(None)

    def cancel(self) -> None:
        self.task.cancel()

    async def _run(self) -> None:
        gid = self._generation_id
        set_requester(self._requester)
        try:
            while (piece := await self._pieces.get()) is not None:
                async for pcm in retry.stream(functools.partial(self._speak, piece),
                                              f"session {self._requester}: synthesis",
                                              engine="tts"):
                    self._feed(SpeechSynthesized(gid, piece.piece_id, pcm))
            self._feed(SynthesisDrained(gid))
        except EngineError as err:
            log.error("synthesis failed: %s", err)
            metrics.ENGINE_ERRORS.labels(engine="tts").inc()
            self._feed(SynthesisFailed(gid, "speech synthesis failed."))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("synthesis crashed")
            metrics.ENGINE_ERRORS.labels(engine="tts").inc()
            self._feed(SynthesisFailed(gid, "speech synthesis failed."))

    def _speak(self, piece: Synthesize) -> AsyncIterator[bytes]:
        # The reply's speech: its user waits. An answer ahead's speech too: nothing tells
        # the driver when the turn ends at its pause and the answer is adopted, and from
        # then on its speech is what the user waits for.
        if piece.delivery is None:  # as a synthesizer that knows no delivery takes it
            return self._tts.synthesize(piece.text, voice=piece.voice,
                                        language=piece.language, priority=Priority.WAITING)
        return self._tts.synthesize(piece.text, voice=piece.voice, language=piece.language,
                                    priority=Priority.WAITING, delivery=piece.delivery)
