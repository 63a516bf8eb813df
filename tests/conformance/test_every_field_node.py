"""The newest @google/genai's Live setup with every field set is accepted (setupComplete).

The Node counterpart of test_every_field.py. ``clients/node_every_field.mjs`` builds the
LiveConnectConfig from the SDK's own type declarations (the d.ts in node_modules, read
with the TypeScript compiler), so a field that a new SDK release declares is set too,
and this test fails until openlive handles it (declares it in protocol/client.py and says
in docs/compatibility.md whether it is honoured or accepted and ignored).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from openlive.catalog.tools import BUILTIN_TOOLS
from tests.conformance.conftest import HERE, NODE_DIR, NODE_SDK_VERSION, Server
from tests.conformance.test_voice_node import run_client

pytestmark = [pytest.mark.conformance]

# What @google/genai refuses to send in Gemini API mode (its converter throws before
# connecting): the same fields google-genai refuses. A change here means the SDK changed:
# look at the new field, then update this list.
REFUSED_BY_SDK = {
    "explicitVadSignal", "sessionResumption.transparent",
    "speechConfig.multiSpeakerVoiceConfig", "safetySettings.0.method",
}
# Declared fields that are how the SDK connects, not part of a setup.
CLIENT_SIDE = {"httpOptions", "abortSignal"}


def typescript_installed() -> None:
    """The TypeScript compiler the client reads the SDK's d.ts with (package.json pins it;
    scripts/sdk-envs.sh installs it); fails in CI, skips locally when missing."""
    want = json.loads((HERE / "node" / "package.json").read_text())["devDependencies"][
        "typescript"]
    pkg = NODE_DIR / "node_modules" / "typescript" / "package.json"
    have = json.loads(pkg.read_text())["version"] if pkg.exists() else None
    if have != want:
        problem = f"typescript {have} is installed in {NODE_DIR}, package.json pins {want}"
        if os.environ.get("CI"):
            pytest.fail(f"{problem}: scripts/sdk-envs.sh did not run", pytrace=False)
        pytest.skip(f"{problem}: run scripts/sdk-envs.sh")


@pytest.fixture(scope="module")
def every_field(openlive_server: Server) -> dict[str, Any]:
    typescript_installed()
    return run_client(openlive_server, {"mode": "every_field"}, script="node_every_field.mjs",
                      timeout=300)


def test_every_field_of_the_newest_live_connect_config_is_accepted(
        every_field: dict[str, Any]) -> None:
    out = every_field
    assert out["sdk"] == NODE_SDK_VERSION, out
    # the builder found the SDK's declarations, and set every field they declare
    assert {"responseModalities", "speechConfig", "realtimeInputConfig", "tools",
            "thinkingConfig", "proactivity"} <= set(out["declared"]), out["declared"]
    assert set(out["top_level"]) == set(out["declared"]) - CLIENT_SIDE, out
    assert out["fields"] > 150, out
    assert len(out["sent"]) > 100, out  # what the SDK put in the setup it sent
    assert out["setup"] == {"ok": True}, out
    assert out["thinking_level"] == {"ok": True}, out
    refused = set(out["refused_by_sdk"])
    # Vertex-only tools and the like: whatever the SDK refuses is left out above
    assert {p for p in refused if not p.startswith("tools.")} == REFUSED_BY_SDK, refused


def test_each_built_in_tool_is_accepted_or_refused_by_name(every_field: dict[str, Any]) -> None:
    assert every_field["builtins"], every_field
    for name, result in every_field["builtins"].items():
        if result["ok"]:
            continue
        # not run on this server: 1008 naming the tool, never 1007 "unknown field"
        assert name in BUILTIN_TOOLS.values(), name  # camelCase, as on the wire
        assert result["code"] == 1008, (name, result)
        assert name in result["reason"], (name, result)
