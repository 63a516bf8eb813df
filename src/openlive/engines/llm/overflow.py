"""What OpenAI-compatible servers answer when a prompt does not fit the model's context.

Such an answer is the client's input being too large, which a Live session closes with
1007 and a reason naming the limit, as it does for the in-process model; read as any
other HTTP error it would be "the language model failed" (1011). The servers say it
in their own words, all with HTTP 400 (or, once a stream has begun, as an ``error``
object in it):

* OpenAI, and llama-cpp-python's ``llama_cpp.server``, which copies it
  (``llama_cpp/server/errors.py``): ``{"error": {"message": "This model's maximum
  context length is 2048 tokens. However, you requested 5000 tokens (4990 in the
  messages, 10 in the completion). Please reduce ...", "type": "invalid_request_error",
  "param": "messages", "code": "context_length_exceeded"}}``;
* vLLM (``vllm/entrypoints/openai/serving_engine.py``): ``{"error": {"message": "This
  model's maximum context length is 4096 tokens. However, you requested 5000 tokens
  ...", "type": "BadRequestError", "code": 400}}`` (older releases put the same fields
  at the top level, with ``"object": "error"``); a prompt alone too long for the engine:
  "The decoder prompt (length 5000) is longer than the maximum model length of 4096.";
* llama.cpp's ``llama-server``: ``{"error": {"code": 400, "message": "the request
  exceeds the available context size, try increasing it", "type":
  "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096}}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from openlive.errors import ContextOverflow

# words that only a context-length refusal uses, in any of the servers above
_OVERFLOW = re.compile(
    r"context_length_exceeded|exceed_context_size|maximum context length"
    r"|maximum model length|exceeds the available context size|context window",
    re.IGNORECASE)
_LIMIT = re.compile(
    r"(?:maximum context length|maximum model length|context window)\D{0,12}(\d{1,12})",
    re.IGNORECASE)
# the size asked for, most telling first ("length" alone also names the limit)
_ASKED = (re.compile(r"(?:you requested|your request has)\D{0,12}(\d{1,12})", re.IGNORECASE),
          re.compile(r"\(length (\d{1,12})\)", re.IGNORECASE))


def context_overflow(body: str) -> ContextOverflow | None:
    """The :class:`ContextOverflow` a server's error ``body`` (JSON or text) means, if
    it refuses a prompt too long for the model; None for any other error."""
    error = _error_object(body)
    message = str(error.get("message") or "") if error else body
    kind = " ".join(str(error.get(key) or "") for key in ("type", "code")) if error else ""
    if not _OVERFLOW.search(f"{kind} {message}"):
        return None
    limit = _number(error.get("n_ctx")) if error else None
    asked = _number(error.get("n_prompt_tokens")) if error else None
    limit = limit or _found(_LIMIT, message)
    asked = asked or next(filter(None, (_found(p, message) for p in _ASKED)), None)
    if limit is None:
        return ContextOverflow(  # the server's words, cut to fit a close frame
            f"The conversation is longer than the model's context window: {message}"[:200])
    if asked is None:
        return ContextOverflow(
            f"The conversation is longer than the model's context window of {limit} tokens.")
    return ContextOverflow(f"The conversation is {asked} tokens long, more than the "
                           f"model's context window of {limit} tokens.")


def _error_object(body: str) -> dict[str, Any] | None:
    """The error object of a JSON body: ``{"error": {...}}`` or the body itself."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    error = payload.get("error", payload)
    if isinstance(error, str):
        return {"message": error}
    return error if isinstance(error, dict) else None


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _found(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None
