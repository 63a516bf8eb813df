"""Voice engines on other servers, against real servers of both protocols.

The servers come from PyPI (``scripts/voice-servers.sh``) and run on the bundled weights
(Whisper base, Piper joe): wyoming-faster-whisper and wyoming-piper for Wyoming,
faster-whisper-server and local-tts-studio (Piper) for the OpenAI audio API. Each kind is
started once per run and shared.

* The engines: each recognizer hears a spoken question; each synthesizer's speech is
  heard again by the in-process Whisper; closing a synthesis hangs up on the server
  before its answer is complete; a server killed mid-answer is a clear, retryable error.
* openlive end to end, through the unmodified Python SDK: started with ``--asr
  wyoming://... --tts wyoming://...`` (and with the OpenAI kinds) it answers a spoken
  question aloud; a barge-in hangs up on the remote synthesis; a speech server that dies
  mid-answer closes that session with 1011 and a reason, while another session goes on,
  and once the server is back new sessions are answered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from openlive.engines.asr.factory import create_speech_recognizer
from openlive.engines.scheduler import Priority
from openlive.engines.tts.factory import create_speech_synthesizer
from openlive.errors import EngineError
from tests.conformance import voice_servers as vs
from tests.conformance.conftest import Server, running_server
from tests.conformance.speech import sounds_like, spoken, transcribe_24k, words
from tests.conformance.test_voice_and_realmodel import OTHER_QUESTION, QUESTION, run_client

pytestmark = [pytest.mark.conformance]

# Piper joe speaks 22 050 Hz 16-bit mono: this many bytes a second is real time.
REAL_TIME = 22050 * 2
LONG_TEXT = ("The history of France is long. It starts with the Gauls, goes on with the "
             "Romans and the Franks, and comes to the kings, the revolution and the "
             "republics that followed one another until today.")


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voice-servers")


@contextlib.contextmanager
def _shared(name: str, work: Path) -> Iterator[vs.SpeechServer]:
    with vs.running(name, work / name) as server:
        yield server


@pytest.fixture(scope="session")
def wyoming_asr(servers_dir: Path) -> Iterator[vs.SpeechServer]:
    with _shared("wyoming-faster-whisper", servers_dir) as server:
        yield server


@pytest.fixture(scope="session")
def wyoming_tts(servers_dir: Path) -> Iterator[vs.SpeechServer]:
    with _shared("wyoming-piper", servers_dir) as server:
        yield server


@pytest.fixture(scope="session")
def openai_asr(servers_dir: Path) -> Iterator[vs.SpeechServer]:
    with _shared("faster-whisper-server", servers_dir) as server:
        yield server


@pytest.fixture(scope="session")
def openai_tts(servers_dir: Path) -> Iterator[vs.SpeechServer]:
    with _shared("local-tts-studio", servers_dir) as server:
        yield server


def _asr(server: vs.SpeechServer, url: str | None = None) -> Any:
    if server.kind == "wyoming":
        return create_speech_recognizer(url or server.url)
    return create_speech_recognizer("openai", url=url or server.url)


def _tts(server: vs.SpeechServer, url: str | None = None) -> Any:
    if server.kind == "wyoming":
        return create_speech_synthesizer(url or server.url)
    # local-tts-studio's pcm is at the voice's 22 050 Hz, not OpenAI's 24 kHz: ask for wav
    return create_speech_synthesizer("openai", url=url or server.url, response_format="wav")


def _url(server: vs.SpeechServer, port: int) -> str:
    """``server``'s URL with another port (a proxy's)."""
    return server.url.replace(f":{server.port}", f":{port}")


async def _speak(tts: Any, text: str) -> bytes:
    out = b""
    async for chunk in tts.synthesize(text, voice="Puck"):
        assert 0 < len(chunk) <= 4800, len(chunk)  # at most 100 ms of 24 kHz 16-bit
        out += chunk
    return out


# -- the engines ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wyoming", "openai"])
def test_remote_recognizer_hears_a_spoken_question(kind: str, request: pytest.FixtureRequest,
                                                   tmp_path: Path) -> None:
    server = request.getfixturevalue(f"{kind}_asr")
    pcm = spoken(tmp_path, QUESTION).read_bytes()

    async def run() -> Any:
        asr = _asr(server)
        try:
            return await asr.transcribe(pcm, language="en-US", priority=Priority.WAITING)
        finally:
            await asr.aclose()

    transcript = asyncio.run(run())
    assert sounds_like(QUESTION, transcript.text), transcript
    assert transcript.language == "en" and transcript.final


@pytest.mark.parametrize("kind", ["wyoming", "openai"])
def test_remote_synthesizer_speaks_24khz_that_is_heard_again(
        kind: str, request: pytest.FixtureRequest, recognizer: Any) -> None:
    server = request.getfixturevalue(f"{kind}_tts")

    async def run() -> bytes:
        tts = _tts(server)
        try:
            return await _speak(tts, QUESTION)
        finally:
            await tts.aclose()

    pcm = asyncio.run(run())
    # espeak says it in about 1.8 s; Piper a little faster or slower, never half or double
    assert 1.0 < len(pcm) / 48000 < 4.0, len(pcm)
    assert sounds_like(QUESTION, transcribe_24k(recognizer, pcm))


@pytest.mark.parametrize("kind", ["wyoming", "openai"])
def test_closing_a_synthesis_hangs_up_before_the_server_is_done(
        kind: str, request: pytest.FixtureRequest) -> None:
    """The consumer stops after the first chunk (a barge-in); the server, slowed to real
    time by the proxy, had more to send: the connection is closed on it at once."""
    server = request.getfixturevalue(f"{kind}_tts")
    proxy = vs.Proxy(server.port, rate=REAL_TIME)

    async def run() -> float:
        tts = _tts(server, _url(server, proxy.port))
        try:
            stream = tts.synthesize(LONG_TEXT, voice="Kore")
            await anext(stream)
            stopped = time.monotonic()
            await stream.aclose()
            return stopped
        finally:
            await tts.aclose()

    try:
        stopped = asyncio.run(run())
        link = proxy.links[-1]
        assert link.done.wait(5), "the connection stayed open"
        assert link.at_hangup is not None, "the server ended first: nothing was cancelled"
        assert time.monotonic() - stopped < 5
        if kind == "wyoming":
            assert "audio-chunk" in link.wyoming_events(link.at_hangup)
            assert not vs.wyoming_answered(link, link.at_hangup)
        else:
            assert not vs.http_complete(link.at_hangup)
    finally:
        proxy.close()


def test_a_wyoming_server_killed_mid_answer_is_a_clear_retryable_error(
        tmp_path: Path, wyoming_tts: vs.SpeechServer) -> None:
    """Its own wyoming-piper dies after the first chunk; the shared one, used at the same
    time by another synthesizer, is not disturbed."""
    doomed = vs.start("wyoming-piper", tmp_path / "doomed")
    proxy = vs.Proxy(doomed.port, rate=REAL_TIME)

    async def run() -> tuple[EngineError, bytes]:
        tts, other = _tts(doomed, _url(doomed, proxy.port)), _tts(wyoming_tts)
        try:
            stream = tts.synthesize(LONG_TEXT, voice="Puck")
            await anext(stream)
            doomed.kill()
            meanwhile = asyncio.create_task(_speak(other, "Still here."))
            with pytest.raises(EngineError) as failed:
                async for _ in stream:
                    pass
            return failed.value, await meanwhile
        finally:
            await tts.aclose()
            await other.aclose()

    try:
        error, other_speech = asyncio.run(run())
    finally:
        proxy.close()
        doomed.stop()
    assert error.retryable
    assert f"127.0.0.1:{proxy.port}" in str(error) and "mid-answer" in str(error), error
    assert len(other_speech) > 24000  # half a second and more

    async def again() -> EngineError:  # nobody listens there any more
        tts = _tts(doomed)
        try:
            with pytest.raises(EngineError) as refused:
                await _speak(tts, "Hello.")
            return refused.value
        finally:
            await tts.aclose()

    refused = asyncio.run(again())
    assert refused.retryable and "cannot reach" in str(refused), refused


def test_an_openai_server_killed_mid_request_is_a_clear_retryable_error(
        tmp_path: Path) -> None:
    """faster-whisper-server dies once the whole upload is in, while it decodes."""
    doomed = vs.start("faster-whisper-server", tmp_path / "doomed")
    proxy = vs.Proxy(doomed.port)
    pcm = spoken(tmp_path, LONG_TEXT).read_bytes()

    async def run() -> EngineError:
        asr = _asr(doomed, _url(doomed, proxy.port))
        try:
            task = asyncio.create_task(asr.transcribe(pcm))
            # the multipart body ends with its closing boundary: then the decode is on
            while not (proxy.links and proxy.links[-1].sent.endswith(b"--\r\n")):
                await asyncio.sleep(0.005)
            doomed.kill()
            with pytest.raises(EngineError) as failed:
                await task
            return failed.value
        finally:
            await asr.aclose()

    try:
        error = asyncio.run(run())
    finally:
        proxy.close()
        doomed.stop()
    assert error.retryable and f"127.0.0.1:{proxy.port}/v1/audio" in str(error), error


# -- openlive end to end -------------------------------------------------------------------


@pytest.fixture(scope="session")
def tts_proxy(wyoming_tts: vs.SpeechServer) -> Iterator[vs.Proxy]:
    """The shared wyoming-piper seen through a proxy that gives its speech at a third of
    real time, as an overloaded server does, so that a barge-in comes while it still
    speaks: confirming a barge-in takes a recognition, seconds with these servers here."""
    proxy = vs.Proxy(wyoming_tts.port, rate=REAL_TIME / 3)
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def wyoming_openlive(tmp_path_factory: pytest.TempPathFactory, wyoming_asr: vs.SpeechServer,
                     tts_proxy: vs.Proxy) -> Iterator[Server]:
    with running_server(tmp_path_factory, "tests.fakes.llm:create",
                        ("--asr", wyoming_asr.url,
                         "--tts", f"wyoming://127.0.0.1:{tts_proxy.port}")) as server:
        yield server


@pytest.fixture(scope="session")
def openai_openlive(tmp_path_factory: pytest.TempPathFactory, openai_asr: vs.SpeechServer,
                    openai_tts: vs.SpeechServer) -> Iterator[Server]:
    with running_server(tmp_path_factory, "tests.fakes.llm:create",
                        ("--asr", "openai", "--asr-url", openai_asr.url,
                         "--tts", "openai", "--tts-url", openai_tts.url,
                         "--tts-format", "wav")) as server:
        yield server


@pytest.mark.parametrize("kind", ["wyoming", "openai"])
def test_openlive_on_remote_engines_answers_a_spoken_question(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path, recognizer: Any) -> None:
    server = request.getfixturevalue(f"{kind}_openlive")
    out = tmp_path / "answer.pcm"
    result = run_client(server, {"mode": "voice", "rate": 16000, "out": str(out),
                                 "pcm": str(spoken(tmp_path, QUESTION)),
                                 "config": {"speech_config": {"language_code": "en-US"}}})
    heard = " ".join(result["input"])
    assert sounds_like(QUESTION, heard), result
    # the fake model says the question back: the remote voice must say it too
    said = " ".join(result["output"])
    assert said.startswith("[messages=1]") and words(said)[1:] == words(heard), result
    assert result["flags"][-2:] == ["generation_complete", "turn_complete"], result
    assert sounds_like(heard, transcribe_24k(recognizer, out.read_bytes())), result


def test_a_barge_in_hangs_up_on_the_remote_synthesis(wyoming_openlive: Server,
                                                     tts_proxy: vs.Proxy,
                                                     tmp_path: Path) -> None:
    before = len(tts_proxy.links)
    pcm = spoken(tmp_path, "Tell me everything you know about the history of France.")
    result = run_client(wyoming_openlive, {"mode": "barge_in", "rate": 16000, "pcm": str(pcm),
                                           "pcm2": str(spoken(tmp_path, OTHER_QUESTION))})
    first, second = result["first"], result["second"]
    assert "interrupted" in first["flags"], result
    assert second["flags"][-2:] == ["generation_complete", "turn_complete"], result
    links = tts_proxy.links[before:]
    cut = [link for link in links if b'"synthesize' in link.sent
           and link.at_hangup is not None and not vs.wyoming_answered(link, link.at_hangup)]
    assert cut, [link.wyoming_events() for link in links]


def test_a_speech_server_that_dies_closes_that_session_only(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
        wyoming_asr: vs.SpeechServer) -> None:
    """wyoming-piper is killed as the request for the answer's speech reaches it: that
    session is closed with 1011 and a reason (after the retries found nobody there); a
    text session on the same openlive is answered meanwhile; once the server is back on
    its port, a new voice session is answered."""
    work = tmp_path / "tts"
    tts = vs.start("wyoming-piper", work)
    proxy = vs.Proxy(tts.port)
    state = {"tts": tts}
    stop = threading.Event()

    def kill_on_first_request() -> None:
        while not stop.is_set():
            if any(b'"synthesize' in link.sent for link in proxy.links):
                state["tts"].kill()
                return
            time.sleep(0.005)

    try:
        with running_server(tmp_path_factory, "tests.fakes.llm:create",
                            ("--asr", wyoming_asr.url,
                             "--tts", f"wyoming://127.0.0.1:{proxy.port}")) as server:
            watcher = threading.Thread(target=kill_on_first_request, daemon=True)
            watcher.start()
            pcm = spoken(tmp_path, QUESTION)
            with ThreadPoolExecutor(2) as pool:
                voice = pool.submit(run_client, server, {"mode": "voice", "rate": 16000,
                                                         "pcm": str(pcm), "report_close": True})
                voice_result = voice.result(timeout=240)
                text = pool.submit(run_client, server, {"mode": "text", "prompt": "still there"})
                text_result = text.result(timeout=120)
            assert voice_result.get("close"), voice_result
            assert voice_result["close"]["code"] == 1011, voice_result
            assert "speech synthesis failed" in voice_result["close"]["reason"], voice_result
            assert "[messages=1] still there" in text_result["text"], text_result

            state["tts"] = vs.start("wyoming-piper", work, port=tts.port)  # back, same port
            again = run_client(server, {"mode": "voice", "rate": 16000, "pcm": str(pcm)})
            assert again["flags"][-2:] == ["generation_complete", "turn_complete"], again
            assert again["audio_bytes"] > 48000, again
    finally:
        stop.set()
        proxy.close()
        state["tts"].stop()
