"""The unmodified Python SDK against openlive's real engines.

* Voice (fake language model, real VAD, Smart Turn, Whisper and Piper): speech made with
  espeak-ng is streamed in real time; the spoken answer is transcribed again and must
  say what the fake model said; barge-in interrupts and the next turn is answered.
* The real default language model (llama.cpp, Qwen2.5 0.5B): a text turn and a voice
  turn answer a factual question correctly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import (
    CLIENTS,
    PY_SDK_VERSIONS,
    SDK_ENVS,
    Server,
)
from tests.conformance.speech import sounds_like, spoken, transcribe_24k, words

pytestmark = [pytest.mark.conformance]
SDK = PY_SDK_VERSIONS[0]
QUESTION = "What is the capital of France?"
OTHER_QUESTION = "How far away is the moon from here?"


def sdk_python(sdk: str = SDK) -> Path:
    """The Python of the google-genai ``sdk`` virtualenv (fails in CI when missing)."""
    exe = SDK_ENVS / f"google-genai-{sdk}" / "bin" / "python"
    if not exe.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{exe} missing: scripts/sdk-envs.sh did not run")
        pytest.skip(f"{exe} missing: run scripts/sdk-envs.sh")
    return exe


def run_client(server: Server, job: dict[str, Any], timeout: float = 180, sdk: str = SDK,
               script: str = "py_live.py") -> dict[str, Any]:
    """Run a Python client program (``clients/<script>``) with ``job``, configured only
    through the environment, as users configure the SDK; its last JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(GOOGLE_GEMINI_BASE_URL=server.base_url("http"), GEMINI_API_KEY=server.key,
               SSL_CERT_FILE=str(server.ca))
    proc = subprocess.run([str(sdk_python(sdk)), str(CLIENTS / script), json.dumps(job)],
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, f"client failed:\n{proc.stderr[-3000:]}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- voice with the fake language model ------------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 24000, 8000])
def test_spoken_question_gets_a_spoken_answer(openlive_server: Server, tmp_path: Path,
                                              recognizer: Any, rate: int) -> None:
    out = tmp_path / "answer.pcm"
    # Language detection is part of the 16 kHz case; narrow-band 8 kHz speech fools
    # Whisper base's detector (espeak English reads as Thai), so the others name it.
    config = {} if rate == 16000 else {"speech_config": {"language_code": "en-US"}}
    result = run_client(openlive_server, {"mode": "voice", "rate": rate, "out": str(out),
                                          "pcm": str(spoken(tmp_path, QUESTION, rate)),
                                          "config": config})
    heard = " ".join(result["input"])
    assert sounds_like(QUESTION, heard), result
    # the fake model repeats the question: the answer's audio must say it back
    said = " ".join(result["output"])
    assert said.startswith("[messages=1]") and words(said)[1:] == words(heard), result
    assert result["flags"][-2:] == ["generation_complete", "turn_complete"], result
    assert result["audio_bytes"] > 24000 * 2 * 1.0  # over a second of speech
    assert sounds_like(heard, transcribe_24k(recognizer, out.read_bytes())), result


def test_manual_activity_marks_the_turn(openlive_server: Server, tmp_path: Path) -> None:
    config = {"realtime_input_config": {"automatic_activity_detection": {"disabled": True}},
              "speech_config": {"voice_config": {"prebuilt_voice_config": {
                  "voice_name": "Kore"}}}}
    result = run_client(openlive_server, {"mode": "voice", "rate": 16000, "manual": True,
                                          "pcm": str(spoken(tmp_path, QUESTION)),
                                          "config": config})
    assert sounds_like(QUESTION, " ".join(result["input"])), result
    assert result["flags"][-2:] == ["generation_complete", "turn_complete"], result


def test_barge_in_interrupts_and_the_next_turn_is_answered(openlive_server: Server,
                                                           tmp_path: Path) -> None:
    pcm = spoken(tmp_path, "Tell me everything you know about the history of France.")
    over = spoken(tmp_path, OTHER_QUESTION)  # a new question over the answer
    result = run_client(openlive_server, {"mode": "barge_in", "rate": 16000, "pcm": str(pcm),
                                          "pcm2": str(over)})
    first, second = result["first"], result["second"]
    assert "interrupted" in first["flags"] and "generation_complete" not in first["flags"]
    assert second["flags"][-2:] == ["generation_complete", "turn_complete"], result
    assert second["audio_bytes"] > 0 and second["output"], result


# 0.7 s / 0.8: a late, loud echo, whose first words come back before the echo guard has
# found its delay (heard as "Let's" for "[messages=1] Tell"); they are judged whole
# before they may take the floor (runtime/echo.py ``EchoGuard.replayed``).
@pytest.mark.parametrize(("delay", "gain"), [(0.2, 0.5), (0.7, 0.8)])
def test_the_answer_coming_back_through_a_speakerphone_does_not_interrupt(
        openlive_server: Server, tmp_path: Path, delay: float, gain: float) -> None:
    pcm = spoken(tmp_path, "Tell me everything you know about the history of France.")
    result = run_client(openlive_server, {"mode": "speakerphone", "rate": 16000,
                                          "pcm": str(pcm), "delay": delay, "gain": gain})
    assert "interrupted" not in result["flags"], result
    assert result["flags"][-2:] == ["generation_complete", "turn_complete"], result
    # the whole answer was spoken (about 3 s of audio), not a stump of it
    assert result["audio_bytes"] > 2.0 * 48000, result
    assert sounds_like("the history of France", " ".join(result["output"])), result


# -- the real default language model ---------------------------------------------------------


@pytest.mark.realmodel
def test_real_model_answers_a_text_question(real_server: Server) -> None:
    result = run_client(real_server, {"mode": "text", "prompt": QUESTION,
                                      "system": "Answer in one short sentence."})
    assert "paris" in words(result["text"]), result
    usage = result["usage"]
    assert usage["prompt_token_count"] > 5 and usage["response_token_count"] > 0
    assert usage["total_token_count"] == (usage["prompt_token_count"]
                                          + usage["response_token_count"])


@pytest.mark.realmodel
def test_the_next_turn_reports_the_prompt_it_did_not_evaluate_again_as_cached(
        real_server: Server) -> None:
    """llama.cpp keeps the conversation in its KV cache: the second turn's prompt starts
    with the first turn's, and usageMetadata says how much of it was served from there."""
    result = run_client(real_server, {"mode": "chat", "config": {"temperature": 0.0},
                                      "turns": [QUESTION, "And of Italy?"]})
    first, second = result["usages"]
    assert first.get("cached_content_token_count", 0) < first["prompt_token_count"], result
    cached = second["cached_content_token_count"]
    # at least the first turn's prompt, never the whole of the second
    assert first["prompt_token_count"] <= cached < second["prompt_token_count"], result
    assert second["cache_tokens_details"] == [{"modality": "TEXT", "token_count": cached}]


@pytest.mark.realmodel
def test_real_model_answers_a_spoken_question_aloud(real_server: Server, tmp_path: Path,
                                                     recognizer: Any) -> None:
    out = tmp_path / "answer.pcm"
    result = run_client(real_server, {"mode": "voice", "rate": 16000, "out": str(out),
                                      "pcm": str(spoken(tmp_path, QUESTION))})
    assert "paris" in words(transcribe_24k(recognizer, out.read_bytes())), result


@pytest.mark.realmodel
def test_words_are_heard_while_the_user_still_speaks(real_server: Server, tmp_path: Path,
                                                    recognizer: Any) -> None:
    """A long question spoken without a pause: what was said so far comes back as
    interim transcripts while the user is still talking (recognized during speech, the
    settled words prefilled into the model), and the answer is about the whole question."""
    question = ("what is the name of the big old city that is the capital of the country "
                "of france in europe")
    out = tmp_path / "answer.pcm"
    result = run_client(real_server, {"mode": "voice", "rate": 16000, "out": str(out),
                                      "pcm": str(spoken(tmp_path, question))})
    asked = set(words(question))
    # a second or more before the turn's transcript: heard while the words still came.
    # The one pause in this espeak rendering gives one such transcript; recognizing while
    # the user speaks gives more, each with more of the question (measured: 1 against 4).
    early = [text for at, text in result["interim"] if at < result["input_at"] - 1.0]
    assert len(early) >= 2, result
    heard = [len(asked & set(words(text))) for text in early]
    assert heard[0] >= 3 and heard[-1] > heard[0], result
    assert "capital" in words(" ".join(result["input"])), result
    # the answer names Paris, and its audio says that answer: the long answer repeats
    # the question first, and a CI run's checking recognizer heard its last words "is
    # Paris" as "as pairs", so the audio is held to the answer's words as a whole
    said = "".join(result["output"])
    assert "paris" in words(said), result
    assert sounds_like(said, transcribe_24k(recognizer, out.read_bytes())), result


@pytest.mark.realmodel
def test_a_turn_larger_than_the_models_context_is_refused_naming_the_limit(
        real_server: Server) -> None:
    """A 10 MB text turn: closed with 1007 and the model's limit in the reason (it used
    to be 1011 "the language model failed" after 18 s), and the server still answers."""
    result = run_client(real_server, {"mode": "too_large", "bytes": 10_000_000})
    assert result["code"] == 1007, result
    assert "context window of" in result["reason"] and "tokens" in result["reason"], result
    answer = run_client(real_server, {"mode": "text", "prompt": QUESTION,
                                      "system": "Answer in one short sentence."})
    assert "paris" in words(answer["text"]), answer


@pytest.mark.realmodel
@pytest.mark.parametrize("modality", ["TEXT", "AUDIO"])
def test_real_model_calls_a_function_and_answers_from_its_result(real_server: Server,
                                                                 modality: str) -> None:
    """The default 0.5B model through the SDK: the right call, then words from the result."""
    from tests.conformance.test_tools_python import run_tools_client

    out = run_tools_client(real_server, {
        "mode": "blocking", "modality": modality, "temperature": 0.0,
        "prompt": "What's the weather like in Paris right now?",
        "result": {"output": {"sky": "light rain", "celsius": 11}}})
    [call] = out["calls"]
    assert call["name"] == "get_weather" and "paris" in words(str(call["args"])), out
    said = out["text"] if modality == "TEXT" else out["transcript"]
    assert {"rain", "11"} & set(re.findall(r"[a-z]+|\d+", said.lower())), out
    assert out["flags"] == ["generation_complete", "turn_complete"], out
