"""The engine scheduler: who gets a freed slot, and what cancelling does to the queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from openlive.engines.scheduler import Priority, Resource, current_requester, set_requester
from openlive.errors import ConfigError, EngineError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


class Queue:
    """Jobs that wait for a slot, hold it until told to finish, and log their admission."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.admitted: list[str] = []
        self._done: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, name: str, priority: Priority = Priority.WAITING,
               requester: str = "") -> asyncio.Task[None]:
        done = self._done[name] = asyncio.Event()

        async def job() -> None:
            set_requester(requester)
            async with self.resource.slot(priority):
                self.admitted.append(name)
                await done.wait()

        task = self.tasks[name] = asyncio.create_task(job(), name=name)
        return task

    async def queued(self, *names: str, priority: Priority = Priority.WAITING,
                     requester: str = "") -> None:
        """Submit each job and let it reach the queue, in this order."""
        for name in names:
            self.submit(name, priority, requester)
            await asyncio.sleep(0)

    async def finish(self, name: str) -> None:
        self._done[name].set()
        await self.tasks[name]

    async def drain(self) -> list[str]:
        """Finish the admitted jobs one by one until none is left; the admission order."""
        finished = 0
        while finished < len(self.admitted) or self.resource.waiting:
            await until(lambda n=finished: n < len(self.admitted))
            await self.finish(self.admitted[finished])
            finished += 1
        return self.admitted


async def test_free_slots_admit_at_once() -> None:
    resource = Resource("test", 2)
    jobs = Queue(resource)
    await jobs.queued("a", "b", "c")
    assert jobs.admitted == ["a", "b"]
    assert (resource.running, resource.waiting) == (2, 1)
    assert await jobs.drain() == ["a", "b", "c"]
    assert (resource.running, resource.waiting) == (0, 0)


async def test_urgent_work_is_served_first() -> None:
    jobs = Queue(Resource("test", 1))
    await jobs.queued("busy")
    jobs.submit("ahead", Priority.SPECULATIVE)
    jobs.submit("partial", Priority.REVISABLE)
    jobs.submit("final", Priority.WAITING)
    assert await jobs.drain() == ["busy", "final", "partial", "ahead"]


async def test_first_come_first_served_within_a_priority_and_requester() -> None:
    jobs = Queue(Resource("test", 1))
    await jobs.queued("busy", "one", "two", "three", requester="s1")
    assert await jobs.drain() == ["busy", "one", "two", "three"]


async def test_sessions_take_turns() -> None:
    jobs = Queue(Resource("test", 1))
    await jobs.queued("busy", requester="other")
    await jobs.queued("a1", "a2", "a3", requester="a")
    await jobs.queued("b1", requester="b")
    assert await jobs.drain() == ["busy", "a1", "b1", "a2", "a3"]


async def test_a_session_holding_a_slot_waits_behind_one_holding_none() -> None:
    jobs = Queue(Resource("test", 2))
    await jobs.queued("a-running", requester="a")
    await jobs.queued("other", requester="x")
    await jobs.queued("a-next", requester="a")  # older than b's job...
    await jobs.queued("b-first", requester="b")
    await jobs.finish("other")  # ...but a already holds a slot
    assert jobs.admitted[-1] == "b-first"


async def test_priority_beats_fairness() -> None:
    jobs = Queue(Resource("test", 1))
    await jobs.queued("busy", requester="a")
    await jobs.queued("b-partial", priority=Priority.REVISABLE, requester="b")
    await jobs.queued("a-final", priority=Priority.WAITING, requester="a")
    assert await jobs.drain() == ["busy", "a-final", "b-partial"]


async def test_waiting_work_ages_into_a_higher_priority() -> None:
    clock = FakeClock()
    jobs = Queue(Resource("test", 1, aging=1.0, clock=clock))
    await jobs.queued("busy")
    await jobs.queued("ahead", priority=Priority.SPECULATIVE)
    clock.now = 2.0  # two levels up: as urgent as WAITING, and older
    await jobs.queued("final", priority=Priority.WAITING)
    assert await jobs.drain() == ["busy", "ahead", "final"]


async def test_work_that_has_not_aged_enough_still_waits() -> None:
    clock = FakeClock()
    jobs = Queue(Resource("test", 1, aging=1.0, clock=clock))
    await jobs.queued("busy")
    await jobs.queued("ahead", priority=Priority.SPECULATIVE)
    clock.now = 1.5  # one level up: REVISABLE, still behind WAITING
    await jobs.queued("final", priority=Priority.WAITING)
    assert await jobs.drain() == ["busy", "final", "ahead"]


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    resource = Resource("test", 1)
    jobs = Queue(resource)
    await jobs.queued("busy", "gone", "next")
    assert resource.waiting == 2
    jobs.tasks["gone"].cancel()
    with pytest.raises(asyncio.CancelledError):
        await jobs.tasks["gone"]
    assert resource.waiting == 1
    assert await jobs.drain() == ["busy", "next"]


async def test_a_slot_granted_to_a_waiter_cancelled_at_that_moment_is_passed_on() -> None:
    resource = Resource("test", 1)
    jobs = Queue(resource)
    done = asyncio.Event()

    async def holder() -> None:
        async with resource.slot():
            await done.wait()
        jobs.tasks["unlucky"].cancel()  # the slot was just handed to it: it never runs

    busy = asyncio.create_task(holder())
    await asyncio.sleep(0)
    await jobs.queued("unlucky", "next")
    done.set()
    await busy
    with pytest.raises(asyncio.CancelledError):
        await jobs.tasks["unlucky"]
    await until(lambda: "next" in jobs.admitted)
    await jobs.finish("next")
    assert jobs.admitted == ["next"]
    assert (resource.running, resource.waiting) == (0, 0)


async def test_a_cancelled_running_job_keeps_its_slot_until_its_thread_returns() -> None:
    resource = Resource("test", 1)
    release = threading.Event()
    call = asyncio.create_task(resource.run(lambda: release.wait(5) and "done"))
    await until(lambda: resource.running == 1)
    later = asyncio.create_task(resource.run(lambda: "later"))
    await until(lambda: resource.waiting == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(0.05)
    assert (resource.running, resource.waiting) == (1, 1)  # the thread still computes
    release.set()
    assert await later == "later"
    assert resource.running == 0


async def test_start_hands_back_the_future_and_frees_the_slot_when_the_thread_returns() -> None:
    resource = Resource("test", 1)
    started = threading.Event()
    future = await resource.start(started.set)
    await future
    assert started.is_set()
    assert resource.running == 0


async def test_run_returns_the_result_and_raises_the_error() -> None:
    resource = Resource("test", 2)

    def fail() -> None:
        raise EngineError("broken", retryable=True)

    assert await resource.run(lambda: 6 * 7) == 42
    with pytest.raises(EngineError, match="broken"):
        await resource.run(fail)
    assert resource.running == 0


async def test_closing_fails_the_waiting_and_refuses_new_work() -> None:
    resource = Resource("test", 1)
    jobs = Queue(resource)
    await jobs.queued("busy", "waiting")
    resource.close(EngineError("closed"))
    with pytest.raises(EngineError, match="closed"):
        await jobs.tasks["waiting"]
    with pytest.raises(EngineError, match="closed"):
        await resource.run(lambda: None)
    await jobs.finish("busy")  # running work finishes
    await resource.aclose()
    assert resource.closed and resource.running == 0


async def test_the_requester_belongs_to_the_task_that_names_it() -> None:
    async def named(name: str) -> str:
        set_requester(name)
        await asyncio.sleep(0)
        return current_requester()

    assert await asyncio.gather(named("a"), named("b")) == ["a", "b"]
    assert current_requester() == ""


def test_a_resource_needs_a_slot() -> None:
    with pytest.raises(ConfigError):
        Resource("test", 0)


def test_a_slot_is_freed_when_its_loop_closed_before_the_thread_returned() -> None:
    """One asyncio.run per call (bench/evalset.py building the evaluation set): a job
    still running when its loop closes must free its slot, or the next call hangs."""
    import time

    resource = Resource("test", 1)
    release = threading.Event()

    async def leave_it_running() -> None:
        await resource.start(release.wait)

    asyncio.run(leave_it_running())  # the loop is closed; the job still runs
    release.set()
    deadline = time.monotonic() + 5
    while resource.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert resource.running == 0

    async def again() -> int:
        return await asyncio.wait_for(resource.run(lambda: 42), 5)

    assert asyncio.run(again()) == 42
