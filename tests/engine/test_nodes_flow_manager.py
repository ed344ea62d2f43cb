"""build_node on a real FlowManager in a real Pipecat pipeline: the context and tools the LLM saw."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipecat.flows import FlowManager
from pipecat.frames.frames import EndFrame, Frame, LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from engine.nodes import CallSession, node_factory_for
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.responders.scripted import ScriptedResponder
from engine.schema.compiled import load_schema
from engine.state import StateManagerFactory

DATA = Path(__file__).resolve().parent.parent / "data"


class ContextRecorder(FrameProcessor):
    """Keeps a copy of every context the responder is asked to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[list[dict], list[str]]] = []
        self._changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            tools = frame.context.tools
            names = [t.name for t in tools.standard_tools] if hasattr(tools, "standard_tools") else []
            self.seen.append((list(frame.context.get_messages()), names))
            async with self._changed:
                self._changed.notify_all()
        await self.push_frame(frame, direction)

    async def wait_for(self, count: int) -> None:
        """Until the responder has been asked `count` times in all."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.seen) >= count), 5)


async def run_flow(script) -> tuple[ContextRecorder, CallSession]:
    """Run `script(flow_manager, session, recorder)` in a real pipeline around the scripted responder."""
    compiled = load_schema(DATA / "minimal_schema.yaml")
    record = load_patient(DATA / "minimal_patient.json").validated(compiled)
    session = CallSession(StateManagerFactory(compiled).create_state("t1"),
                          DataPrecomputer(compiled).precompute_all(record), node_factory_for(compiled))
    responder = ScriptedResponder(session)
    recorder = ContextRecorder()
    aggregators = LLMContextAggregatorPair(LLMContext())
    worker = PipelineWorker(Pipeline([aggregators.user(), recorder, responder, aggregators.assistant()]),
                            params=PipelineParams(), cancel_on_idle_timeout=False, enable_rtvi=False)
    flow_manager = FlowManager(llm=responder, context_aggregator=aggregators, worker=worker)
    session.attach(flow_manager)
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker, _frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), 5)
    await script(flow_manager, session, recorder)
    await worker.queue_frame(EndFrame())
    await asyncio.wait_for(running, 5)
    return recorder, session


async def test_initial_node_gives_the_llm_its_prompt_role_and_tools() -> None:
    async def script(flow_manager: FlowManager, session: CallSession, recorder: ContextRecorder) -> None:
        await flow_manager.initialize(session.first_node())
        await recorder.wait_for(1)

    recorder, _ = await run_flow(script)
    messages, tools = recorder.seen[0]
    prompt = "Remind Ann about Tuesday, December first. met-FOR-min five hundred milligrams"
    assert messages[0] == {"role": "developer", "content": prompt}
    assert tools == ["yes", "nope"]


async def test_transitions_through_flow_manager_change_context_and_tools() -> None:
    async def script(flow_manager: FlowManager, session: CallSession, recorder: ContextRecorder) -> None:
        await flow_manager.initialize(session.first_node())
        await recorder.wait_for(1)
        await flow_manager.set_node_from_config(session.force("greet"))
        await recorder.wait_for(2)
        decided = session.conversation.classify("no thanks")
        assert decided.intent == "nope"
        nope = session.nodes.compiled.entry("greet", "nope")
        result, next_node = session.call_function("greet", nope, {"reason": "busy"})
        assert result["status"] == "recorded" and result["reason"] == "busy"
        await flow_manager.set_node_from_config(next_node)
        await recorder.wait_for(3)

    recorder, session = await run_flow(script)
    last_messages, last_tools = recorder.seen[-1]
    assert {"role": "developer", "content": "Say bye."} in last_messages
    assert last_tools == []
    assert session.conversation.visited == ["greet", "greet", "bye"]
    assert [t.forced for t in session.conversation.transitions] == [True, False]
    assert session.conversation.slots["reason"] == "busy"


def test_ending_node_ends_the_conversation_and_first_node_sets_the_role() -> None:
    compiled = load_schema(DATA / "minimal_schema.yaml")
    record = load_patient(DATA / "minimal_patient.json").validated(compiled)
    precomputed = DataPrecomputer(compiled).precompute_all(record)
    factory = node_factory_for(compiled)
    assert factory is node_factory_for(compiled)
    first = factory.build_node("greet", precomputed, with_role=True)
    assert first["role_message"] == "You call Ann."
    assert "post_actions" not in first
    ending = factory.build_node("bye", precomputed)
    assert ending["post_actions"] == [{"type": "end_conversation"}]
    assert "role_message" not in ending
    assert factory.build_node("greet", precomputed)["functions"] is first["functions"]
