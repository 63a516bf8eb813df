"""usageMetadata per modality through the unmodified Python SDK (fake language model,
real VAD, Whisper and Piper): the AUDIO prompt tokens are the audio sent at the Gemini
docs' 32 tokens a second, the AUDIO response tokens the answer's audio likewise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.conftest import Server
from tests.conformance.speech import spoken
from tests.conformance.test_voice_and_realmodel import QUESTION, run_client

pytestmark = [pytest.mark.conformance]
TOKENS_PER_SECOND = 32
CHUNK = 0.1  # seconds of audio in each chunk the client sends


def modalities(details: list[dict[str, object]]) -> dict[object, object]:
    return {d["modality"]: d["token_count"] for d in details}


@pytest.mark.parametrize("rate", [16000, 24000])
def test_audio_tokens_follow_the_audio_sent_and_the_audio_spoken(openlive_server: Server,
                                                                 tmp_path: Path,
                                                                 rate: int) -> None:
    config = {"speech_config": {"language_code": "en-US"}}
    result = run_client(openlive_server, {"mode": "usage", "rate": rate, "config": config,
                                          "pcm": str(spoken(tmp_path, QUESTION, rate))})
    usage, sent = result["usage"], result["sent_seconds"]
    prompt = modalities(usage["prompt_tokens_details"])
    response = modalities(usage["response_tokens_details"])
    assert set(prompt) == {"TEXT", "AUDIO"} and set(response) == {"AUDIO"}, usage
    # every second the server received before the turn ended, at 32 tokens; the chunk in
    # flight when turnComplete came may be counted or not
    assert abs(prompt["AUDIO"] - sent * TOKENS_PER_SECOND) <= CHUNK * TOKENS_PER_SECOND + 1, (
        result)
    assert sent > 3.0, result  # the question and two seconds of silence
    answer_seconds = result["audio_bytes"] / (24000 * 2)
    assert answer_seconds > 1.0, result
    assert abs(response["AUDIO"] - answer_seconds * TOKENS_PER_SECOND) <= 1, result
    assert prompt["TEXT"] > 0  # the fake model's count of the transcript it read
    assert usage["prompt_token_count"] == prompt["TEXT"] + prompt["AUDIO"]
    assert usage["response_token_count"] == response["AUDIO"]
    assert usage["total_token_count"] == usage["prompt_token_count"] + response["AUDIO"]
