"""A transition on a plain Pipecat flow run by our engine, beside the bare `set_node_from_config`.

The flow is `examples/flows/refill_request.yaml` with its handlers and state. Each sample calls the
tool's handler as FlowManager does (the direct function runs, its result's branch picks the node,
the engine records it and builds the node), then sets that node, as `bench_transitions` does for a
schema; the baseline sets the node reached again with nothing else, on the same FlowManager.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipecat.flows import FlowsFunctionSchema

from engine import driving

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "flows"
FLOW, HANDLERS, STATE = EXAMPLE / "refill_request.yaml", EXAMPLE / "handlers.py", EXAMPLE / "state.json"
START, FUNCTION, ARGUMENTS = "welcome", "find_prescription", {"medicine": "atorvastatin"}
WARM_UP = 3  # the first calls pay imports and caches


async def bench_flow_transitions(repeat: int, samples: dict[str, list[float]]) -> None:
    """Adds seconds to samples["flow_transition"] and samples["flow_set_node_bare"]."""
    from bench.core import settle
    from engine.calls import call_for_record
    from engine.interop.handlers import load_state
    from engine.schema.compiled import load_schema

    compiled = load_schema(FLOW, handlers=HANDLERS, state=load_state(STATE))
    call = call_for_record(compiled, {}, "bench")
    await driving.start_call(call)
    flow_manager = call.flow_manager
    if flow_manager is None:
        raise RuntimeError("the bench flow call has no FlowManager after start")
    session = call.session
    handler = _handler(session.nodes.functions_of(START), FUNCTION)
    try:
        for index in range(repeat + WARM_UP):
            await flow_manager.set_node_from_config(session.force(START))
            await settle()
            started = time.perf_counter()
            _, node = await handler(dict(ARGUMENTS), flow_manager)
            if node is None:
                raise RuntimeError(f"{FUNCTION} moved the flow nowhere")
            await flow_manager.set_node_from_config(node)
            transition = time.perf_counter() - started
            await settle()
            reached = session.force(call.conversation.current)
            started = time.perf_counter()
            await flow_manager.set_node_from_config(reached)
            bare = time.perf_counter() - started
            await settle()
            if index >= WARM_UP:
                samples.setdefault("flow_transition", []).append(transition)
                samples.setdefault("flow_set_node_bare", []).append(bare)
    finally:
        await driving.finish(call, "the bench is over")


def _handler(functions: list[Any], name: str) -> Any:
    for function in functions:
        if isinstance(function, FlowsFunctionSchema) and function.name == name:
            return function.handler
    raise RuntimeError(f"the flow's {START} node has no function {name}")
