"""Voice activity scoring for every session of the process, off the event loop.

Theory of operation. Each session opens a stream (:meth:`VadBatcher.open`) and submits
the 32 ms frames of the audio it receives. One worker thread owns the shared Silero
model: whenever it wakes it takes the oldest waiting frame of every stream that has one
and scores them all in one ONNX Runtime call (which releases the GIL, so the loop keeps
running on the other core), then does it again until no frame is left, then sleeps.
A stream's frames are scored one call after another because each one carries the
stream's recurrent state into the next; streams never wait for each other beyond the
call in progress. There is no batching window: while the worker is busy, frames pile
up and the next call takes them all, so the batches grow with the load (in
bench/vad_batching.py, 3.5 frames per call at 100 sessions, 7 at 150) and an idle
server adds no delay.
Waiting 2–5 ms for more streams before each drain was measured and rejected: it saved
under 0.1 core at 100 sessions and doubled the delay per frame.

Each call's scores go back to the event loop of the session that submitted the frames
in one ``call_soon_threadsafe`` per loop, and reach the stream's callback in the order
the frames were submitted. A closed stream's pending frames are dropped, and scores
already on their way to it are discarded on the loop, so a session that has ended
never hears from the VAD again.

Scheduling. The other engines take turns in the worker slots of
:mod:`openlive.engines.scheduler`; the VAD does not queue there. Its worker thread is a
lane of its own, in effect the highest priority with a reserved slot: a call costs
0.3–6 ms and barge-in is decided on its scores within a frame, so it must never wait
behind a 300 ms decode or a generation that holds its slot for seconds. Fairness between
sessions is the batching itself: one frame of every waiting stream per call, and the
streams a full call left out go first in the next.

:class:`InlineVad` has the same interface but scores at once on the caller's thread
(the old path, kept as the benchmark's baseline and for tools that run without a loop).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from openlive.engines.vad.silero import SharedSileroModel, SileroStream

# CPU per call on the 2-core box: 0.27 ms for 1 frame, 1.5 ms for 16, 5.6 ms for 64; the
# cost per frame hardly falls past 16, so larger calls only make every stream wait longer.
MAX_BATCH = 64
_JOIN_SECONDS = 5.0

OnScore = Callable[[float], None]
OnFailure = Callable[[Exception], None]

log = logging.getLogger("openlive.vad")


class VadStream(Protocol):
    """One session's frames in, one speech probability per frame back, in order."""

    def submit(self, frames: Sequence[bytes]) -> None:
        """Score these 1024-byte frames (after those submitted before)."""
        ...

    def close(self) -> None:
        """Drop what is still waiting; no score reaches the callback after this."""
        ...


class VadScorer(Protocol):
    """What a session needs of the VAD: a stream each."""

    def open(self, on_score: OnScore, on_failure: OnFailure) -> VadStream:
        """A stream whose scores go to ``on_score`` (the model failing: ``on_failure``,
        once, and nothing more). Call on the event loop that should receive them."""
        ...

    def close(self) -> None:
        """Stop scoring for good (the server is shutting down)."""
        ...


class _BatchedStream:
    """A session's stream in a :class:`VadBatcher`. Its queue is guarded by the
    batcher's lock; ``open`` and the callbacks belong to the session's event loop."""

    __slots__ = ("_batcher", "frames", "loop", "on_failure", "on_score", "open", "scorer")

    def __init__(self, batcher: VadBatcher, scorer: SileroStream,
                 loop: asyncio.AbstractEventLoop, on_score: OnScore,
                 on_failure: OnFailure) -> None:
        self._batcher = batcher
        self.scorer = scorer
        self.loop = loop
        self.on_score = on_score
        self.on_failure = on_failure
        self.frames: deque[bytes] = deque()
        self.open = True

    def submit(self, frames: Sequence[bytes]) -> None:
        self._batcher._submit(self, frames)

    def close(self) -> None:
        self.open = False
        self._batcher._forget(self)


_Result = tuple[_BatchedStream, float | Exception]  # a frame's score, or why there is none


class VadBatcher:
    """One worker thread scoring the frames of every session's stream in batched calls.

    Create one per process, with the shared model, at start-up; :meth:`close` it when
    the server stops. Thread-safe: streams may be opened and fed from any event loop.
    """

    def __init__(self, model: SharedSileroModel, max_batch: int = MAX_BATCH) -> None:
        self._model = model
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # streams with frames waiting, oldest first (a dict as an ordered set)
        self._ready: dict[_BatchedStream, None] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="openlive-vad", daemon=True)
        self._thread.start()

    def open(self, on_score: OnScore, on_failure: OnFailure) -> VadStream:
        """A new stream for one session; call on the session's event loop."""
        if self._stopping:
            raise RuntimeError("the VAD batcher is closed")
        return _BatchedStream(self, self._model.stream(), asyncio.get_running_loop(),
                              on_score, on_failure)

    def close(self) -> None:
        """Stop the worker after the call in progress; waiting frames are dropped."""
        with self._wake:
            self._stopping = True
            self._ready.clear()
            self._wake.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(_JOIN_SECONDS)

    @property
    def running(self) -> bool:
        """The worker thread is alive (False once :meth:`close` has returned)."""
        return self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Frames waiting for the worker, over all streams (not the call in progress)."""
        with self._lock:
            return sum(len(stream.frames) for stream in self._ready)

    # -- the session side (event loops) ----------------------------------------------------

    def _submit(self, stream: _BatchedStream, frames: Sequence[bytes]) -> None:
        if not frames or not stream.open:
            return
        with self._wake:
            if self._stopping:
                raise RuntimeError("the VAD batcher is closed")
            stream.frames.extend(frames)
            if stream not in self._ready:
                self._ready[stream] = None
                self._wake.notify()

    def _forget(self, stream: _BatchedStream) -> None:
        with self._lock:
            stream.frames.clear()
            self._ready.pop(stream, None)

    # -- the worker thread ------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._ready and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                streams, frames = self._take()
            self._score(streams, frames)

    def _take(self) -> tuple[list[_BatchedStream], list[bytes]]:
        """The oldest frame of up to ``max_batch`` streams (lock held)."""
        streams = list(itertools.islice(self._ready, self._max_batch))
        frames = []
        for stream in streams:
            frames.append(stream.frames.popleft())
            del self._ready[stream]
            if stream.frames:
                # to the back: over max_batch, the streams left out go first next time
                self._ready[stream] = None
        return streams, frames

    def _score(self, streams: list[_BatchedStream], frames: list[bytes]) -> None:
        try:
            scores = self._model.score_batch([s.scorer for s in streams], frames)
        except Exception as exc:  # reported to the sessions; the worker goes on
            log.exception("VAD scoring failed for %d streams", len(streams))
            for stream in streams:
                self._forget(stream)
            self._post([(s, exc) for s in streams])
            return
        self._post(list(zip(streams, scores, strict=True)))

    def _post(self, results: list[_Result]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
        for stream, result in results:
            by_loop.setdefault(stream.loop, []).append((stream, result))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, loop, items)
            except RuntimeError:  # the loop is closed: its sessions are gone
                for stream, _ in items:
                    self._forget(stream)


def _deliver(loop: asyncio.AbstractEventLoop, items: list[_Result]) -> None:
    """On the sessions' loop: hand each score to its stream, unless it has closed."""
    for stream, result in items:
        if not stream.open:
            continue
        try:
            if isinstance(result, Exception):
                stream.close()
                stream.on_failure(result)
            else:
                stream.on_score(result)
        except Exception as exc:  # noqa: BLE001 - one session's bug must not starve the others
            loop.call_exception_handler({"message": "VAD score callback failed",
                                         "exception": exc})


class _InlineStream:
    __slots__ = ("_on_score", "_open", "_scorer")

    def __init__(self, scorer: SileroStream, on_score: OnScore) -> None:
        self._scorer = scorer
        self._on_score = on_score
        self._open = True

    def submit(self, frames: Sequence[bytes]) -> None:
        for frame in frames:
            if self._open:  # the callback may close the stream
                self._on_score(self._scorer.score(frame))

    def close(self) -> None:
        self._open = False


class InlineVad:
    """Scores each frame as it is submitted, on the caller's thread, before ``submit``
    returns; a model error propagates to the caller. On a server this is the old
    in-loop path (``--no-vad-batching``), the baseline the batcher is measured against."""

    def __init__(self, model: SharedSileroModel) -> None:
        self._model = model

    def open(self, on_score: OnScore, on_failure: OnFailure) -> VadStream:
        """A new stream; ``on_failure`` is unused (errors raise from ``submit``)."""
        return _InlineStream(self._model.stream(), on_score)

    def close(self) -> None:
        """Nothing to stop."""
