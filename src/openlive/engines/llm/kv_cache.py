"""Per-conversation KV snapshots for the one llama.cpp context of :mod:`.llamacpp`.

llama-cpp-python keeps one token history (``Llama.input_ids[:n_tokens]``) matching the
KV cells of sequence 0, and a new prompt reuses only its longest common prefix with that
history. When sessions take turns on one ``Llama``, each turn therefore re-evaluates its
whole prompt. :class:`KvSnapshots` keeps, in host memory, copies of the sequence for other
conversations (llama.cpp's sequence state API: only the sequence's KV cells, about 12 KB
per token for the default 0.5B model, not ``Llama.save_state()``'s 311 MB of logits).

Before each request, :meth:`KvSnapshots.prepare` compares the prompt with the current
history and with every snapshot. If the request would discard at least ``min_tokens`` of
the current history, that history is saved first; if a snapshot shares at least
``min_tokens`` more prompt tokens than the current history, it is loaded into sequence 0
(and ``input_ids``/``n_tokens`` set to its tokens), so llama-cpp-python's own prefix
matching evaluates only the rest of the prompt. A loaded snapshot leaves the cache (the
context now holds it); a saved one replaces the snapshots whose tokens it extends. The
cache is an LRU bounded by total bytes and entries. For a 521-token history (6.4 MB),
saving takes about 4 ms and loading about 2.5 ms (2 cores); evaluating it takes seconds.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 128 * 1024 * 1024  # ~10k tokens: a few dozen conversations
DEFAULT_MAX_ENTRIES = 64
DEFAULT_MIN_TOKENS = 16  # about 0.2 s of prompt evaluation on 2 cores; a restore is ~2 ms
SEQ = 0  # llama-cpp-python evaluates everything in sequence 0

Tokens = npt.NDArray[np.intc]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A token history and the serialized KV cells of sequence 0 that match it."""

    tokens: Tokens
    data: Any  # bytes-like: a ctypes uint8 array from llama_state_seq_get_data
    nbytes: int


@dataclass
class SnapshotStats:
    """Running totals, for benchmarks and debugging."""

    saves: int = 0
    restores: int = 0
    saved_tokens: int = 0
    saved_bytes: int = 0
    save_seconds: float = 0.0
    restore_seconds: float = 0.0
    restored_tokens: int = 0


def common_prefix(a: Tokens, b: Tokens) -> int:
    """How many tokens ``a`` and ``b`` share from the start."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n


def is_prefix(head: Tokens, tokens: Tokens) -> bool:
    """Whether ``tokens`` begin with all of ``head``."""
    return common_prefix(head, tokens) == len(head)


class SnapshotLru:
    """Snapshots, least recently used first, bounded by total bytes and by count."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.nbytes = 0
        self._entries: OrderedDict[int, Snapshot] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(list(self._entries.values()))

    def best(self, tokens: Tokens) -> tuple[Snapshot | None, int]:
        """The snapshot sharing the longest prefix with ``tokens``, and that length."""
        found, longest = None, 0
        for snapshot in self._entries.values():
            if (shared := common_prefix(snapshot.tokens, tokens)) > longest:
                found, longest = snapshot, shared
        return found, longest

    def covers(self, tokens: Tokens) -> bool:
        """Whether some snapshot already holds all of ``tokens`` (and maybe more)."""
        return any(is_prefix(tokens, s.tokens) for s in self._entries.values())

    def add(self, snapshot: Snapshot) -> list[Snapshot]:
        """Store ``snapshot``; returns what was dropped (extended by it, or evicted)."""
        if snapshot.nbytes > self.max_bytes or self.max_entries < 1:
            return [snapshot]
        # a snapshot whose tokens begin with an older one's holds all of it
        dropped = [s for s in self._entries.values() if is_prefix(s.tokens, snapshot.tokens)]
        for old in dropped:
            self.take(old)
        while self._entries and (
            self.nbytes + snapshot.nbytes > self.max_bytes or len(self) >= self.max_entries
        ):
            _, oldest = self._entries.popitem(last=False)
            self.nbytes -= oldest.nbytes
            dropped.append(oldest)
        self._entries[id(snapshot)] = snapshot
        self.nbytes += snapshot.nbytes
        return dropped

    def take(self, snapshot: Snapshot) -> None:
        """Remove ``snapshot`` (it is about to be loaded, or it is obsolete)."""
        if self._entries.pop(id(snapshot), None) is not None:
            self.nbytes -= snapshot.nbytes

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0


class KvSnapshots:
    """Switches one ``Llama``'s sequence 0 between conversations; see the module doc.

    Call :meth:`prepare` on the thread that runs the ``Llama``, right before generating,
    never while it generates. ``max_bytes=0`` disables snapshots.
    """

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        min_tokens: int = DEFAULT_MIN_TOKENS,
    ) -> None:
        self.enabled = max_bytes > 0 and max_entries > 0
        self.min_tokens = max(min_tokens, 1)
        self.lru = SnapshotLru(max_bytes, max_entries)
        self.stats = SnapshotStats()

    def prepare(self, llama: Llama, prompt: Sequence[int], *, restore: bool = True) -> None:
        """Save the current history if the prompt would discard it; load a better one.

        ``restore=False``: only save (the caller is about to evaluate the prompt cold).
        """
        if not self.enabled:
            return
        history = _history(llama)
        save, best, offered = self.plan(history, np.asarray(prompt, dtype=np.intc), restore)
        try:
            if best is not None:
                self.lru.take(best)  # before saving: the save must not evict it
            if save:
                self._save(llama, history)
            if best is not None:
                self._restore(llama, best, offered)
        except Exception:  # a snapshot is an optimisation: evaluate the prompt instead
            log.warning("KV snapshot failed; evaluating the whole prompt", exc_info=True)
            _set_history(llama, history[:0])

    def plan(
        self, history: Tokens, prompt: Tokens, restore: bool = True
    ) -> tuple[bool, Snapshot | None, int]:
        """Whether to save ``history``, which snapshot to load (if any), and its match."""
        kept = common_prefix(history, prompt)
        save = len(history) - kept >= self.min_tokens and not self.lru.covers(history)
        best, offered = self.lru.best(prompt) if restore else (None, 0)
        if best is None or offered < kept + self.min_tokens:
            return save, None, kept
        return save, best, offered

    def clear(self) -> None:
        self.lru.clear()

    def _save(self, llama: Llama, history: Tokens) -> None:
        import llama_cpp

        started = time.perf_counter()
        ctx = llama.ctx
        # cells past n_tokens (from an aborted batch) do not belong to the history
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), SEQ, len(history), -1)
        size = llama_cpp.llama_state_seq_get_size(ctx, SEQ)
        if size > self.lru.max_bytes:
            log.debug("KV snapshot of %d tokens (%d bytes) exceeds the cache", len(history), size)
            return
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, SEQ)
        if written == 0:
            log.warning("llama.cpp could not copy the KV cells of %d tokens", len(history))
            return
        snapshot = Snapshot(history.copy(), buffer, written)
        dropped = self.lru.add(snapshot)
        elapsed = time.perf_counter() - started
        self.stats.saves += 1
        self.stats.saved_tokens += len(history)
        self.stats.saved_bytes += written
        self.stats.save_seconds += elapsed
        log.debug(
            "KV snapshot saved: %d tokens, %d bytes in %.1f ms; dropped %d; cache %d entries, "
            "%d bytes",
            len(history),
            written,
            elapsed * 1000,
            len(dropped),
            len(self.lru),
            self.lru.nbytes,
        )

    def _restore(self, llama: Llama, snapshot: Snapshot, offered: int) -> None:
        import llama_cpp

        started = time.perf_counter()
        ctx = llama.ctx
        _set_history(llama, snapshot.tokens[:0])  # consistent whatever fails below
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), SEQ, -1, -1)
        if llama_cpp.llama_state_seq_set_data(ctx, snapshot.data, snapshot.nbytes, SEQ) == 0:
            log.warning("llama.cpp could not load a KV snapshot; evaluating the prompt")
            return
        _set_history(llama, snapshot.tokens)
        elapsed = time.perf_counter() - started
        self.stats.restores += 1
        self.stats.restore_seconds += elapsed
        self.stats.restored_tokens += offered
        log.debug(
            "KV snapshot restored: %d tokens (%d match the prompt), %d bytes in %.1f ms",
            len(snapshot.tokens),
            offered,
            snapshot.nbytes,
            elapsed * 1000,
        )


def _history(llama: Llama) -> Tokens:
    """The tokens whose KV cells sequence 0 holds (llama-cpp-python's bookkeeping)."""
    return llama.input_ids[: llama.n_tokens]


def _set_history(llama: Llama, tokens: Tokens) -> None:
    llama.input_ids[: len(tokens)] = tokens
    llama.n_tokens = len(tokens)
    # The logits are stale: generate() must evaluate at least one token before sampling,
    # even when the prompt is exactly these tokens (a private flag of llama-cpp-python).
    llama._requires_eval = True
