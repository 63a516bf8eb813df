"""``wordTimestamp``: transcripts timed in the session's audio, only when asked.

Input: the final ``inputTranscription`` of a user turn carries its words with their
offsets (seconds of user audio since the session began) and its own offsets; interim
transcripts carry their offsets only (their words are not aligned: that costs). Output:
each ``outputTranscription`` piece carries the stretch of output audio it goes with.
"""

from __future__ import annotations

import itertools
from typing import Any

from openlive.audio.words import TimedWord
from openlive.session.actions import PlayAudio, ScoreEndOfTurn, Synthesize, Transcribe
from openlive.session.config import ServerCapabilities
from openlive.session.events import (
    EndOfTurnScored,
    SpeechSynthesized,
    SynthesisDrained,
    Tick,
    TranscriptReady,
)
from tests.session.conversation import Conversation, sent, starts
from tests.session.test_voice import EARLY, VOICE, of, speak

TIMED = {"wordTimestamp": True}


def voice(capabilities: ServerCapabilities = VOICE, **setup: Any) -> Conversation:
    c = Conversation(capabilities)
    c.setup(generationConfig={"responseModalities": ["AUDIO"]}, **setup)
    return c


def seconds(offset: str) -> float:
    """A protobuf Duration JSON string ("1.24s") in seconds."""
    assert offset.endswith("s"), offset
    return float(offset[:-1])


def content(actions: list, key: str) -> list[dict[str, Any]]:
    return [m["serverContent"][key] for m in sent(actions)
            if key in m.get("serverContent", {})]


def one_turn(c: Conversation, start: float = 2.0) -> Transcribe:
    """The user speaks from ``start`` for a second, then a silence window ends the turn;
    the transcription asked for it (at the pause, which the turn ended at)."""
    speak(c, 0.0, start, 0.01)
    speak(c, start, 1.0, 0.9)
    [turn] = of(Transcribe, speak(c, start + 1.0, 0.5, 0.01))
    return turn


QUIET_TURN = {"realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 300}}}


def test_words_are_timed_only_when_asked() -> None:
    plain = one_turn(voice(inputAudioTranscription={}, **QUIET_TURN))
    timed = one_turn(voice(inputAudioTranscription=TIMED, **QUIET_TURN))
    assert not plain.word_timings and timed.word_timings
    # a pause's transcript may become the turn's: timed too
    c = voice(inputAudioTranscription=TIMED)
    speak(c, 0.0, 1.0, 0.9)
    [partial] = of(Transcribe, speak(c, 1.0, 0.25, 0.01))
    assert partial.kind == "partial" and partial.word_timings
    # a decode while the user speaks is not: it is never the turn's transcript
    c = voice(EARLY, inputAudioTranscription=TIMED)
    [interim] = of(Transcribe, speak(c, 0.0, 1.6, 0.9))
    assert interim.kind == "interim" and not interim.word_timings


def test_the_final_transcript_carries_its_words_and_its_offsets() -> None:
    c = voice(inputAudioTranscription=TIMED, **QUIET_TURN)
    final = one_turn(c)
    words = (TimedWord("What", 2.04, 2.31), TimedWord("time", 2.31, 2.6),
             TimedWord("is", 2.6, 2.72), TimedWord("it?", 2.72, 2.95))
    out = c.feed(TranscriptReady(final.turn_id, " What time is it? ", end=final.end,
                                 start=final.start, words=words))
    [heard] = content(out, "inputTranscription")
    assert heard == {
        "text": "What time is it?", "finished": True,
        "words": [{"word": "What", "startOffset": "2.04s", "endOffset": "2.31s"},
                  {"word": "time", "startOffset": "2.31s", "endOffset": "2.6s"},
                  {"word": "is", "startOffset": "2.6s", "endOffset": "2.72s"},
                  {"word": "it?", "startOffset": "2.72s", "endOffset": "2.95s"}],
        "startOffset": "2.04s", "endOffset": "2.95s"}
    [start] = starts(out)  # the turn is answered as ever
    assert start.request.messages[-1].content == "What time is it?"


def test_without_word_timings_the_offsets_are_the_audio_recognized() -> None:
    # a recognizer that times no words (Wyoming): the transcript's own offsets remain
    c = voice(inputAudioTranscription=TIMED, **QUIET_TURN)
    final = one_turn(c, start=3.0)
    out = c.feed(TranscriptReady(final.turn_id, "hello", end=final.end, start=final.start))
    [heard] = content(out, "inputTranscription")
    assert "words" not in heard
    assert seconds(heard["startOffset"]) == round(final.start, 3) < 3.0  # with the pre-roll
    assert seconds(heard["endOffset"]) == round(final.end, 3) > 3.9


def test_nothing_changes_without_word_timestamp() -> None:
    c = voice(inputAudioTranscription={}, **QUIET_TURN)
    final = one_turn(c)
    out = c.feed(TranscriptReady(final.turn_id, "hello", end=final.end, start=final.start,
                                 words=(TimedWord("hello", 2.0, 2.4),)))
    assert content(out, "inputTranscription") == [{"text": "hello", "finished": True}]


def test_interim_transcripts_carry_their_offsets() -> None:
    c = voice(inputAudioTranscription=TIMED)
    speak(c, 0.0, 1.0, 0.01)
    speak(c, 1.0, 1.0, 0.9)
    [spec] = of(Transcribe, speak(c, 2.0, 0.25, 0.01))
    out = c.feed(TranscriptReady(spec.turn_id, "what time", end=spec.end, start=spec.start))
    [interim] = content(out, "interimInputTranscription")
    assert interim["text"] == "what time" and "words" not in interim
    assert seconds(interim["startOffset"]) == round(spec.start, 3)
    assert seconds(interim["endOffset"]) == round(spec.end, 3)
    assert 0.5 < spec.start < 1.0 and spec.end >= 2.0  # the speech, with its pre-roll
    # the turn ends at this pause: its transcript, timed, is the final one
    [score] = of(ScoreEndOfTurn, out)
    c.feed(EndOfTurnScored(score.turn_id, 0.97))
    done = speak(c, 2.25, 1.0, 0.01)
    [final] = content(done, "inputTranscription")
    assert final["text"] == "what time" and final["startOffset"] == interim["startOffset"]


def test_interim_transcripts_while_the_user_speaks_carry_their_offsets() -> None:
    c = voice(EARLY, inputAudioTranscription=TIMED)
    [first] = of(Transcribe, speak(c, 0.0, 1.6, 0.9))
    out = c.feed(TranscriptReady(first.turn_id, "What is the cap", end=first.end,
                                 start=first.start))
    [interim] = content(out, "interimInputTranscription")
    assert interim["text"] == "What is the cap" and "words" not in interim
    assert seconds(interim["startOffset"]) == round(first.start, 3)
    assert seconds(interim["endOffset"]) == round(first.end, 3)


# -- output ----------------------------------------------------------------------------------


def spoken_reply(c: Conversation, text: str, chunks: int) -> list:
    """The model answers ``text``; each synthesized piece comes back as ``chunks``
    half-second chunks of audio; everything sent until the turn is complete."""
    [start] = starts(c.client({"realtimeInput": {"text": "hi"}}))
    gid = start.generation_id
    out = c.delta(gid, text) + c.finish(gid)
    half_second = b"\x00\x00" * 12_000
    for piece in of(Synthesize, out):
        for _ in range(chunks):
            out += c.feed(SpeechSynthesized(gid, piece.piece_id, half_second))
    out += c.feed(SynthesisDrained(gid))
    for _ in range(100):  # the paced audio goes out as the clock runs
        if any("turnComplete" in m.get("serverContent", {}) for m in sent(out)):
            break
        c.now += 0.25
        out += c.session.handle(Tick(), c.now)
    return out


def test_output_transcription_pieces_say_which_output_audio_they_go_with() -> None:
    c = voice(outputAudioTranscription=TIMED)
    text = "Hello there, my good friend. It is a fine day today, is it not? Goodbye."
    out = spoken_reply(c, text, chunks=3)
    pieces = content(out, "outputTranscription")
    audio = sum(len(a.pcm) for a in of(PlayAudio, out)) / 48_000
    assert "".join(p["text"] for p in pieces).split() == text.split()
    spans = [(seconds(p["startOffset"]), seconds(p["endOffset"])) for p in pieces]
    synthesized = len(of(Synthesize, out))
    assert synthesized == 3 and audio == 1.5 * synthesized
    # each synthesized piece's words start exactly where its audio starts...
    piece_starts = {1.5 * k for k in range(synthesized)}
    assert piece_starts <= {start for start, _ in spans}
    # ...and within a piece each transcription goes on where the one before it ended,
    # up to the end of the audio sent with it (the words spread at a speaking rate);
    # words the estimate left for a piece's end go with its last half-second chunk
    for before, after in itertools.pairwise(spans):
        assert (after[0] == before[1] or (after[0] in piece_starts and after[0] >= before[1])
                or after == (before[1] - 0.5, before[1])), spans
    assert all(0 <= start < end <= audio for start, end in spans)
    assert [start for start, _ in spans] == sorted(start for start, _ in spans)
    # the next turn's audio follows the first's in the session's output audio
    more = content(spoken_reply(c, "And again.", chunks=2), "outputTranscription")
    assert seconds(more[0]["startOffset"]) == audio
    assert audio < seconds(more[-1]["endOffset"]) <= audio + 1.0


def test_output_transcription_has_no_offsets_unless_asked() -> None:
    c = voice(outputAudioTranscription={})
    pieces = content(spoken_reply(c, "Hello there, my good friend.", chunks=2),
                     "outputTranscription")
    assert pieces and all(set(p) == {"text"} for p in pieces)
