"""OpenAICompatModel against scripted HTTP answers (httpx.MockTransport): fast, no server.

The real-server conversation is in test_openai_compat.py; these cover the wire details
a llama_cpp.server cannot show: usage in the final chunk, llama-server's token counting,
SSE corner cases, and error statuses.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openlive.chat import SpokenReply
from openlive.engines.llm.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    Image,
    LlmEvent,
    SamplingParams,
    TextDelta,
)
from openlive.engines.llm.openai_compat import OpenAICompatModel
from openlive.engines.llm.overflow import context_overflow
from openlive.errors import ContextOverflow, EngineError

BASE = "http://llm.test/v1"
MESSAGES = (ChatMessage("user", "hi"),)
Handler = Callable[[httpx.Request], httpx.Response]


def sse(*events: object) -> bytes:
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    return ("".join(lines)).encode()


def streamed(body: bytes) -> httpx.Response:
    """An answer as a server streams it: 200 with the event-stream content type."""
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def chunk(text: str | None = None, finish: str | None = None) -> dict[str, object]:
    delta = {"content": text} if text is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def model_with(handler: Handler, **options: object) -> OpenAICompatModel:
    return OpenAICompatModel(BASE, "test-model", transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]


async def collect(
    model: OpenAICompatModel, sampling: SamplingParams | None = None
) -> list[LlmEvent]:
    request = GenerationRequest(MESSAGES, sampling or SamplingParams())
    return [event async for event in model.stream(request)]


async def test_events_skip_comments_and_keep_alives_and_join_multiline_data() -> None:
    body = (
        b": ping\r\n\r\n"
        b"event: message\r\nid: 1\r\n"
        b'data: {"choices": [{"index": 0,\r\ndata:"delta": {"content": "one"}}]}\r\n\r\n'
        b"\r\n"  # a blank line after an id: an event with no data
        b'data: {"choices": [{"index": 0, "delta": {"content": "two"}}]}\n\n'
        b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}\r\r'
        b"data: [DONE]\n\n"
        b'data: {"choices": [{"index": 0, "delta": {"content": "after done"}}]}\n\n'
    )
    events = await collect(model_with(lambda _: streamed(body)))
    assert events == [TextDelta("one"), TextDelta("two"), Finished(3, 2)]


async def test_an_answer_that_is_no_event_stream_is_a_lasting_error() -> None:
    answer = httpx.Response(200, json={"choices": [{"message": {"content": "hi"}}]})
    with pytest.raises(EngineError, match="did not answer with an event stream") as caught:
        await collect(model_with(lambda _: answer))
    assert not caught.value.retryable


class EndlessReply(httpx.AsyncByteStream):
    """One chunk, then nothing until closed: a server still generating."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse(chunk("Once"))
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed.set()


def endless_model() -> tuple[OpenAICompatModel, EndlessReply]:
    body = EndlessReply()
    headers = {"content-type": "text/event-stream"}
    return model_with(lambda _: httpx.Response(200, stream=body, headers=headers)), body


async def test_leaving_the_stream_closes_the_response() -> None:
    model, body = endless_model()
    stream = model.stream(GenerationRequest(MESSAGES, SamplingParams()))
    assert await anext(stream) == TextDelta("Once")
    await stream.aclose()
    assert body.closed.is_set()


async def test_cancelling_the_task_closes_the_response() -> None:
    model, body = endless_model()
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in model.stream(GenerationRequest(MESSAGES, SamplingParams())):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert body.closed.is_set()


async def test_stream_maps_sampling_and_reads_usage_from_the_last_chunk() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        usage = {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}}
        body = sse(chunk("Hel"), chunk("lo"), chunk(finish="length"), usage, "[DONE]")
        return streamed(body)

    model = model_with(handler, api_key="sekret")
    sampling = SamplingParams(
        temperature=0.5, top_p=0.9, top_k=7, max_tokens=2, seed=3, stop=("x",)
    )
    events = await collect(model, sampling)

    assert events == [TextDelta("Hel"), TextDelta("lo"), Finished(11, 2, "length")]
    body = json.loads(seen[0].content)
    assert seen[0].url == f"{BASE}/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sekret"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert {
        k: body[k] for k in ("temperature", "top_p", "top_k", "max_tokens", "seed", "stop")
    } == {
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 7,
        "max_tokens": 2,
        "seed": 3,
        "stop": ["x"],
    }
    await model.aclose()


async def test_without_usage_llama_server_counts_the_prompt() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/v1/chat/completions":
            return streamed(sse(chunk("a"), chunk("b"), chunk(finish="stop"), "[DONE]"))
        if request.url.path == "/apply-template":
            assert json.loads(request.content)["messages"] == [{"role": "user", "content": "hi"}]
            return httpx.Response(200, json={"prompt": "<|user|>hi<|assistant|>"})
        assert request.url.path == "/tokenize"
        assert json.loads(request.content)["content"] == "<|user|>hi<|assistant|>"
        return httpx.Response(200, json={"tokens": [1, 2, 3, 4, 5]})

    model = model_with(handler)
    events = await collect(model)

    assert events[-1] == Finished(prompt_tokens=5, completion_tokens=2, finish_reason="stop")
    assert paths == ["/v1/chat/completions", "/apply-template", "/tokenize"]


async def test_count_tokens_falls_back_to_a_usage_probe() -> None:
    probes: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/apply-template":
            return httpx.Response(404, json={"detail": "Not Found"})
        probes.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [], "usage": {"prompt_tokens": 9}})

    model = model_with(handler)
    assert await model.count_tokens(MESSAGES) == 9
    assert await model.count_tokens(MESSAGES) == 9
    assert len(probes) == 2
    assert probes[0]["max_tokens"] == 1
    assert probes[0]["stream"] is False


async def test_count_tokens_without_any_way_to_count_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/apply-template":
            return httpx.Response(404)
        return httpx.Response(200, json={"choices": []})

    with pytest.raises(EngineError, match="cannot count tokens"):
        await model_with(handler).count_tokens(MESSAGES)


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (400, False)])
async def test_http_error_status(status: int, retryable: bool) -> None:
    model = model_with(lambda _: httpx.Response(status, text="model is asleep"))
    with pytest.raises(EngineError) as caught:
        await collect(model)
    assert f"{BASE}/chat/completions answered HTTP {status}" in str(caught.value)
    assert "model is asleep" in str(caught.value)
    assert caught.value.retryable is retryable


# What servers answer a prompt too long for the model, word for word (see
# openlive/engines/llm/overflow.py for where each comes from).
LLAMA_CPP_PYTHON = {"error": {
    "message": "This model's maximum context length is 2048 tokens. However, you requested "
               "5010 tokens (5000 in the messages, 10 in the completion). Please reduce the "
               "length of the messages or completion.",
    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}
VLLM = {"error": {
    "message": "This model's maximum context length is 4096 tokens. However, your request has "
               "5000 input tokens. Please reduce the length of the input messages.",
    "type": "BadRequestError", "param": None, "code": 400}}
VLLM_OLD = {"object": "error", "message": "This model's maximum context length is 4096 tokens. "
            "However, you requested 5000 tokens (4990 in the messages, 10 in the "
            "completion). Please reduce the length of the messages or completion.",
            "type": "BadRequestError", "param": None, "code": 400}
VLLM_PROMPT = {"error": {"message": "The decoder prompt (length 5000) is longer than the "
                                    "maximum model length of 4096.",
                         "type": "BadRequestError", "param": None, "code": 400}}
LLAMA_SERVER = {"error": {"code": 400, "message": "the request exceeds the available context "
                          "size, try increasing it", "type": "exceed_context_size_error",
                          "n_prompt_tokens": 5000, "n_ctx": 4096}}


@pytest.mark.parametrize(("body", "reason"), [
    (LLAMA_CPP_PYTHON, "is 5010 tokens long, more than the model's context window of 2048"),
    (VLLM, "is 5000 tokens long, more than the model's context window of 4096"),
    (VLLM_OLD, "is 5000 tokens long, more than the model's context window of 4096"),
    (VLLM_PROMPT, "is 5000 tokens long, more than the model's context window of 4096"),
    (LLAMA_SERVER, "is 5000 tokens long, more than the model's context window of 4096"),
])
async def test_a_prompt_too_long_for_the_server_is_a_context_overflow(body, reason) -> None:
    model = model_with(lambda _: httpx.Response(400, json=body))
    with pytest.raises(ContextOverflow, match=reason) as caught:
        await collect(model)
    assert not caught.value.retryable
    # the same refusal once the stream has begun (llama-server streams its errors)
    with pytest.raises(ContextOverflow, match=reason):
        await collect(model_with(lambda _: streamed(sse(body))))


async def test_a_stream_closed_without_an_event_is_explained_by_asking_again() -> None:
    """llama_cpp.server answers a streamed request too long for its context with 200 and
    then closes the stream empty; the same request without streaming says why."""
    asked: list[bool] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content)["stream"])
        if asked == [True, False]:  # the pool handed out the connection the server dropped
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return streamed(b"") if asked[-1] else httpx.Response(400, json=LLAMA_CPP_PYTHON)

    with pytest.raises(ContextOverflow, match="context window of 2048 tokens"):
        await collect(model_with(handler))
    assert asked == [True, False, False]
    ok = model_with(lambda r: streamed(b"") if json.loads(r.content)["stream"]
                    else httpx.Response(200, json={"choices": []}))
    with pytest.raises(EngineError, match="closed its event stream without an answer") as caught:
        await collect(ok)
    assert caught.value.retryable


async def test_other_bad_requests_are_no_context_overflow() -> None:
    body = {"error": {"message": "temperature must be at most 2", "type": "BadRequestError"}}
    with pytest.raises(EngineError) as caught:
        await collect(model_with(lambda _: httpx.Response(400, json=body)))
    assert not isinstance(caught.value, ContextOverflow)


async def test_cached_prompt_tokens_are_read_from_the_usage() -> None:
    usage = {"prompt_tokens": 120, "completion_tokens": 3, "total_tokens": 123,
             "prompt_tokens_details": {"cached_tokens": 96}}
    body = sse(chunk("hi", "stop"), {"choices": [], "usage": usage}, "[DONE]")
    [*_, finished] = await collect(model_with(lambda _: streamed(body)))
    assert finished == Finished(120, 3, "stop", cached_tokens=96)


async def test_error_event_mid_stream() -> None:
    body = sse(chunk("a"), {"error": {"message": "out of memory"}})
    with pytest.raises(EngineError, match="out of memory"):
        await collect(model_with(lambda _: streamed(body)))


async def test_invalid_json_is_reported() -> None:
    body = sse("{not json")
    with pytest.raises(EngineError, match="invalid JSON"):
        await collect(model_with(lambda _: streamed(body)))


async def test_transport_failure_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(EngineError, match="timed out") as caught:
        await collect(model_with(handler))
    assert caught.value.retryable


async def test_zero_max_tokens_is_refused() -> None:
    with pytest.raises(EngineError, match="max_tokens must be at least 1"):
        await collect(model_with(lambda _: httpx.Response(500)), SamplingParams(max_tokens=0))


async def test_reply_is_kept_when_the_server_cannot_count(caplog) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/chat/completions" and json.loads(request.content)["stream"]:
            return streamed(sse(chunk("a"), chunk(finish="stop"), "[DONE]"))
        return httpx.Response(404)

    events = await collect(model_with(handler))
    assert events == [TextDelta("a"), Finished(prompt_tokens=0, completion_tokens=1)]
    assert "prompt tokens unknown" in caplog.text


async def test_connection_dropped_mid_reply_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(EngineError, match="request to .* failed: RemoteProtocolError") as caught:
        await collect(model_with(handler))
    assert caught.value.retryable


async def test_images_go_as_openai_image_parts_to_a_vision_model() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = sse(chunk("A cat."), chunk(finish="stop"),
                   {"choices": [], "usage": {"prompt_tokens": 90, "completion_tokens": 2}},
                   "[DONE]")
        return streamed(body)

    model = model_with(handler, vision=True)
    assert model.capabilities.vision
    shown = ChatMessage("user", "What is this?", images=(Image("image/jpeg", b"\xff\xd8", "low"),))
    events = [e async for e in model.stream(GenerationRequest((shown,)))]
    assert events[0] == TextDelta("A cat.")
    [message] = json.loads(seen[0].content)["messages"]
    assert message == {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9g=",
                                            "detail": "low"}}]}
    assert not model_with(handler).capabilities.vision  # only when the operator says so
    await model.aclose()


async def test_a_spoken_reply_is_guided_and_ends_at_its_bound() -> None:
    """The server is told the reply is spoken; the stream is left (closing it, so the
    server stops) at the first sentence end past the bound, and the turn ends normally."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/chat/completions"):
            return httpx.Response(404)  # no llama-server counting: a usage probe counts
        if not json.loads(request.content)["stream"]:
            return httpx.Response(200, json={"choices": [], "usage": {
                "prompt_tokens": 9, "completion_tokens": 1}})
        seen.append(request)
        body = sse(chunk("Paris is old. It grew"), chunk(" on the Seine. Then"),
                   chunk(" more came."), chunk(finish="stop"), "[DONE]")
        return streamed(body)

    model = model_with(handler)
    request = GenerationRequest(MESSAGES, SamplingParams(),
                                spoken=SpokenReply("fr-FR", bound_chars=20))
    events = [event async for event in model.stream(request)]

    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Paris is old. It grew on the Seine."
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.finish_reason == "stop"
    assert (finished.prompt_tokens, finished.completion_tokens) == (9, 2)  # chunks received
    messages = json.loads(seen[0].content)["messages"]
    assert messages[0]["role"] == "system"
    assert "spoken aloud" in messages[0]["content"]
    assert "Reply in French." in messages[0]["content"]
    await model.aclose()


async def test_prefill_asks_for_one_token_of_the_same_prompt() -> None:
    """The server evaluates (and, if it caches prefixes, keeps) the prompt the answer
    will begin with: the same messages, spoken guidance included."""
    from openlive.engines.llm.base import PrefillingModel

    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"message": {"content": "x"}}]})

    model = model_with(handler)
    assert isinstance(model, PrefillingModel)
    await model.prefill(GenerationRequest(MESSAGES, spoken=SpokenReply("en-US")))
    [body] = seen
    assert body["max_tokens"] == 1 and body["stream"] is False
    messages = body["messages"]
    assert isinstance(messages, list) and messages[-1] == {"role": "user", "content": "hi"}
    assert "spoken aloud" in messages[0]["content"]
    await model.aclose()


async def test_a_failed_prefill_is_an_engine_error() -> None:
    model = model_with(lambda request: httpx.Response(503, text="busy"))
    with pytest.raises(EngineError):
        await model.prefill(GenerationRequest(MESSAGES))
    await model.aclose()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["error", "message", "type", "code", "n_ctx",
                                       "n_prompt_tokens", "object"]) | st.text(max_size=8),
                      children, max_size=5),
    max_leaves=12)


@given(st.one_of(st.text(), _JSON.map(json.dumps)))
def test_reading_any_error_body_never_fails(body: str) -> None:
    """Whatever a server answers, reading it is an overflow or not; never an exception."""
    overflow = context_overflow(body)
    assert overflow is None or str(overflow).startswith("The conversation is ")
