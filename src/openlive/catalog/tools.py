"""The built-in tools of the Live API, by the ``Tool`` field that declares each and its
wire name (``googleSearch``...). A setup may declare them; an operator may run them
server-side (``--server-tool``)."""

from __future__ import annotations

# Tool fields that name a built-in Gemini tool, and how the wire spells them.
BUILTIN_TOOLS: dict[str, str] = {
    "google_search": "googleSearch",
    "google_search_retrieval": "googleSearchRetrieval",
    "code_execution": "codeExecution",
    "url_context": "urlContext",
    "google_maps": "googleMaps",
    "computer_use": "computerUse",
    "file_search": "fileSearch",
    "mcp_servers": "mcpServers",
    "retrieval": "retrieval",
    "enterprise_web_search": "enterpriseWebSearch",
    "parallel_ai_search": "parallelAiSearch",  # google-genai 3.6 (Vertex only there)
    "exa_ai_search": "exaAiSearch",
}
