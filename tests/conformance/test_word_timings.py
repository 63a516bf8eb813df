"""``wordTimestamp`` through the unmodified google-genai 3.6.1, on the real recognizer.

A spoken question (espeak-ng) after a known silence is streamed in real time at 24 kHz
to the server with the default engines (Silero, Whisper base, Piper; the fake language
model, which says the question back). The SDK's ``input_transcription.words`` must be
the words heard, in order, timed in the session's audio: the first word starting where
the speech does after the silence. The answer's ``output_transcription`` pieces carry
their offsets in the session's output audio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conformance.conftest import Server
from tests.conformance.speech import sounds_like, spoken, words
from tests.conformance.test_voice_and_realmodel import QUESTION, run_client

pytestmark = [pytest.mark.conformance]
RATE = 24_000  # not the recognizer's 16 kHz: offsets count at the rate the client sends
LEAD = 1.5  # seconds of silence before the speech
# The first word's start against where the speech starts (its first 10 ms frame within
# 35 dB of the loudest): bench/word_timings.py measured 14 ms mean absolute error on 42
# synthetic utterances cut as the server cuts them, 90 ms at worst; docs/asr.md.
START_TOLERANCE = 0.15


def seconds(offset: str) -> float:
    assert offset.endswith("s"), offset
    return float(offset[:-1])


def speech_bounds(pcm: bytes, rate: int) -> tuple[float, float]:
    """Where the speech starts and ends in 16-bit PCM (10 ms frames within 35 dB of the
    loudest), in seconds."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frame = rate // 100
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9)
    loud = np.nonzero(level >= level.max() - 35)[0]
    return int(loud[0]) / 100, (int(loud[-1]) + 1) / 100


def spoken_after_silence(tmp_path: Path) -> tuple[Path, float, float]:
    """The question after LEAD seconds of silence, at RATE; where its speech starts and
    ends in the stream."""
    speech = spoken(tmp_path, QUESTION, RATE).read_bytes()
    onset, offset = speech_bounds(speech, RATE)
    path = tmp_path / "after-silence.raw"
    path.write_bytes(bytes(2 * int(RATE * LEAD)) + speech)
    return path, LEAD + onset, LEAD + offset


def test_the_words_of_a_spoken_turn_are_timed_in_the_sessions_audio(
        openlive_server: Server, tmp_path: Path) -> None:
    pcm, onset, offset = spoken_after_silence(tmp_path)
    timed = {"word_timestamp": True}
    result = run_client(openlive_server, {
        "mode": "voice", "rate": RATE, "pcm": str(pcm),
        "config": {"input_audio_transcription": timed, "output_audio_transcription": timed}})

    [heard] = result["input_timed"]
    assert sounds_like(QUESTION, heard["text"]), result
    said = [word for word, _, _ in heard["words"]]
    assert words(" ".join(said)) == words(heard["text"]), heard
    starts = [seconds(start) for _, start, _ in heard["words"]]
    ends = [seconds(end) for _, _, end in heard["words"]]
    assert starts == sorted(starts), heard
    assert all(end >= start for start, end in zip(starts, ends, strict=True)), heard
    # the silence is not in any word: the first one starts where the speech does
    assert starts[0] == pytest.approx(onset, abs=START_TOLERANCE), (onset, heard)
    assert ends[-1] <= offset + 0.3, (offset, heard)  # the VAD's end, plus a frame or so
    assert (heard["start"], heard["end"]) == (heard["words"][0][1], heard["words"][-1][2])

    check_output_offsets(result)


def check_output_offsets(result: dict[str, Any]) -> None:
    """The answer's transcription pieces: in order, within the audio received."""
    pieces = result["output_timed"]
    assert pieces and "".join(p["text"] for p in pieces) == "".join(result["output"]), result
    spans = [(seconds(p["start"]), seconds(p["end"])) for p in pieces]
    audio = result["audio_bytes"] / 2 / 24_000
    assert spans[0][0] == 0.0, spans  # the session's first output audio
    assert [start for start, _ in spans] == sorted(start for start, _ in spans), spans
    assert all(start < end <= audio + 1e-3 for start, end in spans), (audio, spans)
    assert all(p["words"] == [] for p in pieces)  # the synthesizer says no word times


def test_without_word_timestamp_transcripts_carry_no_offsets(openlive_server: Server,
                                                             tmp_path: Path) -> None:
    pcm, _, _ = spoken_after_silence(tmp_path)
    result = run_client(openlive_server, {"mode": "voice", "rate": RATE, "pcm": str(pcm)})
    assert result["input"] and result["output"], result
    assert result["input_timed"] == [] and result["output_timed"] == [], result
