"""Start-up: open the store, make sure a key and TLS material exist, load the engines,
then serve until told to stop. Says what it did, in words an operator can act on."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

from openlive.catalog import DEFAULT_BACKEND, ModelCatalog
from openlive.config import Settings
from openlive.engines.llm.factory import create_language_model
from openlive.engines.tools.factory import load_server_tools
from openlive.errors import OpenLiveError
from openlive.logs import say
from openlive.runtime.engines import EndOfTurnModel, Engines
from openlive.server.admission import Admission
from openlive.server.app import OpenLiveApp, Services
from openlive.server.auth import Authenticator
from openlive.server.listener import serve
from openlive.server.tls import ensure_certificates, server_ssl_context
from openlive.store.factory import open_store

log = logging.getLogger("openlive")


def _smart_turn() -> EndOfTurnModel:
    """Smart Turn from the cache, fetched there on first use like the other weights (one
    pip download of the wheel that carries it, when pipecat-ai is not installed)."""
    from openlive.engines.turn.smart_turn import SmartTurn

    return SmartTurn()


async def load_voice_engines(engines: Engines, *, asr: str, tts: str,
                             vad_batching: bool = True,
                             asr_options: Mapping[str, object] | None = None,
                             tts_options: Mapping[str, object] | None = None) -> None:
    """Load VAD, recognizer, synthesizer and end-of-turn model (off the event loop).

    Each is optional: a missing package or model disables what needs it, with a log line
    that says how to install it, and TEXT sessions keep working. With ``vad_batching``
    the VAD scores every session's frames on one worker thread, in batches; without, each
    frame on the event loop as it arrives. ``asr_options``/``tts_options`` go to the
    factories (a remote engine's URL, model, voices...).
    """
    try:
        from openlive.engines.asr.factory import create_speech_recognizer
        from openlive.engines.tts.factory import create_speech_synthesizer
        from openlive.engines.vad.silero import SharedSileroModel
        from openlive.runtime.vad_batcher import InlineVad, VadBatcher

        model = await asyncio.to_thread(SharedSileroModel)
        engines.asr = await asyncio.to_thread(create_speech_recognizer, asr,
                                              **dict(asr_options or {}))
        engines.tts = await asyncio.to_thread(create_speech_synthesizer, tts,
                                              **dict(tts_options or {}))
        # last: the batcher starts a thread, which nothing would stop if a load failed
        engines.vad = VadBatcher(model) if vad_batching else InlineVad(model)
    except (ImportError, OpenLiveError) as err:
        log.warning("voice disabled (audio in/out refused with 1008): %s; "
                    "install the default stack with `make install`", err)
        engines.vad = engines.asr = engines.tts = None
        return
    try:
        engines.end_of_turn = await asyncio.to_thread(_smart_turn)
    except (ImportError, OpenLiveError) as err:
        log.warning("semantic end of turn disabled (silence window only): %s", err)
    log.info("voice engines ready")


async def run_server(settings: Settings) -> None:
    """Serve with ``settings`` until SIGINT/SIGTERM."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.store or str(settings.data_dir / "openlive.db"))
    if settings.auth and not store.list_keys():
        _, secret = store.create_key("default")
        say("openlive: created the first API key (shown once; `openlive keys` manages keys):")
        say(f"  GEMINI_API_KEY={secret}")

    ssl_context = None
    scheme = "http"
    if settings.tls:
        if settings.tls_cert and settings.tls_key:
            ssl_context = server_ssl_context(settings.tls_cert, settings.tls_key)
            ca_hint = str(settings.tls_cert)
        else:
            files = ensure_certificates(settings.data_dir / "tls", settings.tls_hosts)
            ssl_context = server_ssl_context(files.cert, files.key)
            ca_hint = str(files.ca_cert)
            if files.created:
                say(f"openlive: created a local certificate authority at {files.ca_cert}")
        say("openlive: clients trust this server's TLS with:")
        say(f"  SSL_CERT_FILE={ca_hint}          (Python)")
        say(f"  NODE_EXTRA_CA_CERTS={ca_hint}    (Node)")

    if settings.voice:
        # llama.cpp's OpenMP threads spin-wait by default: fastest alone, but beside
        # speech recognition and synthesis on a small machine a 0.9 s prefill became 5 s
        # (bench notes). Passive waits cost ~40 % of decode speed on an idle machine, so
        # only voice servers use them. Must be set before llama.cpp loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    log.info("loading language model backend %r", settings.llm)
    model = create_language_model(settings.llm, **settings.llm_options())
    server_tools = load_server_tools(settings.server_tools)
    engines = Engines({DEFAULT_BACKEND: model}, server_tools=server_tools,
                      answer_ahead=settings.answer_ahead,
                      spoken_answer_chars=settings.spoken_answer_chars or None,
                      interim_every=settings.interim_every or None,
                      prefill=settings.prefill,
                      hosted_thinking=settings.hosted_thinking)
    for name in engines.server_tools:
        log.info("server-side tool: %s", name)
    if settings.voice:
        await load_voice_engines(engines, asr=settings.asr, tts=settings.tts,
                                 vad_batching=settings.vad_batching,
                                 asr_options=settings.asr_options(),
                                 tts_options=settings.tts_options())
    catalog = ModelCatalog().with_aliases({a: DEFAULT_BACKEND for a in settings.model_aliases})
    services = Services(
        catalog=catalog,
        engines=engines,
        auth=Authenticator(store if settings.auth else None),
        store=store if settings.auth else None,
        limits=settings.connection_limits(),
        resumption_ttl=settings.resumption_ttl,
        admission=Admission(max_sessions=settings.max_sessions,
                            shed_lag=settings.shed_lag_ms / 1000),
        playground=settings.playground,
    )
    app = OpenLiveApp(services)

    def ready(port: int) -> None:
        say(
            f"openlive: listening on {settings.host}:{port} "
            f"({'plain and TLS' if ssl_context else 'plain'}); "
            f"GOOGLE_GEMINI_BASE_URL={scheme}://{settings.host}:{port}"
        )

    try:
        await serve(
            app,
            host=settings.host,
            port=settings.port,
            ssl_context=ssl_context,
            ready=ready,
            log_level=settings.log_level,
            before_shutdown=lambda: app.drain(settings.shutdown_grace),
        )
    finally:
        await engines.aclose()
        store.close()
        log.info("stopped")
