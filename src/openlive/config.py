"""Server settings: each declared once, here, with its type, default and help.

Everything else follows from this declaration: the ``openlive serve`` flags
(:mod:`openlive.cli_options`), the ``OPENLIVE_*`` environment variables (pydantic-settings,
one prefix), the keys of a ``--config`` TOML file and ``--print-config``
(:mod:`openlive.config_file`), and ``docs/configuration.md``
(:mod:`openlive.config_reference`). One name per setting: ``port`` is ``--port``,
``OPENLIVE_PORT`` and ``port = 8080`` in the file; a list setting such as ``tls_hosts``
has a repeatable singular flag, ``--tls-host``.

:func:`load_settings` layers the sources, highest first: command-line flags, environment
variables, the config file, the defaults. ``Settings(...)`` itself reads keyword
arguments over ``OPENLIVE_*`` over the defaults.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, FilePath, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from openlive.chat import DEFAULT_CONTEXT_WINDOW
from openlive.config_file import MASK, read_config_file, toml_value
from openlive.errors import ConfigError
from openlive.session.lifetime import (
    LIVE_AUDIO_SESSION_LIMIT,
    LIVE_CONNECTION_LIFETIME,
    LIVE_GO_AWAY_BEFORE,
    LIVE_VIDEO_SESSION_LIMIT,
    ConnectionLimits,
)

ENV_PREFIX = "OPENLIVE_"

Origin = Literal["flag", "env"] | Path  # where a value was given: a flag, a variable, a file

log = logging.getLogger("openlive")


@dataclass(frozen=True, slots=True)
class Cli:
    """How a setting shows on the command line and in the docs, beyond its name and help.

    ``group`` heads its section of ``--help``; ``flag`` replaces ``--field-name`` (list
    settings take a singular, repeatable flag); ``shown_default`` says what a computed or
    unset default means; ``secret`` masks the value in ``--print-config``.
    """

    group: str
    flag: str | None = None
    shown_default: str | None = None
    secret: bool = False


SERVER = Cli("Server")
TLS = Cli("TLS")
LLM = Cli("Language model")
VOICE = Cli("Voice")
SESSIONS = Cli("Sessions")

# A list from the environment or a file may be one string: words split on spaces or commas.
Words = Annotated[tuple[str, ...], NoDecode]
Seconds = Annotated[float, Field(ge=0)]


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "openlive"


class Settings(BaseSettings):
    """Every setting of ``openlive serve``; immutable once made.

    ``Settings(port=9000)`` takes keyword arguments over ``OPENLIVE_*`` variables over
    the defaults; :func:`load_settings` adds the command line and a config file.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True
    )

    # --- Server
    host: Annotated[str, SERVER] = Field(
        "127.0.0.1", description="Interface to listen on (0.0.0.0 for every interface).")
    port: Annotated[int, SERVER] = Field(
        8080, description="The one port for HTTP, WebSocket and TLS (the first byte tells which).")
    data_dir: Annotated[Path, Cli("Server", shown_default="$XDG_DATA_HOME/openlive")] = Field(
        default_factory=_default_data_dir,
        description="Where keys, TLS material and the store live.")
    auth: Annotated[bool, SERVER] = Field(True, description="Require an API key (on by default).")
    store: Annotated[str | None, Cli("Server", shown_default="DATA_DIR/openlive.db")] = Field(
        None, description="Where keys, tokens and sessions live: redis://host:6379/0 for "
        "several nodes, or a SQLite file.")
    log_level: Annotated[Literal["debug", "info", "warning", "error"], SERVER] = Field(
        "info", description="How much the server logs.")
    log_format: Annotated[Literal["text", "json"], SERVER] = Field(
        "text", description="Log lines for people (text) or one JSON object a line for a "
        "log collector (json: time, level, logger, message, and session_id on every line "
        "logged inside a session).")
    playground: Annotated[bool, SERVER] = Field(
        True, description="Serve the browser playground at / (docs/playground.md). With "
        "--auth, only a page opened on this machine (at localhost) gets a token without a "
        "key; elsewhere the user pastes one.")

    # --- TLS
    tls: Annotated[bool, TLS] = Field(
        True, description="Also accept TLS on the port (the Python SDK always uses TLS for Live).")
    tls_cert: Annotated[FilePath | None, TLS] = Field(
        None, description="Your own certificate chain (PEM).")
    tls_key: Annotated[FilePath | None, TLS] = Field(
        None, description="The private key of --tls-cert (PEM).")
    tls_hosts: Annotated[Words, Cli("TLS", flag="--tls-host")] = Field(
        (), description="Extra host name or IP for the generated certificate (repeatable).")

    # --- Language model
    llm: Annotated[str, LLM] = Field(
        "llamacpp", description="Language model backend: llamacpp, openai, or module:factory.")
    llm_url: Annotated[str | None, LLM] = Field(
        None, description="Base URL of an OpenAI-compatible server (…/v1), for --llm openai.")
    llm_model: Annotated[str | None, LLM] = Field(
        None, description="Model name for --llm openai, or a GGUF path for --llm llamacpp.")
    llm_api_key: Annotated[str | None, Cli("Language model", secret=True)] = Field(
        None, repr=False, description="API key for the OpenAI-compatible server, if it needs one.")
    llm_context: Annotated[int, LLM] = Field(
        DEFAULT_CONTEXT_WINDOW, ge=1, description="Context window (tokens) for llamacpp.")
    llm_threads: Annotated[
        int | None, Cli("Language model", shown_default="all cores, one fewer with voice")
    ] = Field(None, ge=1, description="Decode threads for llamacpp.")
    llm_vision: Annotated[bool, LLM] = Field(
        False, description="The --llm openai model takes images: accept video frames and image "
        "parts (without it they are refused with a clear 1008).")
    hosted_thinking: Annotated[bool, LLM] = Field(
        False, description="A session that sets no generationConfig.thinkingConfig thinks "
        "as the hosted Live models do by default (the model decides how long, thoughts not "
        "sent). Off: such a session gets the backend's default, which for the in-process "
        "model is no thinking, so voice turns keep their latency; a client that wants "
        "thinking sets thinkingConfig.")
    model_aliases: Annotated[Words, Cli("Language model", flag="--model-alias")] = Field(
        (), description="Also serve this Live model id (e.g. my-live-model); repeatable.")
    server_tools: Annotated[Words, Cli("Language model", flag="--server-tool")] = Field(
        (), description="module:factory of your implementation of a built-in Live tool "
        "(googleSearch, codeExecution, urlContext, googleMaps…), run by the server; "
        "repeatable. Without one, sessions that ask for a built-in are refused with a reason "
        "naming it.")

    # --- Voice
    voice: Annotated[bool, VOICE] = Field(
        True, description="Load the voice engines (VAD, recognizer, synthesizer) for AUDIO "
        "sessions.")
    asr: Annotated[str, VOICE] = Field(
        "whisper", description="Speech recognizer: whisper; openai (a server of the OpenAI "
        "audio API at --asr-url); wyoming://HOST:PORT (a Wyoming server such as "
        "wyoming-faster-whisper); or module:factory.")
    asr_url: Annotated[str | None, VOICE] = Field(
        None, description="Base URL of the server for --asr openai (e.g. "
        "http://127.0.0.1:8000/v1): POST /v1/audio/transcriptions.")
    asr_model: Annotated[str | None, Cli("Voice", shown_default="whisper-1 (openai)")] = Field(
        None, description="Model name sent to the --asr openai server (or to a Wyoming "
        "server that has several).")
    asr_api_key: Annotated[str | None, Cli("Voice", secret=True)] = Field(
        None, repr=False, description="API key for the --asr openai server, if it needs one "
        "(sent as a bearer token; never logged).")
    tts: Annotated[str, VOICE] = Field(
        "piper", description="Speech synthesizer: piper, kokoro, auto (both); openai (a server "
        "of the OpenAI audio API at --tts-url); wyoming://HOST:PORT (a Wyoming server such as "
        "wyoming-piper); or module:factory.")
    tts_url: Annotated[str | None, VOICE] = Field(
        None, description="Base URL of the server for --tts openai (e.g. "
        "http://127.0.0.1:8880/v1): POST /v1/audio/speech.")
    tts_model: Annotated[str | None, Cli("Voice", shown_default="tts-1 (openai)")] = Field(
        None, description="Model name sent to the --tts openai server.")
    tts_api_key: Annotated[str | None, Cli("Voice", secret=True)] = Field(
        None, repr=False, description="API key for the --tts openai server, if it needs one "
        "(sent as a bearer token; never logged).")
    tts_voices: Annotated[Words, Cli("Voice", flag="--tts-voice",
                                     shown_default="openai: by gender; wyoming: the server's")] = (
        Field((), description="The remote synthesizer's voice for a Live voice name, "
              "NAME=VOICE (Puck=onyx), or VOICE for every name not given (repeatable; "
              "--tts openai or wyoming://)."))
    tts_format: Annotated[Literal["pcm", "wav"], VOICE] = Field(
        "pcm", description="Audio asked of the --tts openai server: pcm (24 kHz, as OpenAI "
        "defines it; a server refusing it is asked for wav) or wav (for servers whose pcm is "
        "at another rate).")
    tts_languages: Annotated[Words, Cli("Voice", flag="--tts-language",
                                        shown_default="every Live language")] = Field(
        (), description="A languageCode the remote synthesizer's voices speak (repeatable; "
        "sessions asking for another are refused at setup).")
    vad_batching: Annotated[bool, VOICE] = Field(
        True, description="Score every session's VAD frames on one worker thread, batched "
        "across sessions; --no-vad-batching scores each frame on the event loop (the baseline "
        "bench/voice_latency.py --capacity-only compares with).")
    answer_ahead: Annotated[bool, VOICE] = Field(
        True, description="Start answering a voice turn when the user pauses, before the end "
        "of the turn is decided; the answer is held back and thrown away if the user goes on. "
        "Saves recognition + generation + synthesis time after the endpoint, at the cost of "
        "compute on pauses that were not the end.")
    spoken_answer_chars: Annotated[int, VOICE] = Field(
        240, ge=0, description="A spoken answer ends at the first sentence end past this many "
        "characters (ideographs count 3), a few sentences as the Live API's native-audio "
        "models answer; its tokens are capped at half this, in case no sentence ends. A "
        "client's generationConfig.maxOutputTokens replaces both; 0: no bound.")
    interim_every: Annotated[float, VOICE] = Field(
        1.0, ge=0, description="While the user speaks, recognize what they said so far every "
        "this many seconds of speech: words two decodes agree on go out as "
        "interimInputTranscription and to the language model's prefill. 0: only at pauses.")
    prefill: Annotated[bool, VOICE] = Field(
        True, description="Let the language model evaluate the conversation ahead of the "
        "answer: at setup, and the user's settled words while they speak, so that at the end "
        "of the turn only the last words are evaluated (llama.cpp in-process; a one-token "
        "request for an OpenAI-compatible server, which keeps it if it caches prefixes).")

    # --- Sessions
    connection_lifetime: Annotated[Seconds, SESSIONS] = Field(
        LIVE_CONNECTION_LIFETIME,
        description="Seconds a Live connection lasts (the Live API: ~10 min); 0 = no limit.")
    go_away_before: Annotated[Seconds, SESSIONS] = Field(
        LIVE_GO_AWAY_BEFORE, description="Send goAway this many seconds before a connection ends.")
    shutdown_grace: Annotated[Seconds, SESSIONS] = Field(
        10.0, description="On SIGTERM, seconds sessions get after goAway before the server stops.")
    audio_session_limit: Annotated[Seconds, SESSIONS] = Field(
        LIVE_AUDIO_SESSION_LIMIT, description="Seconds an audio session may run without "
        "contextWindowCompression (the Live API: 15 min); 0 = no limit.")
    video_session_limit: Annotated[Seconds, SESSIONS] = Field(
        LIVE_VIDEO_SESSION_LIMIT,
        description="The same for sessions with video (the Live API: 2 min); 0 = no limit.")
    resumption_ttl: Annotated[Seconds, SESSIONS] = Field(
        7200.0, description="Seconds a session resumption handle stays valid (the Live API: 2 h).")
    max_sessions: Annotated[int, SESSIONS] = Field(
        0, ge=0, description="Concurrent Live sessions this node serves; more are refused with "
        "1011 RESOURCE_EXHAUSTED. 0 = no fixed cap.")
    shed_lag_ms: Annotated[float, SESSIONS] = Field(
        150.0, ge=0, description="Refuse new sessions (1011) while the event loop runs this many "
        "ms late on average over a second, so open sessions keep their latency. 0 = never.")

    @field_validator("tls_hosts", "model_aliases", "server_tools", "tts_voices", "tts_languages",
                     mode="before")
    @classmethod
    def _split_words(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(word for word in re.split(r"[\s,]+", value) if word)
        return value

    @model_validator(mode="after")
    def _check_together(self) -> Self:
        # ConfigError is not a ValueError: pydantic lets it through unwrapped.
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together.")
        if self.llm == "openai" and not self.llm_url:
            raise ConfigError("--llm openai needs --llm-url (e.g. http://127.0.0.1:8000/v1).")
        if self.asr == "openai" and not self.asr_url:
            raise ConfigError("--asr openai needs --asr-url (e.g. http://127.0.0.1:8000/v1).")
        if self.tts == "openai" and not self.tts_url:
            raise ConfigError("--tts openai needs --tts-url (e.g. http://127.0.0.1:8880/v1).")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port} is not a TCP port.")
        return self

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

    def asr_options(self) -> dict[str, object]:
        """Options for the speech-recognizer factory, by backend."""
        if self.asr == "openai":
            return {"url": self.asr_url, "model": self.asr_model, "api_key": self.asr_api_key}
        if self.asr.startswith("wyoming://"):
            return {"model": self.asr_model}
        return {}

    def tts_options(self) -> dict[str, object]:
        """Options for the speech-synthesizer factory, by backend."""
        remote: dict[str, object] = {"voice": self.tts_voices, "languages": self.tts_languages}
        if self.tts == "openai":
            return {"url": self.tts_url, "model": self.tts_model, "api_key": self.tts_api_key,
                    "response_format": self.tts_format, **remote}
        if self.tts.startswith("wyoming://"):
            return remote
        return {}

    def connection_limits(self) -> ConnectionLimits:
        """The limits every session of this server gets (0 here is None there: no limit)."""
        return ConnectionLimits(
            lifetime=self.connection_lifetime or None,
            go_away_before=self.go_away_before,
            audio_session=self.audio_session_limit or None,
            video_session=self.video_session_limit or None,
        )

    def _default_llm_threads(self) -> int:
        # Measured on 2 cores: with 2 decode threads, any concurrent work (recognition,
        # synthesis, the client) drops decoding from ~25 to 3-12 tok/s; one thread keeps a
        # steady ~16 tok/s, several times faster than speech. Text-only servers use all.
        cores = len(os.sched_getaffinity(0))
        return max(1, cores - 1) if self.voice else cores


def setting_fields() -> Iterator[tuple[str, FieldInfo, Cli]]:
    """Every setting in declaration order: name, pydantic field, command-line metadata."""
    for name, info in Settings.model_fields.items():
        [cli] = [m for m in info.metadata if isinstance(m, Cli)]
        yield name, info, cli


def env_name(name: str) -> str:
    """The environment variable of a setting: ``port`` -> ``OPENLIVE_PORT``."""
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    """The command-line flag of a setting: ``llm_url`` -> ``--llm-url``."""
    cli = next(c for n, _, c in setting_fields() if n == name)
    return cli.flag or "--" + name.replace("_", "-")


# Before the environment names followed the settings, list settings were read from
# the singular flag's name; still honoured, with a warning.
_OLD_ENV_NAMES = {"OPENLIVE_TLS_HOST": "tls_hosts", "OPENLIVE_MODEL_ALIAS": "model_aliases",
                  "OPENLIVE_SERVER_TOOL": "server_tools"}


def environment_values() -> dict[str, Any]:
    """The settings given by ``OPENLIVE_*`` variables, parsed as ``Settings()`` does."""
    values: dict[str, Any] = EnvSettingsSource(Settings)()
    for old, name in _OLD_ENV_NAMES.items():
        if os.environ.get(old) and name not in values:
            log.warning("%s is deprecated; use %s", old, env_name(name))
            values[name] = os.environ[old]
    return values


def load_settings(
    flags: Mapping[str, Any] | None = None, config_file: Path | None = None
) -> Settings:
    """The effective settings: ``flags`` over ``OPENLIVE_*`` over ``config_file`` over
    the defaults. Raises :class:`ConfigError` naming the setting and where it came from."""
    layers: list[tuple[Origin, Mapping[str, Any]]] = []
    if config_file is not None:
        layers.append((config_file, read_config_file(config_file, Settings.model_fields)))
    layers += [("env", environment_values()), ("flag", flags or {})]
    values: dict[str, Any] = {}
    origin: dict[str, Origin] = {}
    for where, layer in layers:
        for name, value in layer.items():
            values[name], origin[name] = value, where
    try:
        return Settings.model_validate(values)
    except ValidationError as err:
        wrong = (f"{_given(str(e['loc'][0]), origin)}: {e['msg']}" if e["loc"] else e["msg"]
                 for e in err.errors(include_url=False))
        raise ConfigError("; ".join(wrong)) from None


def _given(name: str, origin: Mapping[str, Origin]) -> str:
    """How the operator wrote a setting: ``--port``, ``OPENLIVE_PORT``, ``port in FILE``."""
    where = origin.get(name)
    if where == "flag":
        return flag_name(name)
    if where == "env":
        return env_name(name)
    return name if where is None else f"{name} in {where}"


def settings_to_toml(settings: Settings) -> str:
    """The settings as a file ``--config`` reads back; secrets are masked as ``"***"``."""
    lines = ["# openlive settings (openlive serve --config FILE reads this file back)"]
    group = None
    for name, _, cli in setting_fields():
        if cli.group != group:
            group = cli.group
            lines += ["", f"# {group}"]
        value = getattr(settings, name)
        if value is None:
            meaning = f": {cli.shown_default}" if cli.shown_default else ""
            lines.append(f"# {name} is not set{meaning}")
        else:
            lines.append(f"{name} = {toml_value(MASK if cli.secret else value)}")
    return "\n".join(lines) + "\n"
