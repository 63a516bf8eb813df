"""One ``openlive talk`` conversation: connect, send speech or text, print and play or
save what comes back, and time each turn.

Latency is measured here, by the client, as a user perceives it: from the end of their
speech (the last loud 20 ms chunk sent) or from sending a typed message, to the first
audio (or text) of the answer received; the transcript's arrival is the stage between.
The server's own stages are in its log and metrics (and the playground shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from openlive.talk import wire
from openlive.talk.audio import CHUNK_SECONDS, chunks, is_loud
from openlive.talk.wire import ServerEvents, SessionOptions, TalkError, Target

SETUP_TIMEOUT = 30.0
TRAILING_SILENCE = 1.0  # seconds of silence after a file, before talk may stop listening


class Sink(Protocol):
    """Where answer audio goes: the speaker or a WAV file."""

    def write(self, pcm: bytes) -> None: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Turn:
    """The timing and words of one user turn and its answer."""

    speech_end: float | None = None  # monotonic: last loud chunk sent, or text sent
    typed: bool = False
    transcript_at: float | None = None
    first_answer_at: float | None = None
    heard: str = ""
    answer_started: bool = False


@dataclass
class Conversation:
    """The receiving side's state: the current turn and what has been printed."""

    out: TextIO
    sink: Sink | None
    clock: Callable[[], float] = time.monotonic
    turn: Turn = field(default_factory=Turn)
    last_loud: float | None = None
    completed: int = 0
    in_progress: bool = False
    session_id: str | None = None
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered turn

    def on_events(self, events: ServerEvents) -> None:
        now = self.clock()
        if events.session_id:
            self.session_id = events.session_id
        if events.interim_transcript and sys.stderr.isatty():
            sys.stderr.write(f"\r  … {events.interim_transcript[-70:]:<72}")
            sys.stderr.flush()
        if events.input_transcript:
            self.in_progress = True
            if self.turn.transcript_at is None:
                self.turn.transcript_at = now
                self.turn.speech_end = self.turn.speech_end or self.last_loud
            self.turn.heard += events.input_transcript
        answer = events.text + events.output_transcript
        if events.audio or answer:
            self._answer_started(now)
        for pcm in events.audio:
            if self.sink is not None:
                self.sink.write(pcm)
        if answer:
            self.out.write(answer)
            self.out.flush()
        for call in events.function_calls:
            self.out.write(f"\n[the model called {call.get('name')}({call.get('args')}): "
                           "talk declares no tools]\n")
        if events.interrupted:
            if self.sink is not None:
                self.sink.interrupt()
            self.out.write(" [interrupted]")
        if events.go_away:
            self.out.write(f"\n[the server will close the connection in {events.go_away}]\n")
        if events.turn_complete:
            self._turn_complete()

    def _answer_started(self, now: float) -> None:
        turn = self.turn
        if turn.answer_started:
            return
        turn.answer_started = True
        self.in_progress = True
        turn.first_answer_at = now
        if turn.speech_end is None:
            turn.speech_end = self.last_loud
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 76 + "\r")
        if turn.heard.strip():
            self.out.write(f"you: {turn.heard.strip()}\n")
        self.out.write("model: ")

    def _turn_complete(self) -> None:
        turn, self.turn = self.turn, Turn()
        self.in_progress = False
        self.completed += 1
        if not turn.answer_started:
            if turn.heard.strip():
                self.out.write(f"you: {turn.heard.strip()}\n(no answer)\n")
            return
        self.out.write("\n")
        parts = []
        if turn.speech_end is not None and turn.first_answer_at is not None:
            start = "sent" if turn.typed else "end of speech"
            if turn.transcript_at is not None and not turn.typed:
                parts.append(f"{start} → transcript {_ms(turn.transcript_at - turn.speech_end)}")
                start = ""
            total = turn.first_answer_at - turn.speech_end
            self.latencies.append(total)
            what = "first text" if self.sink is None else "first audio"
            parts.append(f"{start} → {what} {_ms(total)}".strip())
        if parts:
            self.out.write(f"  latency (measured here): {', '.join(parts)}\n")
        self.out.flush()

    def sent(self, pcm: bytes) -> None:
        if is_loud(pcm):
            self.last_loud = self.clock()

    def typed(self, text: str) -> None:
        self.turn = Turn(speech_end=self.clock(), typed=True)
        self.in_progress = True


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def ssl_context() -> ssl.SSLContext:
    """The system's trust store, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set (OpenSSL
    reads both), as the SDKs do."""
    return ssl.create_default_context()


async def open_session(target: Target, options: SessionOptions,
                       conversation: Conversation) -> ClientConnection:
    """Connect and send the setup; returns once ``setupComplete`` has come."""
    secure = target.url.startswith("wss:")
    try:
        ws = await connect(target.url, additional_headers=target.headers,
                           ssl=ssl_context() if secure else None, max_size=None,
                           open_timeout=SETUP_TIMEOUT)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
        raise TalkError(f"cannot connect to {target.redacted()}: {exc}") from None
    await ws.send(wire.setup_frame(options))
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            while True:
                events = wire.read_server_frame(await ws.recv())
                conversation.on_events(events)
                if events.setup_complete:
                    return ws
    except ConnectionClosed as exc:
        raise TalkError(_closed(exc)) from None
    except TimeoutError:
        await ws.close()
        raise TalkError(f"no setupComplete within {SETUP_TIMEOUT:.0f} s") from None


def _closed(exc: ConnectionClosed) -> str:
    frame = exc.rcvd
    if frame is None:
        return "the connection was lost"
    return f"the server closed the session: {frame.code} {frame.reason}".rstrip()


async def _receive(ws: ClientConnection, conversation: Conversation) -> None:
    async for frame in ws:
        conversation.on_events(wire.read_server_frame(frame))


async def _send_file(ws: ClientConnection, pcm: bytes, conversation: Conversation) -> None:
    """The recording at real-time pace, then silence (as a microphone would go on), until
    its last turn has been answered."""
    silence = b"\0\0" * int(wire.INPUT_RATE * CHUNK_SECONDS)
    start = time.monotonic()
    sent = 0
    pieces = chunks(pcm)
    trailing = 0
    while True:
        if sent < len(pieces):
            piece = pieces[sent]
        else:
            piece = silence
            trailing += 1
            quiet = trailing * CHUNK_SECONDS >= TRAILING_SILENCE
            if quiet and conversation.completed and not conversation.in_progress:
                return
        await ws.send(wire.audio_frame(piece))
        conversation.sent(piece)
        sent += 1
        # pace by the clock, not by sleeps, so that slow sends do not stretch the speech
        await asyncio.sleep(max(0.0, start + sent * CHUNK_SECONDS - time.monotonic()))


async def _send_microphone(ws: ClientConnection, conversation: Conversation) -> None:
    from openlive.talk.audio import Microphone

    microphone = Microphone(asyncio.get_running_loop())
    print("listening: speak (Ctrl-C to stop)", file=sys.stderr)
    try:
        while True:
            piece = await microphone.read()
            await ws.send(wire.audio_frame(piece))
            conversation.sent(piece)
    finally:
        microphone.close()


async def _send_lines(ws: ClientConnection, conversation: Conversation,
                      lines: TextIO) -> None:
    """Each line typed (or piped) is a turn, sent once the previous answer is complete."""
    loop = asyncio.get_running_loop()
    while True:
        while conversation.in_progress:
            await asyncio.sleep(0.02)
        line = await loop.run_in_executor(None, lines.readline)
        if not line:
            return
        text = line.strip()
        if text:
            if not lines.isatty():  # piped: show what was said, as a transcript would
                conversation.out.write(f"you: {text}\n")
            conversation.typed(text)
            await ws.send(wire.text_turn_frame(text))


@dataclass(frozen=True, slots=True)
class Source:
    """What the user says: a recording (16 kHz PCM), the microphone, or typed lines."""

    pcm: bytes | None = None
    lines: TextIO | None = None


async def talk(target: Target, options: SessionOptions, source: Source, sink: Sink | None,
               *, out: TextIO = sys.stdout, timeout: float | None = None) -> Conversation:
    """Run one conversation to its end: the file answered, the lines answered, or Ctrl-C.

    Raises TalkError when the endpoint cannot be reached or closes the session with an
    error."""
    conversation = Conversation(out=out, sink=sink)
    ws = await open_session(target, options, conversation)
    print(f"connected to {target.redacted()} ({options.model}, {options.modality})",
          file=sys.stderr)
    if source.pcm is not None:
        sender = _send_file(ws, source.pcm, conversation)
    elif source.lines is not None:
        sender = _send_lines(ws, conversation, source.lines)
    else:
        sender = _send_microphone(ws, conversation)
    receiver = asyncio.create_task(_receive(ws, conversation))
    sending = asyncio.create_task(sender)
    try:
        async with asyncio.timeout(timeout):
            done, _ = await asyncio.wait({receiver, sending},
                                         return_when=asyncio.FIRST_COMPLETED)
        if sending in done:
            sending.result()  # raises what stopped it (a TalkError from the microphone)
            await ws.close()  # all said and answered
        else:
            receiver.result()  # the server ended it: raises ConnectionClosed if abnormal
    except ConnectionClosed as exc:
        raise TalkError(_closed(exc)) from None
    except TimeoutError:
        raise TalkError(f"the conversation did not end within {timeout:.0f} s") from None
    finally:
        for task in (receiver, sending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task
        await ws.close()
    return conversation
