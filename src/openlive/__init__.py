"""openlive: a self-hosted server that speaks the Gemini Live API wire protocol."""

__version__ = "0.1.0"
