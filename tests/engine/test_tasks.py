"""TrackedTasks: spawned tasks log their failures; a task awaited through `run` raises to its caller;
`drain` waits for both."""

from __future__ import annotations

import asyncio

import pytest
from loguru import logger

from engine.tasks import TrackedTasks


async def gated(gate: asyncio.Event) -> str:
    await gate.wait()
    return "done"


async def fails() -> None:
    raise RuntimeError("the line could not be spoken")


async def test_run_returns_the_result_and_drain_waits_for_it() -> None:
    tasks, gate = TrackedTasks("test"), asyncio.Event()
    running = asyncio.create_task(tasks.run(gated(gate), "gated"))
    await asyncio.sleep(0)  # the tracked task starts and waits on the gate
    draining = asyncio.create_task(tasks.drain(30))
    await asyncio.sleep(0)
    assert not draining.done()  # it cannot finish while the tracked task waits
    gate.set()
    await draining
    assert await running == "done"


async def test_a_failure_in_run_is_raised_to_the_caller_not_logged() -> None:
    logged: list[str] = []
    sink = logger.add(lambda message: logged.append(str(message)), level="ERROR")
    try:
        with pytest.raises(RuntimeError, match="could not be spoken"):
            await TrackedTasks("test").run(fails(), "speak")
        await asyncio.sleep(0)  # done callbacks run
    finally:
        logger.remove(sink)
    assert logged == []


async def test_a_failure_in_a_spawned_task_is_logged() -> None:
    logged: list[str] = []
    sink = logger.add(lambda message: logged.append(str(message)), level="ERROR")
    try:
        tasks = TrackedTasks("test")
        tasks.spawn(fails(), "speak")
        await tasks.drain(30)
        await asyncio.sleep(0)
    finally:
        logger.remove(sink)
    assert any("test task speak failed" in line for line in logged)
