"""What ``openlive talk`` puts on the wire and reads back: pure functions, no I/O.

Client messages are built from the protocol layer's own types
(:mod:`openlive.protocol.client`), so they are what the server validates. Server messages
are read leniently, as plain JSON: a newer server (or Google's) may send fields this
version does not know, and a terminal client should show what it understands rather than
stop.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from openlive.protocol.client import (
    AudioTranscriptionConfig,
    ClientContent,
    ClientEnvelope,
    GenerationConfig,
    PrebuiltVoiceConfig,
    RealtimeInput,
    Setup,
    SpeechConfig,
    ToolResponse,
    VoiceConfig,
)
from openlive.protocol.endpoint import TOKEN_PREFIX
from openlive.protocol.types import Blob, Content, FunctionResponse, Part

GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"  # what google-genai 2.x uses for Live
INPUT_RATE = 16_000  # what talk sends: the rate every Live endpoint takes best
OUTPUT_RATE = 24_000  # what every Live endpoint answers with


class TalkError(Exception):
    """A problem the user can fix (configuration, files, devices); printed, exit 1."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect: the WebSocket URL and the headers of the upgrade request."""

    url: str
    headers: dict[str, str]

    def redacted(self) -> str:
        """The URL without its query (where a token may be)."""
        return self.url.split("?", 1)[0]


def target_from_env(env: Mapping[str, str] | None = None, *,
                    api_version: str | None = None) -> Target:
    """The Live endpoint the SDKs would use with these variables.

    ``GOOGLE_GEMINI_BASE_URL`` (default Google's) gives host and scheme (http → ws,
    https → wss); ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) the key, sent in the
    ``x-goog-api-key`` header, or, if it is an ephemeral token (``auth_tokens/…``), as
    ``access_token`` on v1alpha's constrained method, as the SDKs send tokens.
    """
    env = os.environ if env is None else env
    base = env.get("GOOGLE_GEMINI_BASE_URL") or GOOGLE_BASE_URL
    parts = urlsplit(base if "://" in base else f"http://{base}")
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise TalkError(f"GOOGLE_GEMINI_BASE_URL={base!r} is not an http(s) URL")
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    prefix = parts.path.rstrip("/")
    key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or ""
    version = api_version or env.get("GOOGLE_GENAI_API_VERSION") or DEFAULT_API_VERSION
    if key.startswith(TOKEN_PREFIX):
        path = (f"{prefix}/ws/google.ai.generativelanguage.v1alpha.GenerativeService."
                f"BidiGenerateContentConstrained?access_token={quote(key, safe='/')}")
        return Target(f"{scheme}://{parts.netloc}{path}", {})
    path = f"{prefix}/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
    headers = {"x-goog-api-key": key} if key else {}
    return Target(f"{scheme}://{parts.netloc}{path}", headers)


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """What ``openlive talk`` asks of the session."""

    model: str
    modality: str = "AUDIO"  # or TEXT
    voice: str | None = None
    language: str | None = None
    system: str | None = None


def _frame(envelope: ClientEnvelope) -> bytes:
    return orjson.dumps(envelope.model_dump(mode="json", by_alias=True, exclude_none=True))


def setup_frame(options: SessionOptions) -> bytes:
    """The ``setup`` message: modality, voice, language, instruction, transcriptions."""
    speech = None
    if options.modality == "AUDIO" and (options.voice or options.language):
        voice = (VoiceConfig(prebuilt_voice_config=PrebuiltVoiceConfig(voice_name=options.voice))
                 if options.voice else None)
        speech = SpeechConfig(voice_config=voice, language_code=options.language)
    model = options.model if options.model.startswith("models/") else f"models/{options.model}"
    setup = Setup(
        model=model,
        generation_config=GenerationConfig(response_modalities=[options.modality],  # type: ignore[list-item]
                                           speech_config=speech),
        system_instruction=(Content(parts=[Part(text=options.system)])
                            if options.system else None),
        input_audio_transcription=AudioTranscriptionConfig(),
        output_audio_transcription=(AudioTranscriptionConfig()
                                    if options.modality == "AUDIO" else None),
    )
    return _frame(ClientEnvelope(setup=setup))


def audio_frame(pcm: bytes, rate: int = INPUT_RATE) -> bytes:
    """One chunk of 16-bit mono PCM as ``realtimeInput.audio``."""
    blob = Blob(mime_type=f"audio/pcm;rate={rate}", data=pcm)
    return _frame(ClientEnvelope(realtime_input=RealtimeInput(audio=blob)))


def audio_stream_end_frame() -> bytes:
    return _frame(ClientEnvelope(realtime_input=RealtimeInput(audio_stream_end=True)))


def text_turn_frame(text: str) -> bytes:
    """A complete user turn of text (``clientContent``)."""
    content = ClientContent(turns=[Content(role="user", parts=[Part(text=text)])],
                            turn_complete=True)
    return _frame(ClientEnvelope(client_content=content))


def tool_response_frame(responses: list[tuple[str | None, str, dict[str, Any]]]) -> bytes:
    """Answers to function calls: (id, name, response) each."""
    body = ToolResponse(function_responses=[FunctionResponse(id=i, name=n, response=r)
                                            for i, n, r in responses])
    return _frame(ClientEnvelope(tool_response=body))


# -- reading the server ---------------------------------------------------------------------


@dataclass(slots=True)
class ServerEvents:
    """What one server message says, in the order a client acts on it."""

    setup_complete: bool = False
    session_id: str | None = None
    audio: list[bytes] = field(default_factory=list)  # 24 kHz PCM
    text: str = ""  # the model's text parts (TEXT modality), thoughts left out
    input_transcript: str = ""
    interim_transcript: str = ""
    output_transcript: str = ""
    interrupted: bool = False
    turn_complete: bool = False
    function_calls: list[dict[str, Any]] = field(default_factory=list)
    go_away: str | None = None  # time left
    usage: dict[str, Any] | None = None


def read_server_frame(frame: str | bytes) -> ServerEvents:
    """Read one server frame; TalkError when it is not a JSON object."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise TalkError(f"the server sent something that is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise TalkError("the server sent JSON that is not an object")
    events = ServerEvents()
    if "setupComplete" in message:
        events.setup_complete = True
        events.session_id = (message["setupComplete"] or {}).get("sessionId")
    content = message.get("serverContent") or {}
    for part in (content.get("modelTurn") or {}).get("parts") or []:
        inline = part.get("inlineData") or {}
        if str(inline.get("mimeType", "")).startswith("audio/") and inline.get("data"):
            events.audio.append(_b64(inline["data"]))
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            events.text += part["text"]
    events.input_transcript = _text(content.get("inputTranscription"))
    events.interim_transcript = _text(content.get("interimInputTranscription"))
    events.output_transcript = _text(content.get("outputTranscription"))
    events.interrupted = bool(content.get("interrupted"))
    events.turn_complete = bool(content.get("turnComplete"))
    events.function_calls = list((message.get("toolCall") or {}).get("functionCalls") or [])
    if "goAway" in message:
        events.go_away = str((message["goAway"] or {}).get("timeLeft", "?"))
    events.usage = message.get("usageMetadata")
    return events


def _text(transcription: object) -> str:
    text = transcription.get("text") if isinstance(transcription, dict) else None
    return text if isinstance(text, str) else ""


def _b64(data: str) -> bytes:
    # either alphabet: the Python SDK's servers send URL-safe, ours standard
    text = data.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))
