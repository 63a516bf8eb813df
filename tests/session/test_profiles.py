"""Each Live model id behaves by default as the hosted model does (catalog/profiles.py),
and a setting it does not support is refused with the hosted API's code (1007)."""

from __future__ import annotations

from typing import Any

import pytest

from openlive.catalog.profiles import DEFAULT_PROFILE, PROFILES, profile_for
from openlive.errors import CloseCode
from openlive.protocol.client import Tool
from openlive.session.config import ServerCapabilities
from openlive.session.tools import Toolbox
from tests.session.conversation import Conversation, closes

AUDIO = ServerCapabilities(audio_output=True)
DECLARATIONS = [{"functionDeclarations": [
    {"name": "plain"}, {"name": "blocking", "behavior": "BLOCKING"},
    {"name": "async", "behavior": "NON_BLOCKING"}]}]


def open_session(model: str, **setup: Any) -> Conversation:
    c = Conversation(AUDIO)
    body = {"model": f"models/{model}", "generationConfig": {"responseModalities": ["AUDIO"]},
            **setup}
    out = c.client({"setup": body})
    assert not closes(out), closes(out)
    return c


def refused(model: str, generation: dict[str, Any] | None = None, **setup: Any) -> str:
    c = Conversation(AUDIO)
    gen = {"responseModalities": ["AUDIO"], **(generation or {})}
    [close] = closes(c.client({"setup": {"model": f"models/{model}", "generationConfig": gen,
                                         **setup}}))
    assert close.code == CloseCode.INVALID_ARGUMENT, close
    return close.reason


def non_blocking(c: Conversation) -> set[str]:
    assert c.session.config is not None
    return set(c.session.config.tools.non_blocking)


def test_every_profile_names_a_known_live_model() -> None:
    from openlive.catalog import KNOWN_LIVE_MODELS
    assert set(PROFILES) <= set(KNOWN_LIVE_MODELS)
    assert profile_for("models/gemini-3.8-live") is PROFILES["gemini-3.8-live"]
    assert profile_for("my-own-alias") is DEFAULT_PROFILE


@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-3.1-flash-live-preview"])
def test_audio_only_models_refuse_text(model: str) -> None:
    reason = refused(model, {"responseModalities": ["TEXT"]})
    assert "response modalities (TEXT)" in reason and model in reason


def test_gemini_3_8_live_calls_are_non_blocking_unless_declared_blocking() -> None:
    c = open_session("gemini-3.8-live", tools=DECLARATIONS)
    assert non_blocking(c) == {"plain", "async"}


def test_context_update_tools_follow_the_profile() -> None:
    # what a contextUpdate's tools are read with (conversation.py passes the profile)
    tools = [Tool.model_validate(t) for t in DECLARATIONS]
    toolbox = Toolbox.from_wire(tools, {}, profile_for("gemini-3.8-live"))
    assert toolbox.non_blocking == {"plain", "async"}
    assert Toolbox.from_wire(tools, {}).non_blocking == {"async"}


def test_gemini_3_1_calls_are_synchronous_only() -> None:
    c = open_session("gemini-3.1-flash-live-preview", tools=DECLARATIONS)
    assert non_blocking(c) == set()


def test_extended_thinking_calls_are_asynchronous_only() -> None:
    c = open_session("gemini-3.8-live-extended-thinking", tools=DECLARATIONS)
    assert non_blocking(c) == {"plain", "blocking", "async"}


def test_other_models_keep_the_declared_behaviour() -> None:
    c = open_session("gemini-2.5-flash-native-audio-preview-12-2025", tools=DECLARATIONS)
    assert non_blocking(c) == {"async"}


def test_gemini_3_8_live_refuses_what_it_dropped() -> None:
    level = {"thinkingConfig": {"thinkingLevel": "LOW"}}
    assert "thinkingLevel" in refused("gemini-3.8-live", level)
    assert "enableAffectiveDialog" in refused("gemini-3.8-live", {"enableAffectiveDialog": True})
    reason = refused("gemini-3.8-live", proactivity={"proactiveAudio": False})
    assert "cannot be turned off" in reason
    open_session("gemini-3.8-live", proactivity={"proactiveAudio": True})


def test_gemini_3_1_refuses_proactive_audio_and_affective_dialog() -> None:
    model = "gemini-3.1-flash-live-preview"
    assert "proactiveAudio" in refused(model, proactivity={"proactiveAudio": True})
    assert "enableAffectiveDialog" in refused(model, {"enableAffectiveDialog": True})
    open_session(model, generationConfig={"responseModalities": ["AUDIO"],
                                          "thinkingConfig": {"thinkingLevel": "HIGH"}})


def test_the_hosted_defaults_are_plain_fields_of_the_session_config() -> None:
    c = open_session("gemini-3.1-flash-live-preview")
    assert c.session.config is not None
    assert c.session.config.profile.thinking_level_default == "MINIMAL"
    assert profile_for("gemini-3.8-live").proactive_audio_default is True
    assert profile_for("gemini-2.5-flash-native-audio-latest").thinking_budget_default == -1


@pytest.mark.parametrize("speech", [
    {"voice_config": {"voice": "Kore"}},  # google-genai 3.6
    {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
])
def test_voice_config_voice_selects_the_voice(speech: dict[str, Any]) -> None:
    c = open_session("gemini-2.5-flash-native-audio-preview-12-2025",
                     generationConfig={"responseModalities": ["AUDIO"], "speechConfig": speech})
    assert c.session.config is not None and c.session.config.voice == "Kore"
