"""create_language_model: names, options, and plugging in your own backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    LlmCapabilities,
    LlmEvent,
)
from openlive.engines.llm.factory import create_language_model
from openlive.engines.llm.openai_compat import OpenAICompatModel
from openlive.engines.scheduler import Priority
from openlive.errors import ConfigError


class EchoModel:
    """A minimal third-party backend, loaded by 'tests.engines.test_factory:EchoModel'."""

    def __init__(self, greeting: str = "hi", context_window: int = 100) -> None:
        self.greeting = greeting
        self._capabilities = LlmCapabilities(context_window=context_window)

    @property
    def capabilities(self) -> LlmCapabilities:
        return self._capabilities

    async def stream(
        self, request: GenerationRequest, *, priority: Priority = Priority.WAITING
    ) -> AsyncIterator[LlmEvent]:
        yield Finished(prompt_tokens=len(request.messages), completion_tokens=0)

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(messages)

    async def aclose(self) -> None:
        return None


def not_a_model(**_: Any) -> object:
    return object()


NOT_CALLABLE = 42


def test_unknown_backend_lists_the_known_names() -> None:
    with pytest.raises(ConfigError) as caught:
        create_language_model("gpt-9000")
    assert "llamacpp" in str(caught.value)
    assert "openai" in str(caught.value)
    assert "package.module:attr" in str(caught.value)


async def test_openai_backend_is_built_from_options() -> None:
    model = create_language_model(
        "openai", base_url="http://127.0.0.1:1/v1", model="m", api_key=None, context_window=8192
    )
    assert isinstance(model, OpenAICompatModel)
    assert model.capabilities.context_window == 8192
    await model.aclose()


def test_openai_backend_needs_base_url_and_model() -> None:
    with pytest.raises(ConfigError, match="needs base_url, model"):
        create_language_model("openai")


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown option.*n_ctx"):
        create_language_model("openai", base_url="http://x/v1", model="m", n_ctx=10)
    with pytest.raises(ConfigError, match="unknown option.*base_url"):
        create_language_model("llamacpp", base_url="http://x/v1")


def test_llamacpp_with_a_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        create_language_model("llamacpp", model_path=tmp_path / "absent.gguf", n_threads=None)


def test_llamacpp_digest_needs_a_model_path() -> None:
    with pytest.raises(ConfigError, match="model_sha256 needs model_path"):
        create_language_model("llamacpp", model_sha256="0" * 64)


async def test_plugin_backend_gets_the_options() -> None:
    model = create_language_model("tests.engines.test_factory:EchoModel", greeting="hello")
    assert isinstance(model, EchoModel)
    assert model.greeting == "hello"
    assert await model.count_tokens([ChatMessage("user", "x")]) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_package.llm:Model", "cannot import"),
        ("tests.engines.test_factory:Missing", "no callable 'Missing'"),
        ("tests.engines.test_factory:NOT_CALLABLE", "no callable"),
        ("tests.engines.test_factory:not_a_model", "lacks capabilities, stream"),
    ],
)
def test_bad_plugin_is_a_config_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_language_model(spec)
