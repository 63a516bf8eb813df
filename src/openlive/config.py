"""Server settings: one typed object, filled from CLI flags or OPENLIVE_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from openlive.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    tls: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_hosts: tuple[str, ...] = ()
    auth: bool = True
    llm: str = "llamacpp"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_context: int = 4096
    llm_threads: int | None = None  # None: all cores, or one fewer when voice is on
    llm_vision: bool = False  # the OpenAI-compatible model takes images (video frames)
    model_aliases: tuple[str, ...] = ()
    voice: bool = True
    vad_batching: bool = True  # False: each VAD frame scored on the event loop (baseline)
    answer_ahead: bool = True  # answer a voice turn during its pause, held until it ends
    asr: str = "whisper"
    tts: str = "piper"
    log_level: str = "info"
    connection_lifetime: float = 600.0  # seconds; 0 = no limit
    go_away_before: float = 60.0
    shutdown_grace: float = 10.0
    audio_session_limit: float = 900.0  # seconds without compression; 0 = no limit
    video_session_limit: float = 120.0
    resumption_ttl: float = 7200.0  # seconds a session handle stays valid (as the Live API)
    store: str | None = None  # redis://… or a SQLite path; None: <data_dir>/openlive.db
    server_tools: tuple[str, ...] = ()  # module:factory of built-in tools run server-side
    max_sessions: int = 0  # concurrent Live sessions; 0 = no fixed cap
    shed_lag_ms: float = 150.0  # refuse new sessions past this event-loop lag; 0 = never

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together.")
        if self.llm == "openai" and not self.llm_url:
            raise ConfigError("--llm openai needs --llm-url (e.g. http://127.0.0.1:8000/v1).")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port} is not a TCP port.")

    def llm_options(self) -> dict[str, object]:
        """Options for the language-model factory, by backend."""
        if self.llm == "llamacpp":
            return {"model_path": self.llm_model, "n_ctx": self.llm_context,
                    "n_threads": self.llm_threads or self._default_llm_threads()}
        if self.llm == "openai":
            return {
                "base_url": self.llm_url,
                "model": self.llm_model or "default",
                "api_key": self.llm_api_key,
                "vision": self.llm_vision,
            }
        return {}

    def _default_llm_threads(self) -> int:
        # Measured on 2 cores: with 2 decode threads, any concurrent work (recognition,
        # synthesis, the client) drops decoding from ~25 to 3-12 tok/s; one thread keeps a
        # steady ~16 tok/s, several times faster than speech. Text-only servers use all.
        cores = len(os.sched_getaffinity(0))
        return max(1, cores - 1) if self.voice else cores
