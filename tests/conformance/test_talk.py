"""``openlive talk`` against a running openlive, configured only as the SDKs are
(GOOGLE_GEMINI_BASE_URL, GEMINI_API_KEY, SSL_CERT_FILE).

* the fake model: typed turns in text mode, over ws:// and wss://; a bad key;
* the real default models: a spoken question from a WAV file at 22.05 kHz is answered
  aloud into a 24 kHz WAV file, which says the answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import ROOT, Server
from tests.conformance.speech import sounds_like, transcribe_24k, words

pytestmark = [pytest.mark.conformance]
QUESTION = "What is the capital of France?"


def run_talk(server: Server, args: list[str], *, stdin: str = "", transport: str = "http",
             key: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(GOOGLE_GEMINI_BASE_URL=server.base_url(transport),
               GEMINI_API_KEY=server.key if key is None else key,
               SSL_CERT_FILE=str(server.ca), PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "openlive", "talk", *args], input=stdin,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.mark.parametrize("transport", ["http", "https"])
def test_typed_turns_are_answered_in_text(openlive_server: Server, transport: str) -> None:
    done = run_talk(openlive_server, ["--text"], stdin="hello there\nsecond turn\n",
                    transport=transport)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "model: [messages=1] hello there" in lines, done.stdout
    assert "model: [messages=3] second turn" in lines, done.stdout
    assert lines[0] == "you: hello there", done.stdout
    latencies = [line for line in lines if line.strip().startswith("latency")]
    assert len(latencies) == 2 and all("sent → first text" in x for x in latencies), lines
    scheme = "wss" if transport == "https" else "ws"
    assert f"connected to {scheme}://127.0.0.1:{openlive_server.port}/ws/" in done.stderr


def test_a_refused_key_is_reported(openlive_server: Server) -> None:
    done = run_talk(openlive_server, ["--text"], stdin="hello\n", key="not-a-key")
    assert done.returncode == 1
    assert "1008" in done.stderr and "API key" in done.stderr, done.stderr


@pytest.mark.realmodel
def test_a_spoken_question_in_a_file_is_answered_aloud(real_server: Server, tmp_path: Path,
                                                       recognizer: Any) -> None:
    question, answer = tmp_path / "question.wav", tmp_path / "answer.wav"
    # espeak-ng's own rate, 22.05 kHz: talk resamples it
    subprocess.run(["espeak-ng", "-w", str(question), QUESTION], check=True)
    done = run_talk(real_server, ["--input", str(question), "--output", str(answer)])
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    heard = next((line[5:] for line in done.stdout.splitlines() if line.startswith("you: ")), "")
    said = next((line[7:] for line in done.stdout.splitlines()
                 if line.startswith("model: ")), "")
    assert sounds_like(QUESTION, heard), done.stdout
    assert "paris" in words(said), done.stdout  # the answer's transcript
    assert "end of speech → transcript" in done.stdout and "→ first audio" in done.stdout
    with wave.open(str(answer), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        assert wav.getnframes() > 24000  # over a second of speech
        pcm = wav.readframes(wav.getnframes())
    assert "paris" in words(transcribe_24k(recognizer, pcm))
