"""An LLM service that replays recorded function calls into a real FlowManager, and a pipeline to run it.

Each time the pipeline asks it to respond, `ReplayLLM` notes the node FlowManager is in (when the
context ends in that node's task messages, not in a tool result), then emits the next recorded step
as a `FunctionCallFromLLM`, the way a real LLM service does; a `force` step sets the node instead,
as an operator would. When no step is left it sets `done`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipecat.flows import FlowManager, NodeConfig
from pipecat.frames.frames import EndFrame, Frame, FunctionCallFromLLM, LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings
from pipecat.workers.runner import WorkerRunner

TIMEOUT_S = 10


@dataclass(frozen=True)
class ReplayStep:
    tool: str = ""  # the function to call
    arguments: Mapping[str, Any] = field(default_factory=dict)
    force: str = ""  # or the node to force


@dataclass(frozen=True)
class Entered:
    node: str
    prompt: str  # the node's task message, as FlowManager filled it
    role: str  # the LLM's system instruction by then: the role message, then whatever Pipecat appends


class ReplayLLM(LLMService):
    def __init__(self, steps: list[ReplayStep], node: Callable[[str], NodeConfig]) -> None:
        super().__init__(settings=LLMSettings(
            model="replay", system_instruction=None, temperature=None, max_tokens=None, top_p=None,
            top_k=None, frequency_penalty=None, presence_penalty=None, seed=None,
            filter_incomplete_user_turns=None, user_turn_completion_config=None))
        self.pending = deque(steps)
        self.node = node
        self.entered: list[Entered] = []
        self.flow_manager: FlowManager | None = None
        self.done = asyncio.Event()
        self._ids = itertools.count(1)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        assert self.flow_manager is not None
        messages = frame.context.get_messages()
        last = messages[-1] if messages else {}
        if isinstance(last, dict) and last.get("role") != "tool":
            role = self._settings.system_instruction
            self.entered.append(Entered(self.flow_manager.current_node or "", str(last.get("content", "")),
                                        role if isinstance(role, str) else ""))
        if not self.pending:
            self.done.set()
            return
        step = self.pending.popleft()
        if step.force:
            await self.flow_manager.set_node_from_config(self.node(step.force))
            return
        await self.run_function_calls([FunctionCallFromLLM(
            function_name=step.tool, tool_call_id=f"replay-{next(self._ids)}",
            arguments=dict(step.arguments), context=frame.context)])


async def replay(initial: NodeConfig, node: Callable[[str], NodeConfig], state: Mapping[str, Any],
                 steps: list[ReplayStep], global_functions: list[Any] | None = None) -> ReplayLLM:
    """Run `steps` through a FlowManager on a real pipeline, from `initial` with `state`; the LLM
    holds what it saw. Ends when the flow ends the conversation or the steps run out."""
    llm = ReplayLLM(steps, node)
    aggregators = LLMContextAggregatorPair(LLMContext())
    worker = PipelineWorker(Pipeline([aggregators.user(), llm, aggregators.assistant()]),
                            params=PipelineParams(), cancel_on_idle_timeout=False, enable_rtvi=False)
    flow_manager = FlowManager(llm=llm, context_aggregator=aggregators, worker=worker,
                               global_functions=global_functions or [])
    flow_manager.state.update(state)
    llm.flow_manager = flow_manager
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker: PipelineWorker, _frame: Frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run(), name="replay-pipeline")
    await asyncio.wait_for(started.wait(), TIMEOUT_S)
    await flow_manager.initialize(initial)
    finished = asyncio.create_task(llm.done.wait(), name="replay-done")
    await asyncio.wait({running, finished}, timeout=TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        await worker.queue_frame(EndFrame())
    await asyncio.wait_for(running, TIMEOUT_S)
    finished.cancel()
    return llm
