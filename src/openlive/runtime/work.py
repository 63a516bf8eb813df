"""The engine work a session's actions ask for, as coroutines that report events.

Each function runs one piece of work for the driver (:mod:`~openlive.runtime.driver`)
and returns (or, for a generation, feeds) the events the session is to see; failures
become the session's failure events, retryable engine errors are retried first
(:mod:`~openlive.runtime.retry`), and every call names its session to the scheduler
(:func:`~openlive.engines.scheduler.set_requester`) so that sessions take turns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import assert_never

import orjson

from openlive import metrics
from openlive.audio.prosody import Prosody, measure_prosody
from openlive.audio.words import shifted
from openlive.engines.asr.base import SpeechRecognizer
from openlive.engines.llm.base import (
    Finished,
    LanguageModel,
    LlmEvent,
    MalformedToolCall,
    PrefillingModel,
    RelevanceJudge,
    TextDelta,
    ThoughtDelta,
    ToolCallsRequested,
)
from openlive.engines.scheduler import Priority, set_requester
from openlive.engines.tools.base import ServerTool
from openlive.errors import ContextOverflow, EngineError
from openlive.runtime import retry
from openlive.runtime.engines import EndOfTurnModel
from openlive.session.actions import (
    JudgeRelevance,
    Prefill,
    RunServerTool,
    StartGeneration,
    Transcribe,
)
from openlive.session.events import (
    EndOfTurnScored,
    Event,
    GenerationDelta,
    GenerationFailed,
    GenerationFinished,
    GenerationMalformedCall,
    GenerationThought,
    GenerationToolCalls,
    RelevanceJudged,
    ServerToolFinished,
    TranscriptionFailed,
    TranscriptReady,
)

SERVER_TOOL_TIMEOUT = 30.0  # seconds a server-side tool may take before it counts as failed

log = logging.getLogger("openlive.session")


async def transcribe(asr: SpeechRecognizer, pcm: bytes, action: Transcribe,
                     session_id: str, start: float | None = None, echo: float = 0.0
                     ) -> TranscriptReady | TranscriptionFailed:
    """Recognize ``pcm``, the audio ``action`` names (from audio time ``start``:
    ``action.start`` unless the oldest of it was no longer kept), and measure how it was
    said when the action asks (on a worker thread, while the recognizer runs); ``echo``:
    how much of it is the server's own voice coming back, passed on with the words."""
    prosody = asyncio.ensure_future(asyncio.to_thread(measure_prosody, pcm)
                                    if action.prosody else _nothing())
    try:
        heard = await _recognize(asr, pcm, action, session_id,
                                 action.start if start is None else start)
    finally:
        measured = await prosody
    if isinstance(heard, TranscriptReady) and measured is not None:
        log.info("session %s: said with %s", session_id, describe(measured))
        heard = replace(heard, prosody=measured)
    if isinstance(heard, TranscriptReady) and echo > 0.0:
        log.info("session %s: %.0f%% of that was the answer coming back", session_id,
                 100 * echo)
        heard = replace(heard, echo=echo)
    return heard


async def _nothing() -> None:
    return None


def describe(prosody: Prosody) -> str:
    """The measured manner of an utterance, for the log."""
    pitch = f"{prosody.pitch_hz:.0f} Hz" if prosody.pitch_hz is not None else "no pitch"
    spread = (f"(range {prosody.pitch_range:.1f} st)" if prosody.pitch_range is not None
              else "")
    pace = (f"{prosody.syllable_rate:.1f} syll/s" if prosody.syllable_rate is not None
            else "no pace")
    return (f"{prosody.level_db:.1f} dBFS, {pitch} {spread}, {pace}, "
            f"{prosody.seconds:.2f} s of speech")


async def _recognize(asr: SpeechRecognizer, pcm: bytes, action: Transcribe,
                     session_id: str, start: float) -> TranscriptReady | TranscriptionFailed:
    set_requester(session_id)
    # a partial at a pause may be thrown away; a final is what the user waits for; the
    # words while the user speaks only make things faster
    priority = {"final": Priority.WAITING, "partial": Priority.REVISABLE,
                "interim": Priority.SPECULATIVE}[action.kind]
    # asked only when the session wants them: a recognizer written before word timings
    # (a plugin) still serves every other session
    timings = {"words": True} if action.word_timings else {}
    try:
        result = await retry.call(
            lambda: asr.transcribe(pcm, language=action.language, expected=action.expected,
                                   languages=action.languages, priority=priority,
                                   prompt=action.prompt, **timings),
            f"session {session_id}: recognition", engine="asr")
    except EngineError as err:
        log.error("session %s: recognition failed: %s", session_id, err)
        metrics.ENGINE_ERRORS.labels(engine="asr").inc()
        return TranscriptionFailed(action.turn_id, "speech recognition failed.")
    log.info("session %s: heard %r", session_id, result.text)
    return TranscriptReady(action.turn_id, result.text, result.language, action.end,
                           start=start, words=shifted(result.words, start))


async def score_end_of_turn(model: EndOfTurnModel, pcm: bytes, turn_id: int,
                            session_id: str) -> EndOfTurnScored | None:
    """Whether the user is done, from the audio of their turn; None if the model failed
    (the silence window still ends the turn)."""
    set_requester(session_id)
    try:
        probability = await model.predict(pcm)
    except EngineError as err:
        log.warning("session %s: end-of-turn model failed: %s", session_id, err)
        metrics.ENGINE_ERRORS.labels(engine="end_of_turn").inc()
        return None
    return EndOfTurnScored(turn_id, probability)


async def call_server_tool(tool: ServerTool | None, action: RunServerTool,
                           session_id: str) -> ServerToolFinished:
    """Run a built-in tool's function server-side; any failure is its result."""
    try:
        if tool is None:
            raise LookupError(f"no server-side {action.tool} is configured")
        response = await asyncio.wait_for(tool.call(action.name, action.arguments),
                                          SERVER_TOOL_TIMEOUT)
        result = orjson.dumps(dict(response)).decode()
        log.info("session %s: server tool %s.%s answered", session_id, action.tool,
                 action.name)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of an operator's tool
        message = "timed out" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
        log.warning("session %s: server tool %s.%s failed: %s", session_id, action.tool,
                    action.name, message)
        metrics.ENGINE_ERRORS.labels(engine="server_tool").inc()
        result = orjson.dumps({"error": message}).decode()
    return ServerToolFinished(action.call_id, result)


async def prefill(model: PrefillingModel, action: Prefill, *, session_id: str) -> None:
    """Evaluate ``action``'s prompt ahead of the answer; a failure only costs the time
    the answer will take to evaluate it itself."""
    set_requester(session_id)
    try:
        await model.prefill(action.request, priority=Priority.SPECULATIVE)
    except ContextOverflow as err:  # the answer will say so; the model is fine
        log.info("session %s: prefill skipped: %s", session_id, err)
    except EngineError as err:
        log.info("session %s: prefill skipped: %s", session_id, err)
        metrics.ENGINE_ERRORS.labels(engine="llm").inc()


async def judge_relevance(model: LanguageModel | None, action: JudgeRelevance, *,
                          session_id: str) -> RelevanceJudged:
    """Whether the user's words are for the model (proactive audio). A model that cannot
    judge, or fails to, answers: staying silent by mistake is the worse error."""
    set_requester(session_id)
    if not isinstance(model, RelevanceJudge):
        return RelevanceJudged(action.judge_id, 1.0)
    try:
        relevance = await model.judge_relevance(action.request, priority=Priority.WAITING)
    except EngineError as err:
        log.warning("session %s: relevance not judged, answering: %s", session_id, err)
        return RelevanceJudged(action.judge_id, 1.0)
    log.info("session %s: relevance %.2f", session_id, relevance.probability)
    return RelevanceJudged(action.judge_id, relevance.probability, relevance.prompt_tokens)


async def generate(model: LanguageModel, action: StartGeneration, feed: Callable[[Event], None],
                   *, session_id: str, clock: Callable[[], float]) -> None:
    """Stream the model's answer to ``action``, feeding each step as an event."""
    gid, started, first = action.generation_id, clock(), True
    set_requester(session_id)
    # an answer ahead is thrown away if the user goes on: after work someone waits for
    priority = Priority.SPECULATIVE if action.speculative else Priority.WAITING
    events = retry.stream(lambda: model.stream(action.request, priority=priority),
                          f"session {session_id}: generation", engine="llm")
    try:
        async for event in events:
            if first and isinstance(event, TextDelta):
                first = False
                metrics.GENERATION_FIRST_TOKEN.labels(action.backend).observe(clock() - started)
            feed(_session_event(gid, event, action.backend, session_id))
    except ContextOverflow as err:
        log.info("session %s: input too large: %s", session_id, err)
        feed(GenerationFailed(gid, str(err), too_large=True))
    except EngineError as err:
        log.error("session %s: generation failed: %s", session_id, err)
        metrics.ENGINE_ERRORS.labels(engine="llm").inc()
        feed(GenerationFailed(gid, "the language model failed."))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("session %s: generation crashed", session_id)
        metrics.ENGINE_ERRORS.labels(engine="llm").inc()
        feed(GenerationFailed(gid, "the language model failed."))


def _session_event(gid: int, event: LlmEvent, backend: str, session_id: str) -> Event:
    """What the session hears of one step of a generation (logged and counted here)."""
    match event:
        case TextDelta(text=text):
            return GenerationDelta(gid, text)
        case ThoughtDelta(text=text):
            return GenerationThought(gid, text)
        case ToolCallsRequested(calls=calls, rejected=rejected):
            log.info("session %s: the model calls %s", session_id,
                     ", ".join(call.name for call in calls))
            if rejected:
                log.info("session %s: rejected call attempts: %s", session_id,
                         "; ".join(rejected))
            return GenerationToolCalls(gid, calls)
        case MalformedToolCall(reasons=reasons):
            log.warning("session %s: malformed function call: %s", session_id,
                        "; ".join(reasons))
            return GenerationMalformedCall(gid, reasons)
        case Finished():
            metrics.TOKENS_TOTAL.labels(backend, "prompt").inc(event.prompt_tokens)
            metrics.TOKENS_TOTAL.labels(backend, "response").inc(event.completion_tokens)
            if event.thoughts_tokens:
                metrics.TOKENS_TOTAL.labels(backend, "thoughts").inc(event.thoughts_tokens)
            return GenerationFinished(gid, event.prompt_tokens, event.completion_tokens,
                                      cached_tokens=event.cached_tokens,
                                      thoughts_tokens=event.thoughts_tokens)
        case _:
            assert_never(event)

