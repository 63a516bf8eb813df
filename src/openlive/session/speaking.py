"""The speaking half of a session: one model turn's output, as text or as paced audio.

Pure. In TEXT sessions each piece of generated text becomes a ``modelTurn`` part at
once. In AUDIO sessions generated text goes through the chunker into speakable pieces,
each piece is synthesized (``Synthesize``) and its audio comes back
(``SpeechSynthesized``); the audio is then *released* to the client paced to real time
with a small lead (``LEAD_SECONDS``), so that when the user barges in the server stops
within one chunk and knows exactly which words were sent. ``outputTranscription``
goes out with the audio of each piece, its words spread over the piece's audio at an
estimated speaking rate, in step with what the client hears.

Offsets (``outputAudioTranscription.wordTimestamp``). Each ``outputTranscription``
then says which stretch of the session's output audio it goes with (seconds of output
audio sent since the session began, :class:`OutputClock`): from where the previous one
of the piece ended (or the piece's audio began) to the end of the audio sent with it.
The first words of each synthesized piece (a clause or sentence) start exactly where
its audio does; within a piece the words are placed by the speaking-rate estimate.
When the estimate ran slow, the words left at a piece's end go with its last chunk of
audio (overlapping the stretch before: the only overlap). No ``words``: neither Piper
nor Kokoro says when each word is spoken (Piper can give phoneme durations from a
patched model, which would still need mapping to words).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from openlive.audio.delivery import Delivery
from openlive.protocol.server import ServerContent, ServerMessage, Transcription, duration
from openlive.protocol.types import Content, Part
from openlive.session.actions import (
    Action,
    CancelGeneration,
    CancelSynthesis,
    EndSynthesis,
    PlayAudio,
    Send,
    Synthesize,
    WakeAt,
)
from openlive.session.chunker import TextChunker

OUTPUT_BYTES_PER_SECOND = 24_000 * 2
LEAD_SECONDS = 0.5  # how far ahead of real time audio may be sent
CHARS_PER_SECOND = 14.0  # speaking rate used to spread a piece's words over its audio


@dataclass(frozen=True, slots=True)
class Voicing:
    """How an AUDIO session speaks."""

    voice: str
    language: str | None
    transcribe_output: bool
    delivery: Delivery | None = None  # pace, pitch, liveliness (affective dialog)
    # outputTranscription pieces carry their offsets in the output audio (wordTimestamp)
    time_output: bool = False


@dataclass(slots=True)
class OutputClock:
    """Seconds of the session's output audio sent so far, over all its replies: what
    output transcription offsets count from. One per session, shared by its replies
    (one sends audio at a time)."""

    seconds: float = 0.0


@dataclass(slots=True)
class Reply:
    """One model turn's output. ``voicing`` None means a TEXT session."""

    generation_id: int
    voicing: Voicing | None
    chunker: TextChunker = field(default_factory=TextChunker)
    text_sent: list[str] = field(default_factory=list)  # text the client has (TEXT mode)
    pieces: dict[int, str] = field(default_factory=dict)  # piece id -> its text
    spoken: list[int] = field(default_factory=list)  # pieces whose audio went out
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)  # audio not yet sent
    llm_done: bool = False
    synthesis_done: bool = False
    playout_start: float | None = None
    audio_seconds_sent: float = 0.0
    paused_at: float | None = None  # barge-in pending: hold the audio
    words_out: list[str] = field(default_factory=list)  # words transcribed to the client
    # the turn said words before this reply (it goes on after function calls): the
    # transcription continues them, after a space
    follows_words: bool = False
    clock: OutputClock = field(default_factory=OutputClock)  # the session's output audio
    _piece: int | None = None  # the piece whose audio is going out
    _words_from: float = 0.0  # where the next transcription's stretch of audio begins
    _chunk_from: float = 0.0  # where the audio chunk sent last began
    _piece_seconds: float = 0.0  # of its audio sent
    _piece_words_out: int = 0  # of its words transcribed

    # -- text from the model ----------------------------------------------------------------

    def on_text(self, text: str) -> list[Action]:
        """A delta from the language model."""
        if self.voicing is None:
            self.text_sent.append(text)
            turn = Content(role="model", parts=[Part(text=text)])
            return [Send(ServerMessage(server_content=ServerContent(model_turn=turn)))]
        return self._synthesize(self.chunker.feed(text))

    def on_llm_finished(self) -> list[Action]:
        """The language model is done; speak what the chunker still holds."""
        self.llm_done = True
        if self.voicing is None:
            return []
        return [*self._synthesize(self.chunker.flush()), EndSynthesis(self.generation_id)]

    def _synthesize(self, pieces: list[str]) -> list[Action]:
        assert self.voicing is not None
        actions: list[Action] = []
        for text in pieces:
            piece_id = len(self.pieces)
            self.pieces[piece_id] = text
            actions.append(Synthesize(self.generation_id, piece_id, text, self.voicing.voice,
                                      self.voicing.language, self.voicing.delivery))
        return actions

    # -- audio from the synthesizer ---------------------------------------------------------

    def on_audio(self, piece_id: int, pcm: bytes, now: float) -> list[Action]:
        self.queue.append((piece_id, pcm))
        return self.release(now)

    def on_synthesis_drained(self) -> None:
        self.synthesis_done = True

    def pause(self, now: float) -> None:
        """Stop sending audio (a barge-in is being judged)."""
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> list[Action]:
        """Send on from where :meth:`pause` stopped, shifted by the pause."""
        if self.paused_at is None:
            return []
        if self.playout_start is not None:
            self.playout_start += now - self.paused_at
        self.paused_at = None
        return self.release(now)

    def release(self, now: float) -> list[Action]:
        """Send the queued audio that is due by ``now``; ask to be woken for the rest."""
        actions: list[Action] = []
        if self.paused_at is not None:
            return actions
        if self.playout_start is None and self.queue:
            self.playout_start = now
        while self.queue:
            assert self.playout_start is not None
            due = self.playout_start + self.audio_seconds_sent - LEAD_SECONDS
            if due > now:
                actions.append(WakeAt(due))
                break
            piece_id, pcm = self.queue.popleft()
            actions += self._send_audio(piece_id, pcm)
        return actions

    def _send_audio(self, piece_id: int, pcm: bytes) -> list[Action]:
        actions: list[Action] = []
        if piece_id != self._piece:
            actions += self.flush_words()  # the previous piece has been spoken whole
            self.spoken.append(piece_id)
            self._piece, self._piece_seconds, self._piece_words_out = piece_id, 0.0, 0
            self._words_from = self.clock.seconds
        seconds = len(pcm) / OUTPUT_BYTES_PER_SECOND
        self.audio_seconds_sent += seconds
        self._chunk_from = self.clock.seconds
        self.clock.seconds += seconds
        self._piece_seconds += seconds
        words = self.pieces[piece_id].split()
        estimate = max(0.3, len(self.pieces[piece_id]) / CHARS_PER_SECOND)
        due = math.ceil(len(words) * min(1.0, self._piece_seconds / estimate))
        actions += self._transcribe_words(words[self._piece_words_out:due])
        self._piece_words_out = max(self._piece_words_out, due)
        actions.append(PlayAudio(pcm))
        return actions

    def flush_words(self) -> list[Action]:
        """Transcribe the rest of the current piece (its audio is all out)."""
        if self._piece is None:
            return []
        words = self.pieces[self._piece].split()
        rest, self._piece_words_out = words[self._piece_words_out:], len(words)
        return self._transcribe_words(rest)

    def _transcribe_words(self, words: list[str]) -> list[Action]:
        """``outputTranscription`` for words whose audio is going out now."""
        assert self.voicing is not None
        if not words:
            return []
        text = " ".join(words)
        if self.words_out or self.follows_words:
            text = " " + text
        self.words_out += words
        if not self.voicing.transcribe_output:
            return []
        transcription = Transcription(text=text)
        if self.voicing.time_output:  # the audio since the previous transcription's
            start = self._words_from
            if start >= self.clock.seconds:  # all claimed: the rest of a piece, at its end
                start = self._chunk_from
            transcription = Transcription(text=text, start_offset=duration(start),
                                          end_offset=duration(self.clock.seconds))
            self._words_from = self.clock.seconds
        return [Send(ServerMessage(server_content=ServerContent(
            output_transcription=transcription)))]

    def cancel(self) -> list[Action]:
        """Stop the engines working on this reply (it was interrupted or dropped)."""
        actions: list[Action] = [CancelGeneration(self.generation_id)]
        if self.voicing is not None:
            actions.append(CancelSynthesis(self.generation_id))
        return actions

    # -- state ------------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """Everything generated has been sent."""
        if self.voicing is None:
            return self.llm_done
        return self.llm_done and self.synthesis_done and not self.queue

    def spoken_text(self) -> str:
        """Everything this reply has said or is about to say (for the echo check)."""
        return " ".join(self.pieces.values()) if self.voicing else "".join(self.text_sent)

    def delivered_text(self) -> str:
        """What the client got: for history, and for truncation on interruption."""
        if self.voicing is None:
            return "".join(self.text_sent)
        return " ".join(self.words_out)
