"""The KV snapshot cache's bookkeeping (no model: snapshots carry fake bytes).

Saving and loading real KV cells is tested on the real model in test_llamacpp.py.
"""

from __future__ import annotations

import numpy as np

from openlive.engines.llm.kv_cache import KvSnapshots, Snapshot, SnapshotLru, common_prefix


def toks(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.intc)


def snap(tokens: np.ndarray, nbytes: int = 10) -> Snapshot:
    return Snapshot(tokens, bytes(nbytes), nbytes)


def test_common_prefix() -> None:
    assert common_prefix(toks(1, 2, 3), toks(1, 2, 4)) == 2
    assert common_prefix(toks(1, 2), toks(1, 2, 3)) == 2
    assert common_prefix(toks(1, 2, 3), toks(1, 2)) == 2
    assert common_prefix(toks(), toks(1)) == 0
    assert common_prefix(toks(5), toks(1)) == 0


def test_best_is_the_longest_shared_prefix() -> None:
    lru = SnapshotLru(max_bytes=100, max_entries=10)
    a, b = snap(toks(1, 2, 3, 4)), snap(toks(1, 2, 9, 9, 9))
    lru.add(a)
    lru.add(b)
    assert lru.best(toks(1, 2, 3, 7)) == (a, 3)
    assert lru.best(toks(1, 2, 9, 9)) == (b, 4)
    assert lru.best(toks(8)) == (None, 0)


def test_bytes_and_count_caps_evict_the_least_recently_added() -> None:
    lru = SnapshotLru(max_bytes=25, max_entries=10)
    a, b, c = snap(toks(1)), snap(toks(2)), snap(toks(3))
    assert lru.add(a) == []
    assert lru.add(b) == []
    assert lru.add(c) == [a]  # 30 bytes > 25
    assert list(lru) == [b, c]
    assert lru.nbytes == 20

    counted = SnapshotLru(max_bytes=1000, max_entries=2)
    for s in (a, b, c):
        counted.add(s)
    assert list(counted) == [b, c]


def test_a_snapshot_larger_than_the_cache_is_not_kept() -> None:
    lru = SnapshotLru(max_bytes=25, max_entries=10)
    small = snap(toks(1))
    lru.add(small)
    big = snap(toks(2), nbytes=26)
    assert lru.add(big) == [big]
    assert list(lru) == [small]


def test_a_longer_history_replaces_the_snapshots_it_extends() -> None:
    lru = SnapshotLru(max_bytes=100, max_entries=10)
    turn1, other = snap(toks(1, 2, 3)), snap(toks(1, 5))
    lru.add(turn1)
    lru.add(other)
    turn2 = snap(toks(1, 2, 3, 4, 5))
    assert lru.add(turn2) == [turn1]
    assert list(lru) == [other, turn2]
    assert lru.covers(toks(1, 2, 3))
    assert not lru.covers(toks(1, 2, 4))


def test_take_and_clear_keep_the_byte_count() -> None:
    lru = SnapshotLru(max_bytes=100, max_entries=10)
    a, b = snap(toks(1)), snap(toks(2))
    lru.add(a)
    lru.add(b)
    lru.take(a)
    lru.take(a)  # already gone: no effect
    assert lru.nbytes == 10
    lru.clear()
    assert lru.nbytes == 0
    assert len(lru) == 0


def test_plan_same_conversation_keeps_the_history() -> None:
    cache = KvSnapshots(max_bytes=100, min_tokens=4)
    history = toks(*range(20))
    assert cache.plan(history, toks(*range(19), 99, 100)) == (False, None, 19)


def test_plan_another_conversation_saves_the_history() -> None:
    cache = KvSnapshots(max_bytes=100, min_tokens=4)
    save, best, _ = cache.plan(toks(*range(20)), toks(0, 1, 50, 51, 52))
    assert save
    assert best is None


def test_plan_loads_a_snapshot_that_offers_enough_more() -> None:
    cache = KvSnapshots(max_bytes=100, min_tokens=4)
    mine = snap(toks(0, 1, *range(50, 60)))
    cache.lru.add(mine)
    history = toks(*range(20))
    assert cache.plan(history, toks(0, 1, *range(50, 62))) == (True, mine, 12)
    # a snapshot only a little better than the history is not worth loading
    assert cache.plan(history, toks(0, 1, 50, 51, 52, 7)) == (True, None, 2)
    # a seeded request is evaluated cold: save, but never load
    assert cache.plan(history, toks(0, 1, *range(50, 62)), restore=False)[1] is None


def test_plan_does_not_save_what_a_snapshot_already_holds() -> None:
    cache = KvSnapshots(max_bytes=100, min_tokens=4)
    cache.lru.add(snap(toks(*range(30))))
    save, _, _ = cache.plan(toks(*range(20)), toks(99))
    assert not save


def test_disabled_cache_does_nothing() -> None:
    cache = KvSnapshots(max_bytes=0)
    assert not cache.enabled
    cache.prepare(object(), [1, 2, 3])  # type: ignore[arg-type]  # never touches the model
