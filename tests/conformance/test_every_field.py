"""The newest google-genai's Live setup with every field set is accepted (setupComplete).

The config is built by introspecting the SDK's own pydantic models
(clients/py_every_field.py), so a field that a new SDK release adds is set too, and
this test fails until openlive handles it (declares it in protocol/client.py and says
in docs/compatibility.md whether it is honoured or accepted and ignored).
"""

from __future__ import annotations

import pytest

from openlive.catalog.tools import BUILTIN_TOOLS
from tests.conformance.conftest import PY_SDK_VERSIONS, Server
from tests.conformance.test_voice_and_realmodel import run_client

pytestmark = [pytest.mark.conformance]

NEWEST = PY_SDK_VERSIONS[0]

# What google-genai refuses to send in Gemini API mode (it raises before connecting).
# A change here means the SDK changed: look at the new field, then update this list.
REFUSED_BY_SDK = {
    "explicit_vad_signal", "session_resumption.transparent",
    "speech_config.multi_speaker_voice_config", "safety_settings.0.method",
}


def test_every_field_of_the_newest_live_connect_config_is_accepted(
        openlive_server: Server) -> None:
    out = run_client(openlive_server, {}, timeout=120, sdk=NEWEST, script="py_every_field.py")
    assert out["fields"] > 150, out  # the builder found the SDK's fields
    assert out["setup"] == {"ok": True}, out
    assert out["thinking_level"] == {"ok": True}, out
    refused = set(out["refused_by_sdk"])
    # Vertex-only tools and the like: whatever the SDK refuses is left out above
    assert {p for p in refused if not p.startswith("tools.")} == REFUSED_BY_SDK, refused


def test_each_built_in_tool_is_accepted_or_refused_by_name(openlive_server: Server) -> None:
    out = run_client(openlive_server, {}, timeout=120, sdk=NEWEST, script="py_every_field.py")
    assert out["builtins"], out
    for name, result in out["builtins"].items():
        if result["ok"]:
            continue
        # not run on this server: 1008 naming the tool, never 1007 "unknown field"
        assert result["code"] == 1008, (name, result)
        assert BUILTIN_TOOLS[name] in result["reason"], (name, result)
