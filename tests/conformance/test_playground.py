"""The browser playground (``GET /``) in headless Chromium, driven by Playwright.

Debian's ``chromium`` (scripts/test.sh installs it) is launched by Playwright with
``executable_path``: nothing is downloaded. Its fake microphone plays a WAV file made by
espeak-ng, so the page's whole voice path runs: getUserMedia, the AudioWorklet's 16 kHz
PCM over the Live protocol, transcripts, playback of the 24 kHz answer, the latency
table. The page gets its token as a page on the server's machine does (no key typed).

* the real default models answer a spoken question (one real-model server per run);
* the fake model: a typed turn with the function-calling demo answered by the page, and
  a spoken answer interrupted by a new turn, which stops what had not played yet.

A screenshot of the real-model run is written to the test's tmp dir (its path is printed)
and, with ``OPENLIVE_PLAYGROUND_SCREENSHOT=<file>``, there too (docs/playground.png was
made so).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import Server
from tests.conformance.speech import sounds_like, words

pytestmark = [pytest.mark.conformance]
CHROMIUM = os.environ.get("OPENLIVE_CHROMIUM", "/usr/bin/chromium")
QUESTION = "What is the capital of France?"
TIMEOUT_MS = 120_000  # the real models on a shared 2-core machine


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (scripts/test.sh installs it)")
    pytest.skip(what)


def question_wav(tmp_path: Path, text: str) -> Path:
    """``text`` spoken by espeak-ng, 16 kHz mono, with 1 s of silence before (the page
    connects its microphone) and 4 s after (the fake device then falls silent)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        _missing("espeak-ng and sox are needed")
    raw, wav = tmp_path / "question-raw.wav", tmp_path / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav),
                    "pad", "1", "4"], check=True)
    return wav


@contextlib.contextmanager
def playground(server: Server, microphone: Path | None = None) -> Iterator[Any]:
    """A Playwright page on the server's playground, in Debian's headless Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            "--autoplay-policy=no-user-gesture-required"]
    if microphone is not None:
        args.append(f"--use-file-for-fake-audio-capture={microphone}%noloop")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{server.base_url('http')}/")
            page.wait_for_function("document.querySelector('#voice').options.length === 30")
            yield page
            assert not errors, errors
        finally:
            browser.close()


def connect(page: Any, modality: str = "AUDIO") -> None:
    page.select_option("#modality", modality)
    page.click("#connect")
    page.wait_for_selector("#status[data-state=open]")


def playground_state(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("""() => { const s = window.openlivePlayground;
        return {audio: s.audioSeconds, dropped: s.droppedSeconds, interims: s.interims,
                playing: s.out.sources.size, clock: s.out.ctx.currentTime,
                context: s.out.ctx.state}; }"""))


@pytest.mark.realmodel
def test_the_playground_answers_a_spoken_question(real_server: Server, tmp_path: Path) -> None:
    with playground(real_server, question_wav(tmp_path, QUESTION)) as page:
        connect(page)
        page.click("#mic")
        # the server's stages are filled in after the turn is complete
        row = page.wait_for_selector("#latency tbody tr[data-server-first-audio-ms]")
        page.wait_for_timeout(1500)  # a little of the answer is heard
        heard = page.inner_text("#log li.user .text")
        said = page.inner_text("#log li.model .text")
        first_audio_ms = int(row.get_attribute("data-first-audio-ms"))
        server_ms = float(row.get_attribute("data-server-first-audio-ms"))
        cells = [td.inner_text() for td in row.query_selector_all("td")]
        state = playground_state(page)
        shot = tmp_path / "playground.png"
        page.screenshot(path=str(shot), full_page=True)
    print(f"playground screenshot: {shot}")
    if os.environ.get("OPENLIVE_PLAYGROUND_SCREENSHOT"):
        shutil.copy(shot, os.environ["OPENLIVE_PLAYGROUND_SCREENSHOT"])
    assert sounds_like(QUESTION, heard), heard
    # words recognized before the turn's transcript (interimInputTranscription) were shown
    assert state["interims"] >= 1, state
    assert "paris" in words(said), said  # the spoken answer's transcript
    assert state["audio"] > 1.0 and state["context"] == "running", state  # it played
    assert state["clock"] > 1.0, state
    # end of speech → first audio, measured by the page and by the server, both shown
    assert 0 < first_audio_ms < 30_000, cells
    assert 0 < server_ms < 30_000, cells
    assert all(cell.endswith(" ms") for cell in cells[1:3]), cells
    assert cells[-1].endswith(" ms") and cells[3].endswith(" ms"), cells


def test_a_typed_turn_calls_the_pages_tool(openlive_server: Server) -> None:
    """TEXT modality, text input and the function-calling demo: the fake model calls
    get_weather, the page answers, the model's reply quotes the page's result."""
    with playground(openlive_server) as page:
        page.check("#tools")
        connect(page, "TEXT")
        page.fill("#text", 'Checking. call: get_weather {"city": "Paris"}')
        page.click("#send")
        page.wait_for_function("[...document.querySelectorAll('#log li.model')]"
                               ".some(li => li.textContent.includes('returned'))")
        tool = page.inner_text("#log li.tool")
        replies = [li.inner_text() for li in page.query_selector_all("#log li.model .text")]
        row = page.inner_text("#latency tbody tr")
    assert "get_weather" in tool and '"city":"Paris"' in tool.replace(" ", ""), tool
    assert replies[0] == "Checking.", replies
    assert "get_weather returned" in replies[-1] and "Paris" in replies[-1], replies
    assert row.startswith("1 (typed)"), row


def test_interrupted_stops_the_answer_playing(openlive_server: Server) -> None:
    """A spoken answer (fake model, real synthesizer) is interrupted by a new typed turn:
    the page drops the audio it had received but not played."""
    with playground(openlive_server) as page:
        connect(page, "AUDIO")
        # 0.2 s a word (``slow:``): the answer is still being made when it is interrupted
        page.fill("#text", "slow: One, two, three. Four, five, six. Seven, eight, nine. "
                           "Ten, eleven, twelve. Thirteen, fourteen, fifteen. Sixteen, "
                           "seventeen, eighteen. Nineteen, twenty, twenty-one.")
        page.click("#send")
        page.wait_for_function("window.openlivePlayground.audioSeconds > 1.0")
        page.fill("#text", "stop")
        page.click("#send")
        page.wait_for_function("[...document.querySelectorAll('#log li.event')]"
                               ".some(li => li.textContent.includes('interrupted'))")
        state = playground_state(page)
    assert state["dropped"] > 0.1, state  # queued audio that would have played on
    assert state["playing"] == 0, state
