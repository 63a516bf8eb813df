"""A language model behind any OpenAI-compatible HTTP server (llama.cpp, vLLM, Ollama...).

Theory of operation: ``stream()`` POSTs ``{base_url}/chat/completions`` with
``stream: true`` and ``stream_options: {"include_usage": true}`` and reads the
server-sent events with ``httpx-sse`` (``data: {...}`` until ``data: [DONE]``) on our own
client, so the timeouts, the error mapping and cancellation stay ours. Leaving the
stream early (task cancelled, ``aclose()``) closes the HTTP response, and the server
stops generating when it notices the disconnect.

Token counts: taken from the ``usage`` the server sends (with the prompt tokens its
prefix cache served, ``prompt_tokens_details.cached_tokens``, when it says). A server
that sends no usage while streaming (llama-cpp-python's ``llama_cpp.server`` is one)
gets:

* ``completion_tokens`` = the number of text chunks received. Such servers send one chunk
  per token, except for bytes of a multi-byte character or text held back while it might
  start a stop sequence, so this can undercount by a few tokens;
* ``prompt_tokens`` = :meth:`OpenAICompatModel.count_tokens` of the request (exact), or
  0 with a logged warning when the server cannot count either (the reply is kept).

Function calling: ``request.tools`` are sent as OpenAI ``tools``; the server's streamed
``delta.tool_calls`` pieces are joined by ``index`` (arguments arrive as fragments of a
JSON string) and checked against the declarations like the llama.cpp backend's calls
(undeclared names and arguments not matching the schema are rejected), then become one
``ToolCallsRequested`` with openlive's own production-style ids. A server that does not
parse calls itself (``llama_cpp.server`` with a model's own chat template) returns them
as text: that text goes through the same tolerant scanner as the llama.cpp backend, so
it is not shown to the user either. History maps to the OpenAI format: an assistant
message's ``tool_calls`` (arguments as a JSON string) and ``tool`` messages with
``tool_call_id``.

Thinking: a reasoning server streams its reasoning apart from the answer, as
``delta.reasoning_content`` (llama-server with ``--reasoning-format``, vLLM before 0.11)
or ``delta.reasoning`` (vLLM since); either becomes :class:`ThoughtDelta`. Their tokens
are the usage's ``completion_tokens_details.reasoning_tokens`` when the server reports
it (and are taken out of the answer's count, as OpenAI includes them), else one per
chunk. The request's thinking budget is passed as :func:`thinking_fields` says.

``count_tokens`` never estimates. It asks the server: llama.cpp's ``llama-server``
renders the chat template (``POST /apply-template``) and tokenizes (``POST /tokenize``)
without generating; any other server gets a non-streaming request with
``max_tokens: 1`` whose ``usage.prompt_tokens`` is the count (one prompt evaluation,
which a server with a prefix cache keeps for the next turn). A server offering neither
raises :class:`EngineError`.

A server refusing a prompt too long for its model raises :class:`ContextOverflow` (see
:mod:`~openlive.engines.llm.overflow`): the session closes with 1007 naming the limit.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
from httpx_sse import SSEError, aconnect_sse

from openlive.engines.llm.base import (
    DEFAULT_CONTEXT_WINDOW,
    ChatMessage,
    Finished,
    GenerationRequest,
    LlmCapabilities,
    LlmEvent,
    Relevance,
    SamplingParams,
    TextDelta,
    ThoughtDelta,
    ToolSpec,
)
from openlive.engines.llm.overflow import context_overflow
from openlive.engines.llm.relevance import JUDGE_PROMPT, yes_from_logprobs, yes_from_text
from openlive.engines.llm.spoken import SentenceBound, with_spoken_guidance
from openlive.engines.llm.tools import (
    ParsedCalls,
    ToolCallScanner,
    calls_event,
    check_call,
    declared_by_name,
    openai_tool,
)
from openlive.engines.remote.http import check_status, errors_as_engine_errors
from openlive.engines.scheduler import Priority
from openlive.errors import EngineError

_log = logging.getLogger(__name__)
_CountMethod = Literal["llama-server", "usage-probe"]


class OpenAICompatModel:
    """Chat completions over HTTP; one client (connection pool) shared by all sessions.

    ``base_url`` includes the API prefix, e.g. ``http://127.0.0.1:8080/v1``. ``timeout`` is
    the longest wait for the next bytes of a reply (CPU servers can take a while to
    evaluate a long prompt). ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        vision: bool = False,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._root_url = self._base_url.removesuffix("/v1")  # where llama-server's extras live
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout, connect=10.0), transport=transport
        )
        # Whether the served model takes images cannot be asked over the API: the operator
        # says so (--llm-vision), and sessions may then send video frames and images.
        self._capabilities = LlmCapabilities(context_window=context_window, tools=True,
                                             vision=vision)
        self._count_method: _CountMethod | None = None  # found on first count

    @property
    def capabilities(self) -> LlmCapabilities:
        return self._capabilities

    async def stream(
        self, request: GenerationRequest, *, priority: Priority = Priority.WAITING
    ) -> AsyncIterator[LlmEvent]:
        """Stream a reply; raises :class:`EngineError` on connection or HTTP errors.

        ``priority`` is ignored: the serving engine behind the URL does its own queueing.
        """
        url = f"{self._base_url}/chat/completions"
        messages = with_spoken_guidance(request.messages, request.spoken)
        body = self._body(messages, request.sampling, stream=True, tools=request.tools)
        body.update(thinking_fields(request.thinking_budget))
        declared = declared_by_name(request.tools)
        scanner = ToolCallScanner(declared) if request.tools else None
        bound = SentenceBound(request.spoken.bound_chars if request.spoken else None)
        native = _NativeCalls()
        usage: dict[str, Any] | None = None
        chunks, thoughts, reason, payloads = 0, 0, "stop", 0
        async with (
            _errors_as_engine_errors(url),
            aconnect_sse(self._client, "POST", url, json=body) as events,
        ):
            await _check_status(events.response, url)
            async for event in events.aiter_sse():
                if not event.data:  # a keep-alive, or an event with only an id
                    continue
                if event.data == "[DONE]":
                    payloads += 1
                    break
                payload = _parse_json(event.data, url)
                payloads += 1
                usage = payload.get("usage") or usage
                for choice in payload.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if thought := _reasoning(delta):
                        thoughts += 1
                        yield ThoughtDelta(thought)
                    if text := delta.get("content"):
                        chunks += 1
                        shown = scanner.feed(text) if scanner is not None else text
                        shown, _ = bound.feed(shown)
                        if shown:
                            yield TextDelta(shown)
                    if pieces := delta.get("tool_calls"):
                        chunks += 1
                        native.add(pieces)
                    reason = choice.get("finish_reason") or reason
                if bound.reached:  # leaving the stream closes it: the server stops
                    reason = "stop"
                    break
        if not payloads:
            await self._explain_empty_stream(messages, request.tools)
        text, parsed = scanner.finish() if scanner is not None else ("", None)
        text = bound.feed(text)[0] + bound.flush()
        if text:
            yield TextDelta(text)
        if scanner is not None:
            calls = native.parsed(declared, also=parsed)
            if calls.attempted:
                yield calls_event(calls)
        counted = (messages, request.tools)
        yield await self._finished(counted, usage, chunks, reason, thoughts)

    async def _explain_empty_stream(self, messages: Sequence[ChatMessage],
                                    tools: Sequence[ToolSpec]) -> None:
        """The server closed its event stream without a single event (not even
        ``[DONE]``): it failed after answering 200, as ``llama_cpp.server`` does for a
        prompt longer than its context. The same prompt asked without streaming (one
        token) gets its error as an HTTP status: raise that, or else a retryable error."""
        url = f"{self._base_url}/chat/completions"
        probe = SamplingParams(max_tokens=1, temperature=0.0)
        body = self._body(messages, probe, stream=False, tools=tools)
        async with _errors_as_engine_errors(url):
            try:
                response = await self._client.post(url, json=body)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                # the pooled connection was the stream's, which the server has dropped
                response = await self._client.post(url, json=body)
            await _check_status(response, url)
        raise EngineError(f"{url} closed its event stream without an answer", retryable=True)

    async def count_tokens(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> int:
        """Ask the server how many tokens the templated prompt takes (see module doc).

        ``tools``: the request's declared tools, which take prompt tokens too.
        """
        if self._count_method in (None, "llama-server"):
            count = await self._count_with_llama_server(messages, tools)
            if count is not None:
                self._count_method = "llama-server"
                return count
        self._count_method = "usage-probe"
        return await self._count_with_usage_probe(messages, tools)

    async def prefill(self, request: GenerationRequest, *,
                      priority: Priority = Priority.SPECULATIVE) -> None:
        """Have the server evaluate the prompt now: a one-token completion of it, so a
        server that caches prompt prefixes (llama.cpp server keeps each slot's prompt,
        vLLM's automatic prefix caching and SGLang's radix cache keep the KV blocks)
        evaluates only the rest when the real request comes. A server without such a
        cache gains nothing and pays one short request. ``priority`` is ignored."""
        url = f"{self._base_url}/chat/completions"
        messages = with_spoken_guidance(request.messages, request.spoken)
        probe = SamplingParams(max_tokens=1, temperature=0.0)
        body = self._body(messages, probe, stream=False, tools=request.tools)
        async with _errors_as_engine_errors(url):
            response = await self._client.post(url, json=body)
            await _check_status(response, url)

    async def judge_relevance(self, request: GenerationRequest, *,
                              priority: Priority = Priority.WAITING) -> Relevance:
        """Proactive audio: ask whether the last user message is for the assistant (see
        :mod:`.relevance`), with one token of answer and its ``top_logprobs`` when the
        server gives them (else the word itself). Thinking is turned off for the
        question. ``priority`` is ignored."""
        url = f"{self._base_url}/chat/completions"
        messages = (*with_spoken_guidance(request.messages, request.spoken),
                    ChatMessage("system", JUDGE_PROMPT))
        probe = SamplingParams(max_tokens=1, temperature=0.0)
        body = self._body(messages, probe, stream=False)
        body.update(logprobs=True, top_logprobs=10, **thinking_fields(0))
        async with _errors_as_engine_errors(url):
            response = await self._client.post(url, json=body)
            await _check_status(response, url)
        payload = _parse_json(response.text, url)
        choice = (payload.get("choices") or [{}])[0]
        content = ((choice.get("logprobs") or {}).get("content") or [{}])[0]
        probability = yes_from_logprobs(content.get("top_logprobs") or ())
        if probability is None:
            probability = yes_from_text((choice.get("message") or {}).get("content") or "")
        prompt_tokens = (payload.get("usage") or {}).get("prompt_tokens")
        return Relevance(probability, prompt_tokens if isinstance(prompt_tokens, int) else 0)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _body(
        self,
        messages: Sequence[ChatMessage],
        sampling: SamplingParams,
        *,
        stream: bool,
        tools: Sequence[ToolSpec] = (),
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": openai_messages(messages),
            "stream": stream,
        }
        if tools:
            body["tools"] = [openai_tool(tool) for tool in tools]
        if stream:
            body["stream_options"] = {"include_usage": True}
        body.update(_sampling_fields(sampling))
        return body

    async def _finished(
        self,
        counted: tuple[Sequence[ChatMessage], Sequence[ToolSpec]],
        usage: dict[str, Any] | None,
        chunks: int,
        reason: str,
        thoughts: int = 0,
    ) -> Finished:
        finish_reason = "length" if reason == "length" else "stop"
        if usage and "prompt_tokens" in usage and "completion_tokens" in usage:
            # OpenAI counts reasoning inside completion_tokens and says how much of it
            # was reasoning; a server that does not say is taken at one token per chunk
            details = usage.get("completion_tokens_details") or {}
            reasoning = details.get("reasoning_tokens")
            thought_tokens = int(reasoning) if isinstance(reasoning, int) else thoughts
            completion = int(usage["completion_tokens"])
            return Finished(int(usage["prompt_tokens"]), max(completion - thought_tokens, 0),
                            finish_reason, cached_tokens=_cached_tokens(usage),
                            thoughts_tokens=thought_tokens)
        try:
            prompt_tokens = await self.count_tokens(*counted)
        except EngineError as exc:  # the reply is complete; do not lose it over a count
            _log.warning("prompt tokens unknown, reporting 0: %s", exc)
            prompt_tokens = 0
        return Finished(prompt_tokens, chunks, finish_reason, thoughts_tokens=thoughts)

    async def _count_with_llama_server(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> int | None:
        """llama-server: render the template, then tokenize; None if not llama-server."""
        url = f"{self._root_url}/apply-template"
        body: dict[str, Any] = {"messages": openai_messages(messages)}
        if tools:
            body["tools"] = [openai_tool(tool) for tool in tools]
        async with _errors_as_engine_errors(url):
            response = await self._client.post(url, json=body)
            if 400 <= response.status_code < 500:  # not llama-server
                return None
            await _check_status(response, url)
            prompt = _parse_json(response.text, url).get("prompt")
            if not isinstance(prompt, str):
                return None
            url = f"{self._root_url}/tokenize"
            tokenize = {"content": prompt, "add_special": True, "parse_special": True}
            response = await self._client.post(url, json=tokenize)
            await _check_status(response, url)
            tokens = _parse_json(response.text, url).get("tokens")
        if not isinstance(tokens, list):
            raise EngineError(f"{url} answered without a 'tokens' list")
        return len(tokens)

    async def _count_with_usage_probe(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> int:
        """Any server: a one-token, non-streaming completion reports the prompt's size."""
        url = f"{self._base_url}/chat/completions"
        probe = SamplingParams(max_tokens=1, temperature=0.0)
        body = self._body(messages, probe, stream=False, tools=tools)
        async with _errors_as_engine_errors(url):
            response = await self._client.post(url, json=body)
            await _check_status(response, url)
        usage = _parse_json(response.text, url).get("usage") or {}
        if not isinstance(usage.get("prompt_tokens"), int):
            raise EngineError(
                f"{self._base_url} cannot count tokens: it has no /apply-template and "
                "/tokenize (llama-server) and reports no usage"
            )
        return int(usage["prompt_tokens"])


def openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Chat messages in the OpenAI format (plain messages: just role and content)."""
    return [_openai_message(message) for message in messages]


def _openai_message(message: ChatMessage) -> dict[str, Any]:
    rendered: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        # OpenAI's multimodal form: text and image parts, images as data URLs
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
        parts += [{"type": "image_url", "image_url": {
            "url": f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode()}",
            "detail": image.detail}} for image in message.images]
        rendered["content"] = parts
    if message.tool_calls:
        rendered["content"] = message.content or None
        rendered["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments, ensure_ascii=False),
                },
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        rendered["tool_call_id"] = message.tool_call_id
    return rendered


class _NativeCalls:
    """Streamed ``delta.tool_calls`` pieces, joined per call by their ``index``."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}  # index → {"name": str, "arguments": ...}

    def add(self, pieces: object) -> None:
        for piece in pieces if isinstance(pieces, list) else ():
            if isinstance(piece, dict):
                self._add_one(piece)

    def _add_one(self, piece: dict[str, Any]) -> None:
        index = piece.get("index")
        if not isinstance(index, int):  # some servers send whole calls without an index
            index = len(self._calls) if piece.get("id") or not self._calls else max(self._calls)
        call = self._calls.setdefault(index, {"name": "", "arguments": ""})
        function = piece.get("function") or {}
        if isinstance(name := function.get("name"), str):
            call["name"] += name
        arguments = function.get("arguments")
        if isinstance(arguments, str) and isinstance(call["arguments"], str):
            call["arguments"] += arguments
        elif isinstance(arguments, dict):  # not OpenAI's format, but seen in the wild
            call["arguments"] = arguments

    def parsed(self, declared: Mapping[str, ToolSpec], also: ParsedCalls | None) -> ParsedCalls:
        """The joined calls checked against ``declared``, then those found in the text."""
        result = ParsedCalls()
        for _, call in sorted(self._calls.items()):
            checked = check_call(call["name"], call["arguments"], declared)
            if isinstance(checked, str):
                result.rejected.append(checked)
            else:
                result.calls.append(checked)
        if also is not None:
            result.calls.extend(also.calls)
            result.rejected.extend(also.rejected)
        return result


def _reasoning(delta: dict[str, Any]) -> str:
    """The reasoning text of a streamed delta: ``reasoning_content`` (llama.cpp's
    llama-server, DeepSeek, vLLM before 0.11) or ``reasoning`` (vLLM since)."""
    for key in ("reasoning_content", "reasoning"):
        text = delta.get(key)
        if isinstance(text, str) and text:
            return text
    return ""


def thinking_fields(budget: int | None) -> dict[str, Any]:
    """Request fields for a thinking budget, in the forms servers take.

    ``None``: nothing (the server's own configuration decides). 0: the chat template's
    ``enable_thinking: false`` (Qwen3 and similar templates, on llama-server with
    ``--jinja`` and on vLLM) and llama-server's per-request ``thinking_budget_tokens: 0``.
    A positive budget: ``thinking_budget_tokens`` (llama-server; servers that do not
    know the field ignore it). -1 (dynamic): thinking on, no cap.
    """
    if budget is None:
        return {}
    if budget == 0:
        return {"chat_template_kwargs": {"enable_thinking": False},
                "thinking_budget_tokens": 0}
    fields: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": True}}
    if budget > 0:
        fields["thinking_budget_tokens"] = budget
    return fields


def _sampling_fields(sampling: SamplingParams) -> dict[str, Any]:
    """OpenAI fields, plus ``top_k`` and ``seed`` that many servers understand."""
    if sampling.max_tokens is not None and sampling.max_tokens < 1:
        raise EngineError(f"max_tokens must be at least 1, got {sampling.max_tokens}")
    fields: dict[str, Any] = {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
        "stop": list(sampling.stop) or None,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _cached_tokens(usage: dict[str, Any]) -> int:
    """The prompt tokens a server's prefix cache served (OpenAI's
    ``usage.prompt_tokens_details.cached_tokens``, which vLLM and llama-server report
    too); 0 when it does not say."""
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return cached if isinstance(cached, int) and cached > 0 else 0


def _parse_json(data: str, url: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise EngineError(f"{url} sent invalid JSON: {data[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise EngineError(f"{url} sent JSON that is not an object: {data[:200]!r}")
    if payload.get("error") or payload.get("object") == "error":  # the latter: older vLLM
        raise context_overflow(data) or EngineError(
            f"{url} reported an error: {str(payload.get('error') or payload)[:300]}")
    return payload


async def _check_status(response: httpx.Response, url: str) -> None:
    """:func:`check_status`, with a server's refusal of a prompt too long for its model
    (vLLM, llama.cpp server: 400 or 413) raised as the ContextOverflow it is."""
    if response.status_code in (400, 413):
        detail = (await response.aread()).decode("utf-8", errors="replace").strip()
        if overflow := context_overflow(detail):
            raise overflow
    await check_status(response, url)


@asynccontextmanager
async def _errors_as_engine_errors(url: str) -> AsyncIterator[None]:
    """httpx request errors as retryable EngineErrors (:mod:`openlive.engines.remote.http`),
    and a 200 that is no event stream as a lasting one."""
    async with errors_as_engine_errors(url):
        try:
            yield
        except SSEError as exc:  # an httpx error, but asking again will not help
            raise EngineError(f"{url} did not answer with an event stream: {exc}") from exc
