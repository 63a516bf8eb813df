"""Pick the language-model backend named in the configuration.

Each backend is imported only when chosen, so the core install never imports
llama-cpp-python. Nothing registers itself: the names are listed here.

* ``"llamacpp"``: in-process llama.cpp. Options: ``model_path`` (a GGUF; default: the
  bundled Qwen2.5-Coder-0.5B assembled from its weights packages), ``model_sha256``
  (verify ``model_path``), ``n_ctx``, ``n_threads``, ``cache_dir``, ``chat_template``.
* ``"openai"``: an OpenAI-compatible server. Options: ``base_url``, ``model``,
  ``api_key``, ``context_window``, ``timeout``, ``vision`` (the model takes images).
* ``"package.module:attr"``: your own backend; ``attr`` is called with the options and
  must return a :class:`~openlive.engines.llm.base.LanguageModel`.

Options whose value is ``None`` count as not given. Call at start-up: loading a model blocks.
"""

from __future__ import annotations

from typing import Any

from openlive.engines.llm.base import LanguageModel
from openlive.engines.plugins import Backends, given_options
from openlive.errors import ConfigError

KNOWN_BACKENDS = ("llamacpp", "openai")
_LLAMACPP_OPTIONS = frozenset(
    {"model_path", "model_sha256", "n_ctx", "n_threads", "cache_dir", "chat_template"}
)
_OPENAI_OPTIONS = frozenset(
    {"base_url", "model", "api_key", "context_window", "timeout", "vision"}
)
_BACKENDS: Backends[LanguageModel] = Backends(
    "LLM", KNOWN_BACKENDS, members=("capabilities", "stream", "count_tokens", "aclose")
)


def create_language_model(backend: str, **options: Any) -> LanguageModel:
    """Build the backend named ``backend``; raises :class:`ConfigError` for bad names/options."""
    given = given_options(options)
    if backend == "llamacpp":
        return _llamacpp(_BACKENDS.checked(backend, given, _LLAMACPP_OPTIONS))
    if backend == "openai":
        required = ("base_url", "model")
        return _openai(_BACKENDS.checked(backend, given, _OPENAI_OPTIONS, required))
    return _BACKENDS.plugin(backend, given)


def _llamacpp(options: dict[str, Any]) -> LanguageModel:
    from openlive.engines import weights
    from openlive.engines.llm.llamacpp import LlamaCppModel

    model_path = options.pop("model_path", None)
    sha256 = options.pop("model_sha256", None)
    cache_dir = options.pop("cache_dir", None)
    if model_path is None:
        if sha256 is not None:
            raise ConfigError("model_sha256 needs model_path (the bundled model is verified)")
        return LlamaCppModel.from_default_weights(cache_dir=cache_dir, **options)
    return LlamaCppModel(weights.check_user_file(model_path, sha256), **options)


def _openai(options: dict[str, Any]) -> LanguageModel:
    from openlive.engines.llm.openai_compat import OpenAICompatModel

    return OpenAICompatModel(**options)
