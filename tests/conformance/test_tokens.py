"""Ephemeral tokens through the unmodified Python SDK: create with a key, connect with the
token over BidiGenerateContentConstrained, locked fields win, uses are counted."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conformance.conftest import CLIENTS, PY_SDK_VERSIONS, SDK_ENVS, Server

pytestmark = [pytest.mark.conformance]


def test_token_locks_fields_and_counts_uses(openlive_server: Server) -> None:
    exe = SDK_ENVS / f"google-genai-{PY_SDK_VERSIONS[0]}" / "bin" / "python"
    if not exe.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{exe} missing: scripts/sdk-envs.sh did not run")
        pytest.skip(f"{exe} missing")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(GOOGLE_GEMINI_BASE_URL=openlive_server.base_url("http"),
               GEMINI_API_KEY=openlive_server.key, SSL_CERT_FILE=str(openlive_server.ca))
    proc = subprocess.run([str(exe), str(CLIENTS / "py_tokens.py")], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["name"].startswith("auth_tokens/")
    # the token locked maxOutputTokens to 2: the fake model stops after two words
    assert result["first"] == {"text": "[messages=1] one"}, result
    second = result["second"]
    assert second.get("code") == 1008 and "no uses left" in second["message"], result
    assert result["bad_key"] is not None and result["bad_key"]["code"] == 401, result
