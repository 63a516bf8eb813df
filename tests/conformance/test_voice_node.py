"""The unmodified @google/genai (Node) SDK against openlive's real voice engines.

The Node counterpart of the voice half of test_voice_and_realmodel.py: the fake language
model with the real VAD, Smart Turn, Whisper and Piper. Speech made with espeak-ng is
streamed in real time by ``clients/node_live.mjs`` through ``session.sendRealtimeInput``;
the spoken answer (``message.data``, base64) is transcribed again and must say what the fake
model said. ``http://`` gives the SDK a plain ``ws://`` socket, ``https://`` a ``wss://``
socket that trusts the server's CA through ``NODE_EXTRA_CA_CERTS``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import CLIENTS, HERE, NODE_DIR, NODE_SDK_VERSION, Server
from tests.conformance.speech import sounds_like, spoken, transcribe_24k, words

pytestmark = [pytest.mark.conformance]
QUESTION = "What is the capital of France?"
STORY = "Tell me everything you know about the history of France."
CLIENT_TIMEOUT = 180.0


def node_exe() -> str:
    """``node`` with the pinned @google/genai; fails in CI, skips locally when missing."""
    node = shutil.which("node")
    pkg = NODE_DIR / "node_modules" / "@google" / "genai" / "package.json"
    problem = None
    if node is None:
        problem = "node is not on PATH"
    elif not pkg.exists():
        problem = f"@google/genai is not installed in {NODE_DIR}/node_modules"
    else:
        have = json.loads(pkg.read_text())["version"]
        if have != NODE_SDK_VERSION:
            problem = f"@google/genai {have} is installed, package.json pins {NODE_SDK_VERSION}"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}: scripts/sdk-envs.sh did not run", pytrace=False)
        pytest.skip(f"{problem}: run scripts/sdk-envs.sh")
    assert node is not None
    return node


def run_client(server: Server, job: dict[str, Any], transport: str = "http",
               script: str = "node_live.mjs", timeout: float = CLIENT_TIMEOUT) -> dict[str, Any]:
    """Run ``script`` (a client in ``clients/``) with ``job``, configured only through the
    environment."""
    node = node_exe()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "GEMINI_"))
        and k not in ("NODE_EXTRA_CA_CERTS", "NODE_OPTIONS", "NODE_TLS_REJECT_UNAUTHORIZED")
    }
    env.update(
        GOOGLE_GEMINI_BASE_URL=server.base_url(transport),
        GEMINI_API_KEY=server.key,
        OPENLIVE_GENAI_NODE_DIR=str(NODE_DIR),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    if transport == "https":
        env["NODE_EXTRA_CA_CERTS"] = str(server.ca)
    cmd = [node, str(CLIENTS / script), json.dumps(job)]
    try:
        proc = subprocess.run(
            cmd,
            env=env,
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(f"node client hung, killed after {timeout:.0f}s\n{err[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, (
        f"client exited {proc.returncode}:\nstdout: {proc.stdout}\nstderr: {proc.stderr[-3000:]}"
    )
    return dict(json.loads(lines[-1]))


def answered(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` after checking that the session itself did not fail."""
    assert result["error"] is None, f"the SDK reported {result['error']}\n{result}"
    assert result["setup_complete"], result
    return result


# -- answered turns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "transport"), [(16000, "http"), (24000, "https")], ids=["16k-ws", "24k-wss"]
)
def test_spoken_question_gets_a_spoken_answer(
    openlive_server: Server, tmp_path: Path, recognizer: Any, rate: int, transport: str
) -> None:
    out = tmp_path / "answer.pcm"
    # Language detection is part of the 16 kHz case; the other names the language.
    config = {} if rate == 16000 else {"speechConfig": {"languageCode": "en-US"}}
    job = {"mode": "voice", "rate": rate, "out": str(out), "config": config,
           "pcm": str(spoken(tmp_path, QUESTION, rate))}  # fmt: skip
    result = answered(run_client(openlive_server, job, transport))
    heard = " ".join(result["input"])
    assert sounds_like(QUESTION, heard), result
    # the fake model repeats the question: the answer's audio must say it back
    said = " ".join(result["output"])
    assert said.startswith("[messages=1]") and words(said)[1:] == words(heard), result
    assert result["flags"][-2:] == ["generationComplete", "turnComplete"], result
    assert "interrupted" not in result["flags"], result
    assert result["audio_bytes"] > 24000 * 2 * 1.0, result  # over a second of speech
    assert out.stat().st_size == result["audio_bytes"]
    assert sounds_like(heard, transcribe_24k(recognizer, out.read_bytes())), result


def test_manual_activity_marks_the_turn(openlive_server: Server, tmp_path: Path) -> None:
    """activityStart / activityEnd with automaticActivityDetection disabled (and a voice)."""
    config = {"speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}}
    job = {"mode": "manual", "rate": 16000, "config": config,
           "pcm": str(spoken(tmp_path, QUESTION))}  # fmt: skip
    result = answered(run_client(openlive_server, job))
    assert sounds_like(QUESTION, " ".join(result["input"])), result
    assert " ".join(result["output"]).startswith("[messages=1]"), result
    assert result["flags"][-2:] == ["generationComplete", "turnComplete"], result
    assert result["audio_bytes"] > 0, result


def test_barge_in_interrupts_and_the_next_turn_is_answered(
    openlive_server: Server, tmp_path: Path
) -> None:
    pcm = spoken(tmp_path, STORY)
    out = tmp_path / "second.pcm"
    over = spoken(tmp_path, "How far away is the moon from here?")  # a new question over it
    job = {"mode": "barge_in", "rate": 16000, "pcm": str(pcm), "pcm2": str(over),
           "out": str(out)}
    result = answered(run_client(openlive_server, job))
    first, second = result["first"], result["second"]
    assert first["audio_bytes"] > 0, result  # the talking-over started once audio arrived
    assert "interrupted" in first["flags"], result
    assert "generationComplete" not in first["flags"], result
    assert first["flags"][-1] == "turnComplete", result
    assert second["flags"][-2:] == ["generationComplete", "turnComplete"], result
    assert "interrupted" not in second["flags"], result
    assert second["audio_bytes"] > 0 and second["output"], result
    assert sounds_like("How far away is the moon from here?", " ".join(second["input"])), result


def test_text_turn(openlive_server: Server) -> None:
    """The program's TEXT mode (one clientContent turn, with a system instruction)."""
    job = {"mode": "text", "prompt": "hello there", "system": "Answer in one short sentence."}
    result = answered(run_client(openlive_server, job))
    assert result["text"] == "[messages=2] hello there", result
    usage = result["usage"]
    # whitespace words: 5 (system) + 2 (user) / 3 (reply)
    assert (usage["promptTokenCount"], usage["responseTokenCount"]) == (7, 3), result
    assert usage["totalTokenCount"] == 10, result


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["http", "https"])
def test_unknown_voice_is_refused(openlive_server: Server, tmp_path: Path, transport: str) -> None:
    config = {"speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Nobody"}}}}
    job = {"mode": "voice", "rate": 16000, "config": config,
           "pcm": str(spoken(tmp_path, QUESTION))}  # fmt: skip
    result = run_client(openlive_server, job, transport)
    err = result["error"]
    assert err is not None, f"expected close 1007, the session was answered: {result}"
    assert err["code"] == 1007, result
    assert "Nobody" in (err["reason"] or ""), result
    # an invalid setup is refused before setupComplete: connect() rejects
    assert not result["setup_complete"] and err["phase"] == "connect", result
    assert "Live connection closed before setup completed" in err["message"], result


@pytest.mark.parametrize("transport", ["http", "https"])
def test_wrong_audio_mime_type_is_refused(
    openlive_server: Server, tmp_path: Path, transport: str
) -> None:
    job = {"mode": "voice", "rate": 16000, "mime": "audio/wav",
           "pcm": str(spoken(tmp_path, QUESTION))}  # fmt: skip
    result = run_client(openlive_server, job, transport)
    err = result["error"]
    assert err is not None, f"expected close 1007, the session was answered: {result}"
    assert err["code"] == 1007, result
    reason = (err["reason"] or "").lower()
    assert "audio/pcm" in reason and "audio/wav" in reason, result
    assert result["setup_complete"] and err["phase"] == "receive", result
