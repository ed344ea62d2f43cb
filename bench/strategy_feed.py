"""One user-turn stop strategy driven without a pipeline, as Pipecat's user aggregator drives it:
set up on a task manager, fed frames in order, and started again after each turn it ends. Shared by
the clock-free turn-taking bench and the tests of the call's stop strategy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import Frame, StartFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.utils.asyncio.task_manager import TaskManager

_UNUSED_EVENTS = ("on_push_frame", "on_broadcast_frame", "on_user_turn_inference_triggered",
                  "on_user_turn_speculation_cancelled")


class StopStrategyFeed:
    """Feeds `strategy` frames in order; `on_turn_stopped` runs each time it ends a turn."""

    def __init__(self, strategy: BaseUserTurnStopStrategy, on_turn_stopped: Callable[[], None]) -> None:
        self.strategy = strategy
        self._on_turn_stopped = on_turn_stopped

    async def start(self) -> None:
        tasks = TaskManager(loop=asyncio.get_running_loop())
        await self.strategy.setup(FrameProcessorSetup(clock=SystemClock(), task_manager=tasks,
                                                      pipeline_worker=cast(Any, None)))
        for event in _UNUSED_EVENTS:
            self.strategy.add_event_handler(event, _ignore)
        self.strategy.add_event_handler("on_user_turn_stopped", self._stopped)
        await self.strategy.process_frame(StartFrame())
        await self.strategy.handle_user_turn_started()

    async def process_frame(self, frame: Frame) -> None:
        await self.strategy.process_frame(frame)

    async def _stopped(self, *_: Any) -> None:
        self._on_turn_stopped()
        await self.strategy.handle_user_turn_stopped()
        await self.strategy.handle_user_turn_started()


async def _ignore(*_: Any, **__: Any) -> None:
    return None
