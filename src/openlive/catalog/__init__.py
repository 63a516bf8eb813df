"""The Live API's vocabulary: model ids, prebuilt voice names, language codes and
built-in tool names. Pure data that the protocol's users (the session at setup, the
engines when they render a voice) look up; it loads no model and knows no backend.
"""

from openlive.catalog.models import DEFAULT_BACKEND, KNOWN_LIVE_MODELS, ModelCatalog, bare_model_id

__all__ = ["DEFAULT_BACKEND", "KNOWN_LIVE_MODELS", "ModelCatalog", "bare_model_id"]
