"""Video frames through the unmodified SDKs, to a vision-capable model (the fake one).

The default offline stack has no vision model (docs/MODELS.md): there, frames are refused
with a clear 1008 (tests/session/test_seeing.py). With ``--llm openai --llm-vision`` (or
a plugin that can see) the newest frame goes with the user's turn; the fake model reports
what it was shown, so the checks are exact.
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import PY_SDK_VERSIONS, Server
from tests.conformance.test_voice_and_realmodel import run_client

pytestmark = [pytest.mark.conformance]


@pytest.mark.parametrize("sdk", PY_SDK_VERSIONS)
def test_frames_reach_the_model_and_survive_resumption(openlive_server: Server,
                                                       sdk: str) -> None:
    out = run_client(openlive_server, {"mode": "see"}, sdk=sdk)
    # three frames were sent; the newest (504 bytes) went with the question
    assert out["first"] == ("[messages=1 images=1] [image/jpeg 504 bytes auto] "
                            "What do you see?"), out
    # after resuming, the picture is still in the context the model gets
    assert out["second"] == "[messages=3 images=1] Is it still there?", out


def test_frames_through_the_node_sdk_survive_resumption(openlive_server: Server) -> None:
    from tests.conformance.test_voice_node import run_client as run_node

    out = run_node(openlive_server, {"mode": "see"}, script="node_session.mjs", timeout=60)
    assert out["error"] is None, out
    assert out["first"]["text"] == ("[messages=1 images=1] [image/jpeg 504 bytes auto] "
                                    "What do you see?"), out
    assert out["second"]["text"] == "[messages=3 images=1] Is it still there?", out
