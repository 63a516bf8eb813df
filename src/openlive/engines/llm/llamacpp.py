"""In-process llama.cpp backend (llama-cpp-python): the default language model.

Theory of operation: one :class:`LlamaCppModel` owns one ``llama_cpp.Llama`` (one
context, one KV cache) and one worker thread. ``stream()`` takes the one slot of its
:class:`~openlive.engines.scheduler.Resource` (requests wait their turn by priority,
sessions in turn, first come first served within both) and runs
``create_chat_completion(stream=True)`` on the worker; each piece of text crosses back to the event loop with
``loop.call_soon_threadsafe`` into an ``asyncio.Queue``, so the loop never blocks.

A logits processor, called once per sampled token, does three jobs: it records the
prompt length (the tokens evaluated before the first sample), counts the sampled
tokens, and, once the stream is cancelled, forces the end-of-generation token, so the
worker stops within one token even while text is held back. The worker also checks the
flag between chunks. Evaluating a long prompt can take seconds, so until the first token
is sampled llama.cpp's abort callback polls the same flag between graph nodes (it is
removed afterwards: a Python call per node would slow decoding). The slot is released
only after the worker has returned.

Function calling: with ``request.tools`` the tools reach the model through its own chat
template when that template renders tools (Qwen2.5's does: llama-cpp-python passes
``tools=`` to the Jinja formatter), or else through a guarded system prompt
(``tool_prompt="guarded"``), which also renders earlier calls and results as text. The
reply goes through a :class:`~openlive.engines.llm.tools.ToolCallScanner`: plain text
streams as usual, but from the first sign of a call (a ``<tool_call>`` tag, a fence, a
JSON object) the text is held back, parsed when the reply ends, and becomes one
``ToolCallsRequested`` (or ``MalformedToolCall``) instead of text.

The generation that follows tool results (the request ends with ``tool`` messages)
should answer. Shown the results as the template's ``<tool_response>`` turn, the small
default model mostly repeats the call or echoes the JSON; told them in a system message
after the user's question ("You called get_weather with {...}; it returned {...}. Tell
the user the outcome in one short sentence."), it answers. So that last round is
rendered that way; the prompt up to the question is unchanged, so the KV cache of the
call's generation serves it (evaluating the tools' part of a prompt cold costs seconds).
Earlier rounds keep the template's own rendering. The tools stay declared, so a model may
still chain another call; ``chain_tool_calls=True`` renders the last round like the
earlier ones, for a model that chains calls well.

Thinking: a request with a thinking budget runs two completions on the worker in one
slot: the reasoning step (the conversation plus a note asking for brief notes, at most
the budget's tokens, streamed as ``ThoughtDelta``), then the answer with the thoughts in
a note (see :mod:`~openlive.engines.llm.reasoning`). ``Finished`` reports the question's
prompt size, the answer's tokens and the thought tokens apart.

Proactive audio: :meth:`LlamaCppModel.judge_relevance` scores the user's words by their
log-probability after the conversation against after a generic prompt (see
:mod:`~openlive.engines.llm.relevance`). The words' per-token logits need one decode
with every position's logits kept, which ``Llama.eval`` does not offer; the batch is
decoded through llama-cpp-python's ``_batch`` and ``_ctx`` (with ``input_ids`` and
``n_tokens`` kept in step, and ``_requires_eval`` set, as the KV snapshots do).

Stop sequences are matched here, on the decoded text, not by llama-cpp-python; then a
``"stop"`` from llama-cpp-python always means an end-of-generation token was sampled,
which is not counted as a completion token (as llama-cpp-python's own usage does).

The same ``Llama`` object serves every request, so llama-cpp-python reuses the longest
common prefix of the previous prompt+reply in the KV cache: a new turn only evaluates
the new messages. The one exception is a request with a ``seed``: the numbers llama.cpp
computes for a token depend slightly on how it was batched, so a prompt partly served
from the cache samples differently from the same prompt evaluated cold. A seeded request
therefore evaluates its whole prompt, which makes it reproducible whatever ran before.

Sessions take turns on the model, so the previous request was often another
conversation's, and evaluating a few hundred prompt tokens costs seconds on 2 cores. So
the KV cells of other conversations are kept in host memory
(:mod:`~openlive.engines.llm.kv_cache`): llama.cpp's sequence state API copies only the
cells of sequence 0, about 12 KiB per token for the default model, into an LRU bounded
by ``kv_snapshots_bytes`` (128 MB by default; 0 disables it) and 64 entries. On the
worker, before generating, the prompt is tokenized as ``create_chat_completion`` will
tokenize it (about 1 ms). If the request would discard at least 16 tokens of the cached
history, the history is saved first; if a snapshot shares at least 16 more tokens with
the prompt than the history does, it is loaded into sequence 0 and llama-cpp-python's
``input_ids``/``n_tokens`` are set to its tokens, so that its own prefix matching
evaluates only the rest of the prompt. For a 521-token history (6.4 MB) saving takes
about 4 ms and loading 2.5 ms, against 5 s or more to evaluate it on 2 cores
(``bench/llm_sessions.py``: three conversations of 300-380 tokens taking turns, first
token after 0.27 s instead of 5.2 s at the median). A loaded snapshot holds exactly the
cells the cache held, so a conversation continues token for token as if no other had
run in between; like any prefix reuse, that may differ from a cold evaluation (above).
A seeded request loads no snapshot, but its history is saved like any other. Besides
``input_ids`` and ``n_tokens``, this relies on ``Llama.generate`` matching the prompt
against ``input_ids[:n_tokens]`` and on its private ``_requires_eval`` flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from openlive.chat import SpokenReply
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
from openlive.engines.llm.kv_cache import (
    DEFAULT_MAX_BYTES,
    KvSnapshots,
    SnapshotStats,
    common_prefix,
)
from openlive.engines.llm.prompting import (
    ToolPrompt,
    add_to_last_user,
    answer_round,
    as_dicts,
    chat_formatter,
    guarded_messages,
    resolve_tool_prompt,
)
from openlive.engines.llm.reasoning import THINK_PROMPT, answer_note, local_budget
from openlive.engines.llm.relevance import (
    GENERIC_SYSTEM,
    SCORED_TOKENS,
    probability_from_pmi,
)
from openlive.engines.llm.spoken import SentenceBound, with_spoken_guidance
from openlive.engines.llm.stops import StopScanner
from openlive.engines.llm.tools import (
    ToolCallScanner,
    calls_event,
    declared_by_name,
    openai_tool,
)
from openlive.engines.models import QWEN25_CODER_05B
from openlive.engines.scheduler import Priority, Resource
from openlive.engines.weights import ensure
from openlive.errors import ConfigError, ContextOverflow, EngineError

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import ChatFormatterResponse

_Item = LlmEvent | EngineError | None  # None: the worker stopped because it was cancelled


def default_threads() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LlamaCppModel:
    """A GGUF chat model run in-process; load once at start-up, share across sessions.

    Construction loads the model and blocks (about a second for 0.5B); do it before
    serving. ``chat_template`` overrides the GGUF's own ``tokenizer.chat_template``.
    ``tool_prompt`` chooses how declared tools are put in the prompt (see ``ToolPrompt``);
    ``chain_tool_calls`` renders results for chaining, not answering (see the module doc).
    ``kv_snapshots_bytes`` bounds the host memory kept for other conversations' KV cells
    (see the module doc; 0 disables the snapshots).
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = DEFAULT_CONTEXT_WINDOW,
        n_threads: int | None = None,
        chat_template: str | None = None,
        tool_prompt: ToolPrompt = "auto",
        chain_tool_calls: bool = False,
        kv_snapshots_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        threads = n_threads or default_threads()
        self._llama = _load(Path(model_path), n_ctx=n_ctx, n_threads=threads)
        self._formatter = chat_formatter(self._llama, chat_template)
        self._llama.chat_handler = self._formatter.to_chat_handler()
        self._tool_prompt = resolve_tool_prompt(tool_prompt, self._formatter.template)
        self._chain_tool_calls = chain_tool_calls
        self._eos = self._llama.token_eos()
        self._capabilities = LlmCapabilities(context_window=self._llama.n_ctx(), tools=True)
        # no token of the vocabulary spells more bytes than this: a prompt longer than
        # the context times this cannot fit, and is refused without tokenizing it
        self._max_token_bytes = max(len(self._llama.detokenize([token]))
                                    for token in range(self._llama.n_vocab()))
        self._slots = Resource("llamacpp", 1)  # one generation at a time: one context
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self._current: _Generation | None = None  # the generation holding the slot
        self._abort_callback: Any = None  # installed while a prompt is being evaluated
        self._closed = False
        self._snapshots = KvSnapshots(kv_snapshots_bytes)

    @classmethod
    def from_default_weights(
        cls, cache_dir: str | Path | None = None, **options: Any
    ) -> LlamaCppModel:
        """Load the default model from the weights packages (assembled on first use)."""
        return cls(ensure(QWEN25_CODER_05B, cache_dir), **options)

    @property
    def capabilities(self) -> LlmCapabilities:
        return self._capabilities

    async def stream(
        self, request: GenerationRequest, *, priority: Priority = Priority.WAITING
    ) -> AsyncIterator[LlmEvent]:
        """Generate a reply; waits while another generation runs on this model.

        Waiting requests are served by ``priority``, then session by session, then in
        order (see :mod:`openlive.engines.scheduler`). The slot is released before
        :class:`Finished` is yielded, so a consumer that stops iterating at ``Finished``
        does not hold up the next request.
        """
        _check_sampling(request.sampling)
        async with self._on_worker(priority, self._run, request) as (generation, _):
            while not isinstance(item := await generation.queue.get(), Finished):
                if item is None:
                    raise EngineError("generation cancelled: the model was closed")
                if isinstance(item, EngineError):
                    raise item
                yield item
        yield item

    @contextlib.asynccontextmanager
    async def _on_worker(
        self, priority: Priority, job: Callable[[_Generation, GenerationRequest], None],
        request: GenerationRequest,
    ) -> AsyncIterator[tuple[_Generation, asyncio.Future[None]]]:
        """Hold the model's one slot and run ``job`` on its worker thread for the block;
        leaving the block (or being cancelled) stops the job and waits for the thread."""
        loop = asyncio.get_running_loop()
        async with self._slots.slot(priority):
            self._check_open()
            generation = _Generation(loop, self._eos)
            self._current = generation
            worker = loop.run_in_executor(self._executor, job, generation, request)
            try:
                yield generation, worker
            finally:
                generation.cancel()
                await asyncio.wait({worker})  # survives our own cancellation
                self._current = None

    async def prefill(self, request: GenerationRequest, *,
                      priority: Priority = Priority.SPECULATIVE) -> None:
        """Evaluate ``request``'s prompt into the context (nothing is sampled), so that
        the request that follows, sharing its beginning, evaluates only the rest: what
        the user says after it, and the turn's closing template. The context's history
        is the one the KV snapshots keep per conversation, so another session's turn in
        between costs a snapshot save and restore, not the evaluation."""
        async with self._on_worker(priority, self._prefill, request) as (_, worker):
            await asyncio.shield(worker)

    def _prefill(self, generation: _Generation, request: GenerationRequest) -> None:
        """Worker thread: evaluate the prompt's tokens the context does not hold yet."""
        spoken = with_spoken_guidance(request.messages, request.spoken)
        tokens = self._fitting_tokens(*self._prompt(spoken, request.tools))
        if self._snapshots.enabled:
            self._snapshots.prepare(self._llama, tokens)
        llama = self._llama
        held = common_prefix(llama.input_ids[: llama.n_tokens], np.asarray(tokens, np.intc))
        if held == len(tokens):
            return
        llama.n_tokens = held
        self._set_abort(generation.cancelled)
        try:
            llama.eval(tokens[held:])
        except Exception as exc:
            if generation.cancelled.is_set():
                return  # aborted: the context keeps what was evaluated before
            raise _engine_error(exc) from exc
        finally:
            self._clear_abort()

    async def judge_relevance(self, request: GenerationRequest, *,
                              priority: Priority = Priority.WAITING) -> Relevance:
        """How likely the model finds it that ``request``'s last user message is for it
        (proactive audio): how much better the conversation predicts the message than a
        generic assistant's prompt does (see :mod:`.relevance`). The conversation is
        evaluated last, so the answer's prompt finds it in the KV cache."""
        async with self._on_worker(priority, self._judge, request) as (generation, worker):
            await asyncio.shield(worker)
        if generation.relevance is None:
            raise EngineError("relevance judgment cancelled")
        return generation.relevance

    def _judge(self, generation: _Generation, request: GenerationRequest) -> None:
        """Worker thread: the message's mean log-probability after a generic prompt,
        then after the conversation; their difference is the score."""
        last = request.messages[-1] if request.messages else None
        if last is None or last.role != "user" or not last.content.strip():
            generation.relevance = Relevance(1.0)  # nothing to judge: answer as usual
            return
        # always framed as a spoken reply: the threshold was measured so (.relevance)
        framing = request.spoken or SpokenReply()
        generic = with_spoken_guidance((ChatMessage("system", GENERIC_SYSTEM), last), framing)
        spoken = with_spoken_guidance(request.messages, framing)
        self._set_abort(generation.cancelled)
        try:
            baseline = self._mean_logprob(*self._split_last_user(generic, ()))
            prefix, words = self._split_last_user(spoken, request.tools)
            conditional = self._mean_logprob(prefix, words)
        except Exception as exc:
            if generation.cancelled.is_set():
                return
            raise _engine_error(exc) from exc
        finally:
            self._clear_abort()
        generation.relevance = Relevance(probability_from_pmi(conditional - baseline),
                                         len(prefix) + len(words))

    def _split_last_user(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
                         ) -> tuple[list[int], list[int]]:
        """The prompt's tokens before the last user message's words, and those words."""
        rendered, specs = self._prompt(messages, tools)
        prompt = self._format(rendered, specs)
        text, words = prompt.prompt, messages[-1].content
        at = text.rfind(words)
        if at < 0:
            raise EngineError("the chat template does not render the user's words as given")
        prefix = self._llama.tokenize(text[:at].encode("utf-8"),
                                      add_bos=not prompt.added_special, special=True)
        scored = self._llama.tokenize(words.encode("utf-8"), add_bos=False, special=False)
        return prefix, scored

    def _mean_logprob(self, prefix: list[int], words: list[int]) -> float:
        """Worker thread: evaluate ``prefix + words`` into the context (what it already
        holds is kept) and return the words' mean log-probability (the first
        :data:`SCORED_TOKENS` of them)."""
        llama = self._llama
        tokens = prefix + words
        if len(tokens) >= llama.n_ctx():
            raise ContextOverflow("the conversation does not fit the model's context")
        if self._snapshots.enabled:
            self._snapshots.prepare(llama, tokens)
        held = common_prefix(llama.input_ids[: llama.n_tokens], np.asarray(tokens, np.intc))
        # the prefix's last token is evaluated again: its logits give the first word's odds
        llama.n_tokens = min(held, len(prefix) - 1)
        if llama.n_tokens < len(prefix) - 1:
            llama.eval(prefix[llama.n_tokens: len(prefix) - 1])
        scored = words[:SCORED_TOKENS]
        window = [prefix[-1], *scored]
        logits = self._decode_with_logits(window)
        if len(words) > len(scored):
            llama.eval(words[len(scored):])
        llama._requires_eval = True  # the logits are not the next token's: see module doc
        rows = logits[: len(scored)]
        top = rows.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        return float((rows[np.arange(len(scored)), scored] - log_norm).mean())

    def _decode_with_logits(self, window: list[int]) -> Any:
        """Evaluate ``window`` after the context's tokens, keeping every position's
        logits (``Llama.eval`` keeps only the last); returns them as a float64 array."""
        llama = self._llama
        internals = cast(Any, llama)
        internals._ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        internals._batch.set_batch(batch=window, n_past=llama.n_tokens, logits_all=True)
        internals._ctx.decode(internals._batch)
        logits = np.ctypeslib.as_array(internals._ctx.get_logits(),
                                       shape=(len(window), llama.n_vocab()))
        logits = logits.astype(np.float64)  # a copy: the next decode reuses the buffer
        llama.input_ids[llama.n_tokens: llama.n_tokens + len(window)] = window
        llama.n_tokens += len(window)
        return logits

    @property
    def snapshot_stats(self) -> SnapshotStats:
        """Totals of the KV snapshots saved and restored so far (see the module doc)."""
        return self._snapshots.stats

    @property
    def tool_prompt(self) -> Literal["template", "guarded"]:
        """How declared tools reach this model's prompt (``auto`` resolved at load)."""
        return self._tool_prompt

    async def count_tokens(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> int:
        """Tokens of the chat-templated prompt, exactly as :meth:`stream` feeds it.

        ``tools``: the request's declared tools, which take prompt tokens too.
        """
        self._check_open()
        return await asyncio.to_thread(self._count_sync, tuple(messages), tuple(tools))

    async def aclose(self) -> None:
        """Stop the running generation, wait for it, then free the model."""
        if self._closed:
            return
        self._closed = True
        if self._current is not None:
            self._current.cancel()
        async with self._slots.slot(Priority.WAITING):  # after the generation in progress
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._llama.close)
            self._snapshots.clear()
        await self._slots.aclose()
        self._executor.shutdown(wait=False)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError("the llama.cpp model is closed")

    def _count_sync(self, messages: tuple[ChatMessage, ...], tools: tuple[ToolSpec, ...]) -> int:
        return len(self._tokenize(*self._prompt(messages, tools)))

    def _fitting_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> list[int]:
        """The prompt's tokens; :class:`ContextOverflow` when they leave no room to answer
        in the context window (at once, without tokenizing, for a prompt so long that no
        tokenization could fit it: a 10 MB turn took 18 s to fail)."""
        window = self._llama.n_ctx()
        prompt = self._format(messages, tools)
        size = len(prompt.prompt.encode("utf-8"))
        if size > window * self._max_token_bytes:
            raise ContextOverflow(
                f"The conversation is at least {size // self._max_token_bytes} tokens long "
                f"({size} bytes), more than the model's context window of {window} tokens."
            )
        tokens = self._tokens_of(prompt)
        if len(tokens) >= window:
            raise ContextOverflow(
                f"The conversation is {len(tokens)} tokens long, more than the model's "
                f"context window of {window} tokens leaves room for an answer."
            )
        return tokens

    def _tokenize(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> list[int]:
        """The prompt's tokens, exactly as ``create_chat_completion`` will evaluate them."""
        return self._tokens_of(self._format(messages, tools))

    def _format(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> ChatFormatterResponse:
        return self._formatter(messages=cast(Any, messages), tools=cast(Any, tools))

    def _tokens_of(self, prompt: ChatFormatterResponse) -> list[int]:
        return self._llama.tokenize(
            prompt.prompt.encode("utf-8"), add_bos=not prompt.added_special, special=True
        )

    def _prompt(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """The messages (and tools) for the chat formatter; see the module doc."""
        if not self._chain_tool_calls and messages and messages[-1].role == "tool":
            messages, facts = answer_round(messages)
        else:
            facts = ""
        if self._tool_prompt == "template":
            rendered = as_dicts(messages)
            if facts:
                rendered.append({"role": "system", "content": facts})
            return rendered, [openai_tool(tool) for tool in tools] or None
        rendered = guarded_messages(messages, tools)
        if facts:
            add_to_last_user(rendered, facts)
        return rendered, None

    def _run(self, generation: _Generation, request: GenerationRequest) -> None:
        """Worker thread: generate, pushing every event (or the error) to the loop."""
        try:
            generation.emit(self._generate(generation, request))
        except Exception as exc:  # noqa: BLE001 - any failure must reach the event loop
            generation.emit(None if generation.cancelled.is_set() else _engine_error(exc))

    def _generate(self, generation: _Generation, request: GenerationRequest) -> _Item:
        spoken = with_spoken_guidance(request.messages, request.spoken)
        messages, tools = self._prompt(spoken, request.tools)
        seeded = request.sampling.seed is not None
        budget = local_budget(request.thinking_budget)
        first = self._with_note(messages, THINK_PROMPT) if budget else messages
        tokens = self._fitting_tokens(first, tools)
        if self._snapshots.enabled:
            self._snapshots.prepare(self._llama, tokens, restore=not seeded)
        if seeded:
            cast(Any, self._llama).reset()  # reproducible: evaluate the whole prompt, cold
        generation.cached_tokens = self._reused(tokens)
        if budget:
            thoughts = self._think(generation, first, tools, request.sampling, budget)
            if thoughts is None:
                return None  # cancelled while thinking
            messages = self._with_note(messages, answer_note(thoughts))
            self._fitting_tokens(messages, tools)  # the thoughts may not leave room
        stream = self._stream(generation, messages, tools, request.sampling)
        bound = request.spoken.bound_chars if request.spoken is not None else None
        sink = _Sink(generation, request.tools, bound)
        try:
            return self._consume(generation, stream, StopScanner(request.sampling.stop), sink)
        finally:
            cast(Generator[Any, None, None], stream).close()  # stops llama.cpp at once
            self._clear_abort()

    def _stream(self, generation: _Generation, messages: list[dict[str, Any]],
                tools: list[dict[str, Any]] | None, sampling: SamplingParams
                ) -> Iterator[dict[str, Any]]:
        """Worker thread: llama.cpp's streamed chat completion for ``generation``, which
        its cancellation aborts while the prompt is evaluated and stops between tokens
        (the caller closes the stream)."""
        from llama_cpp import LogitsProcessorList

        self._set_abort(generation.cancelled)
        generation.on_first_sample = self._clear_abort
        chunks = self._llama.create_chat_completion(
            messages=cast(Any, messages),
            tools=cast(Any, tools),
            stream=True,
            logits_processor=LogitsProcessorList([generation.process_logits]),
            **_sampling_kwargs(sampling),
        )
        return cast(Iterator[dict[str, Any]], chunks)

    def _reused(self, tokens: list[int]) -> int:
        """How many of the prompt's ``tokens`` the context holds already, which
        ``Llama.generate`` will not evaluate again: the common prefix with the context's
        history; when that is the whole prompt, less its last token, which it evaluates
        again to refresh the logits (unless nothing else ran since)."""
        llama = self._llama
        held = common_prefix(llama.input_ids[: llama.n_tokens], np.asarray(tokens, np.intc))
        return max(0, min(held, len(tokens) - 1))

    def _with_note(self, messages: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
        """``messages`` followed by a note to the model: a system message after the
        conversation where the chat template renders one (the conversation's prefix,
        and its KV cache, are unchanged), else the end of the last user message."""
        rendered = [dict(message) for message in messages]
        if self._tool_prompt == "template":
            rendered.append({"role": "system", "content": note})
        else:
            add_to_last_user(rendered, note)
        return rendered

    def _think(self, generation: _Generation, messages: list[dict[str, Any]],
               tools: list[dict[str, Any]] | None, sampling: SamplingParams,
               budget: int) -> str | None:
        """Worker thread: the reasoning step (see :mod:`.reasoning`), streamed as
        :class:`ThoughtDelta`; None when cancelled. Leaves the generation's counters
        ready for the answer, with the thought tokens and the question's prompt size."""
        stream = self._stream(generation, messages, tools,
                              replace(sampling, max_tokens=budget, stop=()))
        pieces: list[str] = []
        reason = "length"
        try:
            for chunk in stream:
                if generation.cancelled.is_set():
                    return None
                if not chunk["choices"]:
                    continue
                choice = chunk["choices"][0]
                if text := choice["delta"].get("content") or "":
                    pieces.append(text)
                    generation.emit(ThoughtDelta(text))
                reason = choice["finish_reason"] or reason
        finally:
            cast(Generator[Any, None, None], stream).close()
            self._clear_abort()
        generation.thought_tokens = generation.sampled - (1 if reason == "stop" else 0)
        generation.question_tokens = generation.prompt_tokens
        generation.sampled = 0  # the answer's tokens count from here
        return "".join(pieces)

    def _set_abort(self, cancelled: threading.Event) -> None:
        """Let llama.cpp abort the prompt evaluation once ``cancelled`` is set."""
        import llama_cpp

        def should_abort(_: object) -> bool:
            return cancelled.is_set()

        self._abort_callback = llama_cpp.ggml_abort_callback(should_abort)  # keep alive
        llama_cpp.llama_set_abort_callback(self._llama.ctx, self._abort_callback, None)

    def _clear_abort(self) -> None:
        import llama_cpp

        if self._abort_callback is not None:
            no_callback = llama_cpp.ggml_abort_callback()  # a NULL function pointer
            llama_cpp.llama_set_abort_callback(self._llama.ctx, no_callback, None)
            self._abort_callback = None

    @staticmethod
    def _consume(
        generation: _Generation,
        chunks: Iterator[dict[str, Any]],
        scanner: StopScanner,
        sink: _Sink | None = None,
    ) -> _Item:
        """Turn llama-cpp-python's chunks into events; returns the final one."""
        sink = sink or _Sink(generation, ())
        reason = "length"
        for chunk in chunks:
            if generation.cancelled.is_set():
                return None
            if not chunk["choices"]:
                continue
            choice = chunk["choices"][0]
            text, stopped = scanner.feed(choice["delta"].get("content") or "")
            if sink.text(text) or stopped:  # the spoken bound or a stop sequence
                sink.close()
                return generation.finished("stop", eos_sampled=False)
            reason = choice["finish_reason"] or reason
        sink.text(scanner.flush())
        sink.close()
        return generation.finished(reason, eos_sampled=reason == "stop")


class _Sink:
    """Worker side: generated text → events, through a tool-call scanner if tools are on,
    and the spoken reply's sentence bound."""

    def __init__(self, generation: _Generation, tools: Sequence[ToolSpec],
                 bound_chars: int | None = None) -> None:
        self._generation = generation
        self._scanner = ToolCallScanner(declared_by_name(tools)) if tools else None
        self._bound = SentenceBound(bound_chars)

    def text(self, text: str) -> bool:
        """Emit ``text``; True when the reply reached its bound (generate no more)."""
        if self._scanner is not None:
            text = self._scanner.feed(text)
        text, reached = self._bound.feed(text)
        if text:
            self._generation.emit(TextDelta(text))
        return reached

    def close(self) -> None:
        """The reply is complete: release held text, then the calls it held, if any."""
        text, parsed = self._scanner.finish() if self._scanner is not None else ("", None)
        text = self._bound.feed(text)[0] + self._bound.flush()
        if text:
            self._generation.emit(TextDelta(text))
        if parsed is not None:
            self._generation.emit(calls_event(parsed))


class _Generation:
    """State one ``stream()`` call shares with its worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, eos_token: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.cancelled = threading.Event()
        self.eos_token = eos_token
        self.prompt_tokens = 0  # tokens evaluated before the first sample
        self.cached_tokens = 0  # of those, the prefix the context held already
        self.sampled = 0  # tokens sampled so far, the end-of-generation token included
        self.on_first_sample: Callable[[], None] | None = None  # the prompt is evaluated
        self.thought_tokens = 0  # sampled in the reasoning step, if any
        self.question_tokens: int | None = None  # the prompt before the reasoning step
        self.relevance: Relevance | None = None  # a relevance judgment's result

    def cancel(self) -> None:
        self.cancelled.set()

    def emit(self, item: _Item) -> None:
        """Worker side: hand an item to the event loop (never blocks)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancelled.set()

    def process_logits(self, input_ids: Any, scores: Any) -> Any:
        """Called by llama.cpp before each sample; must never raise (a C callback)."""
        if self.sampled == 0:
            self.prompt_tokens = len(input_ids)
            if self.on_first_sample is not None:
                self.on_first_sample()
        self.sampled += 1
        if self.cancelled.is_set():
            scores[:] = float("-inf")
            scores[self.eos_token] = 0.0
        return scores

    def finished(self, reason: str, *, eos_sampled: bool) -> Finished:
        completion = self.sampled - 1 if eos_sampled else self.sampled
        finish_reason = "length" if reason == "length" else "stop"
        # after thinking, the answer's prompt holds the thoughts: the prompt counted is
        # the question's, the thoughts are counted as thoughts
        prompt = self.question_tokens if self.question_tokens is not None else self.prompt_tokens
        return Finished(prompt, max(completion, 0), finish_reason,
                        cached_tokens=min(self.cached_tokens, prompt),
                        thoughts_tokens=max(self.thought_tokens, 0))


def _load(path: Path, *, n_ctx: int, n_threads: int) -> Llama:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ConfigError(
            "the llamacpp backend needs llama-cpp-python: pip install 'openlive[default]'"
        ) from exc
    if not path.is_file():
        raise ConfigError(f"model file not found: {path}")
    try:
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            # prefill is short and parallel: it may use every core even when decoding
            # leaves one free for speech recognition and synthesis
            n_threads_batch=max(n_threads, default_threads()),
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise EngineError(f"llama.cpp could not load {path}: {exc}") from exc


def _check_sampling(sampling: SamplingParams) -> None:
    if sampling.max_tokens is not None and sampling.max_tokens < 1:
        raise EngineError(f"max_tokens must be at least 1, got {sampling.max_tokens}")


def _sampling_kwargs(sampling: SamplingParams) -> dict[str, Any]:
    """SamplingParams → create_chat_completion keywords; None keeps llama's default."""
    mapped = {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
    }
    return {name: value for name, value in mapped.items() if value is not None}


def _engine_error(exc: Exception) -> EngineError:
    if isinstance(exc, EngineError):
        return exc
    error = EngineError(f"llama.cpp generation failed: {exc}")
    error.__cause__ = exc
    return error
