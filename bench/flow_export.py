"""A transition on an exported flow, run by stock Pipecat: `Flow(FlowConfig, handlers)` + FlowManager.

Each sample calls a tool as FlowManager does (the handler `Flow` built: the exported direct function,
then flow.yaml's branch) and sets the node it leads to; beside it, the bare `set_node_from_config` of
the same node, in the same pipeline.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pipecat.flows import Flow, FlowManager, FlowsFunctionSchema, NodeConfig
from pipecat.frames.frames import EndFrame, Frame, LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings
from pipecat.workers.runner import WorkerRunner

from engine.interop.flow_out import export_flow, load_exported
from engine.schema.compiled import CompiledSchema

START_TIMEOUT_S = 10


class SilentLLM(LLMService):
    """Answers nothing: the bench measures FlowManager and the handlers, not a model."""

    def __init__(self) -> None:
        super().__init__(settings=LLMSettings(
            model="silent", system_instruction=None, temperature=None, max_tokens=None, top_p=None,
            top_k=None, frequency_penalty=None, presence_penalty=None, seed=None,
            filter_incomplete_user_turns=None, user_turn_completion_config=None))

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)


async def bench_exported_transitions(compiled: CompiledSchema, record: dict[str, Any],
                                     steps: list[tuple[str, str, dict[str, Any]]], repeat: int,
                                     samples: dict[str, list[float]],
                                     settle: Callable[[], Awaitable[None]]) -> None:
    """`steps` are (node, tool, arguments); adds to samples["exported_transition"] and
    samples["exported_set_node_bare"], in seconds. `settle()` runs between samples."""
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as folder:
        export_flow(compiled, Path(folder))
        flow, handlers = load_exported(Path(folder), f"bench_handlers_{compiled.name}")
    flow_manager, stop = await _running_flow_manager(flow, handlers.initial_state(record))
    steps = [step for step in steps if step[0] in flow.config.nodes]
    try:
        for index in range(repeat):
            node, tool, arguments = steps[index % len(steps)]
            if flow_manager.current_node != node:
                await flow_manager.set_node_from_config(flow.node(node))
                await settle()
            flow_manager.state["attempts"].clear()
            handler = _tool_handler(flow.node(node), tool)
            started = time.perf_counter()
            _, target = await handler(dict(arguments), flow_manager)
            if target is None:
                raise RuntimeError(f"{node}: {tool} gave no node")
            await flow_manager.set_node_from_config(target)
            samples.setdefault("exported_transition", []).append(time.perf_counter() - started)
            await settle()
            started = time.perf_counter()
            await flow_manager.set_node_from_config(target)
            samples.setdefault("exported_set_node_bare", []).append(time.perf_counter() - started)
            await settle()
    finally:
        await stop()


def _tool_handler(node: NodeConfig, tool: str) -> Any:
    for function in node.get("functions", []):
        if isinstance(function, FlowsFunctionSchema) and function.name == tool:
            return function.handler
    raise RuntimeError(f"node {node.get('name')} has no tool {tool}")


async def _running_flow_manager(flow: Flow, state: dict[str, Any]) -> tuple[FlowManager, Any]:
    llm = SilentLLM()
    aggregators = LLMContextAggregatorPair(LLMContext())
    worker = PipelineWorker(Pipeline([aggregators.user(), llm, aggregators.assistant()]),
                            params=PipelineParams(), cancel_on_idle_timeout=False, enable_rtvi=False)
    flow_manager = FlowManager(llm=llm, context_aggregator=aggregators, worker=worker,
                               global_functions=flow.global_functions)
    flow_manager.state.update(state)
    started = asyncio.Event()

    async def on_started(_worker: PipelineWorker, _frame: Frame) -> None:
        started.set()

    worker.add_event_handler("on_pipeline_started", on_started)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run(), name="bench-exported-flow")
    await asyncio.wait_for(started.wait(), START_TIMEOUT_S)
    await flow_manager.initialize(flow.initial_node)

    async def stop() -> None:
        await worker.queue_frame(EndFrame())
        await asyncio.wait_for(running, START_TIMEOUT_S)

    return flow_manager, stop
