"""A Live client that speaks the wire protocol directly over ``websockets``, as a live
microphone does: it streams audio in real time, low-level noise unless it is saying
something, and sorts what the server sends into the turns it expects.

The times it records (``time.perf_counter``) are send and arrival times on this side of
the socket: a turn's end of speech is the send time of the chunk holding its last speech
sample, its first audio the arrival of the answer's first audio chunk.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.speech import RATE

MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
SYSTEM = "You are a voice assistant. Answer in one short sentence."


def audio_message(pcm: bytes) -> str:
    """A ``realtimeInput`` message carrying 16 kHz PCM."""
    return json.dumps({"realtimeInput": {"audio": {
        "data": base64.b64encode(pcm).decode(), "mimeType": f"audio/pcm;rate={RATE}"}}})


def chunk_messages(pcm: bytes, chunk_bytes: int, pad: bytes) -> list[str]:
    """The messages of one utterance; the last chunk is padded with noise to full size."""
    out = []
    for i in range(0, len(pcm), chunk_bytes):
        piece = pcm[i:i + chunk_bytes]
        out.append(audio_message(piece + pad[:chunk_bytes - len(piece)]))
    return out


@dataclass
class Turn:
    """What the client saw of one user turn and the answer to it."""

    utterance: str
    onset: float | None = None  # send time of the first speech chunk
    speech_end: float | None = None  # send time of the chunk with the last speech sample
    inputs: list[tuple[float, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    first_audio: float | None = None
    first_audio_wall: float | None = None  # time.time() of the same moment
    early_audio: int = 0  # audio messages before the end of speech
    audio_bytes: int = 0
    audio_log: list[tuple[float, int]] = field(default_factory=list)  # (arrival, bytes)
    interrupted: float | None = None
    generation_complete: float | None = None
    turn_complete: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    heard_audio: asyncio.Event = field(default_factory=asyncio.Event)
    got_interrupted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def e2e(self) -> float | None:
        if self.first_audio is None or self.speech_end is None:
            return None
        return self.first_audio - self.speech_end

    @property
    def heard(self) -> str:
        return " ".join(text for _, text in self.inputs)

    @property
    def split(self) -> bool:
        """The server heard this utterance as more than one turn (ended it too early)."""
        return len(self.inputs) > 1


@dataclass
class _Speech:
    messages: list[str]
    turn: Turn | None
    index: int = 0


def setup_message(*, silence_ms: int | None, language: str | None, max_tokens: int) -> str:
    """The ``setup`` message of a voice session with both transcriptions on;
    ``silence_ms`` None leaves the end of turn to the server's default."""
    detection: dict[str, Any] = {}
    if silence_ms is not None:
        detection["silenceDurationMs"] = silence_ms
    generation: dict[str, Any] = {"responseModalities": ["AUDIO"], "maxOutputTokens": max_tokens}
    if language:
        generation["speechConfig"] = {"languageCode": language}
    setup: dict[str, Any] = {
        "model": MODEL,
        "generationConfig": generation,
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
    }
    if detection:
        setup["realtimeInputConfig"] = {"automaticActivityDetection": detection}
    return json.dumps({"setup": setup})


class LiveClient:
    """One Live session over raw websockets with a live microphone: it always sends
    ``chunk_s`` of audio every ``chunk_s`` seconds, noise unless it is saying something."""

    def __init__(self, url: str, chunk_ms: int, silence: list[str], deflate: bool) -> None:
        self.url = url
        self.phase = random.random() * chunk_ms / 1000  # real microphones are not in step
        self.chunk_s = chunk_ms / 1000
        self.silence = silence
        self.deflate = deflate
        self.session_id = ""
        self.events: list[tuple[float, str, str]] = []  # (time, kind, text): transcripts etc.
        self.lateness: list[float] = []  # how late each chunk went out vs. its schedule
        self.closed: str | None = None
        self._speech: deque[_Speech] = deque()
        self._turns: deque[Turn] = deque()  # the current turn first, then those expected
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, setup: str, stream: bool = True) -> None:
        """Connect and send ``setup``; then receive, and with ``stream`` send the
        microphone, in background tasks until ``close``."""
        from websockets.asyncio.client import connect

        self._ws = await connect(self.url, max_size=None, open_timeout=60, ping_interval=None,
                                 compression="deflate" if self.deflate else None)
        await self._ws.send(setup)
        reply = json.loads(await asyncio.wait_for(self._ws.recv(), 60))
        if "setupComplete" not in reply:
            raise RuntimeError(f"setup refused: {reply}")
        self.session_id = reply["setupComplete"].get("sessionId", "")
        self._tasks.append(asyncio.create_task(self._receive()))
        if stream:
            self._tasks.append(asyncio.create_task(self._send()))

    def expect(self, turn: Turn) -> None:
        """Messages go to ``turn`` once the turns before it are complete."""
        self._turns.append(turn)

    def say(self, messages: list[str], turn: Turn | None) -> None:
        self._speech.append(_Speech(messages, turn))

    def drop(self, turn: Turn) -> None:
        """Stop routing messages to ``turn`` (it timed out)."""
        with contextlib.suppress(ValueError):
            self._turns.remove(turn)

    async def close(self) -> None:
        await close_connection(self._tasks, self._ws)

    async def _send(self) -> None:
        k = 0
        await asyncio.sleep(self.phase)
        due = time.perf_counter()
        while True:
            speech = self._speech[0] if self._speech else None
            message = (speech.messages[speech.index] if speech is not None
                       else self.silence[k % len(self.silence)])
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._ws.send(message)
            except Exception as exc:  # noqa: BLE001  (the server closed: stop sending)
                self.closed = self.closed or f"send failed: {exc!r}"
                return
            now = time.perf_counter()
            self.lateness.append(now - due)
            if speech is not None:
                turn = speech.turn
                if speech.index == 0 and turn is not None:
                    turn.onset = now
                speech.index += 1
                if speech.index == len(speech.messages):
                    if turn is not None:
                        turn.speech_end = now
                    self._speech.popleft()
            k += 1
            due += self.chunk_s
            if now - due > 1.0:  # hopelessly behind (overloaded client): resynchronize
                due = now

    async def _receive(self) -> None:
        try:
            async for frame in self._ws:
                now = time.perf_counter()
                message = json.loads(frame)
                content = message.get("serverContent")
                if content is not None:
                    self._content(now, content)
        except Exception as exc:  # noqa: BLE001  (a dropped connection ends the session)
            self.closed = f"receive failed: {exc!r}"
        else:
            code = getattr(self._ws.close_rcvd, "code", None)
            reason = getattr(self._ws.close_rcvd, "reason", "")
            self.closed = f"closed {code} {reason}"
        for turn in self._turns:  # nobody waits forever
            turn.done.set()

    def _content(self, now: float, content: dict[str, Any]) -> None:
        turn = self._turns[0] if self._turns else None
        if "inputTranscription" in content:
            text = content["inputTranscription"].get("text", "")
            self.events.append((now, "input", text))
            if turn is not None:
                turn.inputs.append((now, text))
        if "outputTranscription" in content and turn is not None:
            turn.outputs.append(content["outputTranscription"].get("text", ""))
        for part in (content.get("modelTurn") or {}).get("parts", []):
            data = (part.get("inlineData") or {}).get("data")
            if data and turn is not None:
                if turn.speech_end is None:
                    turn.early_audio += 1
                    continue
                if turn.first_audio is None:
                    turn.first_audio = now
                    turn.first_audio_wall = time.time()
                    turn.heard_audio.set()
                size = len(data) * 3 // 4
                turn.audio_bytes += size
                turn.audio_log.append((now, size))
        answering = turn is not None and turn.speech_end is not None
        if content.get("interrupted"):
            self.events.append((now, "interrupted", ""))
            if turn is not None and answering:
                turn.interrupted = now
                turn.got_interrupted.set()
        if content.get("generationComplete"):
            self.events.append((now, "generationComplete", ""))
            if turn is not None and answering:
                turn.generation_complete = now
        if content.get("turnComplete"):
            self.events.append((now, "turnComplete", ""))
            # The answer to this turn is over once it completed or was interrupted after the
            # user finished; an earlier turnComplete ends a reply to a fragment of it.
            if turn is not None and (turn.generation_complete or turn.interrupted):
                turn.turn_complete = now
                turn.done.set()
                self._turns.popleft()


async def close_connection(tasks: Sequence[asyncio.Task[Any]], ws: Any) -> None:
    """Stop a client's tasks, then close its socket (giving up after 5 s)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if ws is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)


async def wait(awaitable: Awaitable[Any], timeout: float) -> bool:
    """Await with a timeout: True if it finished in time."""
    try:
        await asyncio.wait_for(awaitable, timeout)
        return True
    except TimeoutError:
        return False
