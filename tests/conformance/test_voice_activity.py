"""``voiceActivity`` through the unmodified SDKs (fake language model, real VAD, Smart
Turn, Whisper and Piper): where a spoken question starts and ends in the audio sent.

The question is espeak-ng speech after one second of digital silence, so where its speech
is in the stream is known from the samples themselves (:func:`speech_bounds`). The
tolerances: the VAD decides per 32 ms frame and reports a start at the start of the first
frame Silero scores as speech (an unvoiced first consonant can take a few frames), and an
end where the first silent frame begins (Silero's score falls a few frames after the last
voiced sample; the sample level also counts a quiet tail as speech). Measured on this
rendering: the start 10 ms early to 22 ms late, the end 67 ms after the last loud sample;
the bounds allow a few frames more each way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import PY_SDK_VERSIONS, Server
from tests.conformance.speech import (
    sounds_like,
    speech_bounds,
    spoken,
    with_leading_silence,
)
from tests.conformance.test_voice_and_realmodel import QUESTION, run_client
from tests.conformance.test_voice_node import answered
from tests.conformance.test_voice_node import run_client as run_node_client

pytestmark = [pytest.mark.conformance]
NEWEST = PY_SDK_VERSIONS[0]
LEAD = 1.0  # seconds of silence before the question
START_EARLY, START_LATE = 0.1, 0.25  # seconds the START may be off the first loud sample
END_EARLY, END_LATE = 0.1, 0.35  # and the END off the last


def seconds(offset: str) -> float:
    """A protobuf Duration's JSON ("1.24s") in seconds."""
    assert offset.endswith("s"), offset
    return float(offset[:-1])


def question(tmp_path: Path, rate: int) -> tuple[Path, tuple[float, float]]:
    """The spoken question after :data:`LEAD` of silence, and where its speech is."""
    pcm = with_leading_silence(tmp_path, spoken(tmp_path, QUESTION, rate), LEAD, rate)
    return pcm, speech_bounds(pcm, rate)


def check_where(activity: list[list[Any]], bounds: tuple[float, float],
                start: str = "ACTIVITY_START", end: str = "ACTIVITY_END") -> None:
    """One START and one END, each near where the speech is."""
    assert [kind for kind, _ in activity] == [start, end], activity
    began, ended = seconds(activity[0][1]), seconds(activity[1][1])
    first, last = bounds
    assert first - START_EARLY <= began <= first + START_LATE, (activity, bounds)
    assert last - END_EARLY <= ended <= last + END_LATE, (activity, bounds)


def check_order(sequence: list[str], finished: str) -> None:
    """START, then END at the endpoint, then the turn's finished transcription."""
    assert sequence.count("ACTIVITY_START") == sequence.count("ACTIVITY_END") == 1, sequence
    assert (sequence.index("ACTIVITY_START") < sequence.index("ACTIVITY_END")
            < sequence.index(finished)), sequence


@pytest.mark.parametrize("rate", [16000, 24000])
def test_a_spoken_question_is_reported_where_it_is_in_the_audio(
        openlive_server: Server, tmp_path: Path, rate: int) -> None:
    """google-genai: ``message.voice_activity.voice_activity_type`` and ``.audio_offset``,
    in seconds of the audio sent at its declared rate."""
    pcm, bounds = question(tmp_path, rate)
    result = run_client(openlive_server, {"mode": "voice", "rate": rate, "pcm": str(pcm)})
    assert sounds_like(QUESTION, " ".join(result["input"])), result
    check_where(result["activity"], bounds)
    check_order(result["sequence"], "input_finished")
    assert result["flags"][-2:] == ["generation_complete", "turn_complete"], result


@pytest.mark.parametrize("sdk", PY_SDK_VERSIONS[1:])
def test_older_sdks_answer_a_spoken_question_as_before(openlive_server: Server,
                                                       tmp_path: Path, sdk: str) -> None:
    """google-genai 2.19 reads voiceActivity as 3.6 does; 1.20 does not know the key and
    hands the program an empty message, which its receive() passes on."""
    pcm, bounds = question(tmp_path, 16000)
    result = run_client(openlive_server, {"mode": "voice", "rate": 16000, "pcm": str(pcm)},
                        sdk=sdk)
    assert sounds_like(QUESTION, " ".join(result["input"])), result
    assert result["flags"][-2:] == ["generation_complete", "turn_complete"], result
    assert result["audio_bytes"] > 24000 * 2, result  # the answer was spoken
    if sdk.startswith("1."):
        assert result["activity"] == [] and result["empty"] == 2, result
    else:
        check_where(result["activity"], bounds)
        check_order(result["sequence"], "input_finished")


def test_nothing_is_reported_when_the_client_marks_the_turn(openlive_server: Server,
                                                             tmp_path: Path) -> None:
    config = {"realtime_input_config": {"automatic_activity_detection": {"disabled": True}}}
    pcm, _ = question(tmp_path, 16000)
    result = run_client(openlive_server, {"mode": "voice", "rate": 16000, "manual": True,
                                          "pcm": str(pcm), "config": config})
    assert sounds_like(QUESTION, " ".join(result["input"])), result
    assert result["activity"] == [] and result["empty"] == 0, result


def test_speech_over_the_answer_is_reported_just_before_the_interruption(
        openlive_server: Server, tmp_path: Path) -> None:
    pcm = spoken(tmp_path, "Tell me everything you know about the history of France.")
    over = spoken(tmp_path, "How far away is the moon from here?")
    result = run_client(openlive_server, {"mode": "barge_in", "rate": 16000, "pcm": str(pcm),
                                          "pcm2": str(over)})
    first, second = result["first"]["sequence"], result["second"]["sequence"]
    # the question, then speech over its answer: reported once it is judged to be words
    assert first[:3] == ["ACTIVITY_START", "ACTIVITY_END", "input_finished"], result
    assert first[-3:] == ["ACTIVITY_START", "interrupted", "turn_complete"], result
    assert second[:2] == ["ACTIVITY_END", "input_finished"], result
    assert "ACTIVITY_START" not in second, result
    (_, asked), (_, ended), (_, over_at) = result["first"]["activity"]
    (_, over_end), = result["second"]["activity"]
    assert seconds(asked) < seconds(ended) < seconds(over_at) < seconds(over_end), result


def test_node_reads_the_same_reports(openlive_server: Server, tmp_path: Path) -> None:
    """@google/genai passes the JSON on: ``message.voiceActivity.type``, ``.audioOffset``."""
    pcm, bounds = question(tmp_path, 16000)
    result = answered(run_node_client(openlive_server,
                                      {"mode": "voice", "rate": 16000, "pcm": str(pcm)}))
    assert sounds_like(QUESTION, " ".join(result["input"])), result
    check_where(result["activity"], bounds)
    check_order(result["sequence"], "inputFinished")
    assert result["flags"][-2:] == ["generationComplete", "turnComplete"], result
