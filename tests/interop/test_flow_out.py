"""export-flow: every bundled schema's export runs on stock Pipecat as the schema runs here.

Each bundled test case is run through our engine (the test runner, the scripted responder); its
function calls, not-understood turns and forced moves are then replayed into a real FlowManager on a
real pipeline running the exported flow.yaml + handlers.py, which must enter the same nodes in the
same order with the same task messages.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pipecat.flows import Flow

from engine import events as ev
from engine.interop.flow_out import export_flow, load_exported
from engine.paths import bundled_schemas
from engine.pipeline import HealthcareAIPipeline
from engine.schema.compiled import CompiledSchema, load_schema
from engine.testing.runner import run_case
from engine.testing.script import load_test_script
from tests.support.replay_llm import ReplayStep, replay

SCHEMAS = bundled_schemas()
CASES = [(path, case.name) for path in SCHEMAS
         for case in load_test_script(path.parent / "tests" / f"{path.stem}.test.yaml").cases]


def load_export(compiled: CompiledSchema, out: Path) -> tuple[Flow, ModuleType]:
    """Export into `out`, then load it as a Pipecat user would: FlowConfig.from_file + its module."""
    export_flow(compiled, out)
    return load_exported(out, f"handlers_{compiled.name}_{out.name}")


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.stem for p in SCHEMAS])
def test_every_bundled_schema_exports_and_loads_with_pipecats_own_loader(path: Path, tmp_path: Path) -> None:
    compiled = load_schema(path)
    flow, handlers = load_export(compiled, tmp_path)
    spoken = {name for name, node in compiled.schema.nodes.items() if node.decide is None}
    assert set(flow.config.nodes) == spoken
    assert flow.config.initial_node == compiled.schema.initial_node
    assert "engine" not in (tmp_path / "handlers.py").read_text()  # nothing of this project
    assert callable(handlers.initial_state)


@pytest.mark.parametrize(("path", "case_name"), CASES, ids=[f"{p.stem}:{name}" for p, name in CASES])
async def test_each_case_reaches_the_same_nodes_on_stock_pipecat(path: Path, case_name: str,
                                                                 tmp_path: Path) -> None:
    compiled = load_schema(path)
    script = load_test_script(path.parent / "tests" / f"{path.stem}.test.yaml")
    case = next(c for c in script.cases if c.name == case_name)
    calls: list[HealthcareAIPipeline] = []
    await run_case(script, case, on_call=calls.append)
    history = list(calls[0].events.history)
    expected = [(event.state, event.prompt) for event in history if isinstance(event, ev.NodeEntered)]

    flow, handlers = load_export(compiled, tmp_path)
    llm = await replay(flow.initial_node, flow.node, handlers.initial_state(case.record),
                       replay_steps(compiled, history), flow.global_functions)

    assert not llm.pending, "the exported flow ended before every recorded call was replayed"
    assert [e.node for e in llm.entered] == [node for node, _ in expected]
    assert [e.prompt.strip() for e in llm.entered] == [prompt.strip() for _, prompt in expected]
    role = calls[0].precomputed.role.strip()
    assert role and all(e.role.startswith(role) for e in llm.entered)


def replay_steps(compiled: CompiledSchema, history: list[ev.CallEvent]) -> list[ReplayStep]:
    """What the engine's call did, as steps for the exported flow: each function called (by the tool
    the LLM sees), each not-understood turn in a node that counts attempts, each forced move."""
    steps: list[ReplayStep] = []
    for index, event in enumerate(history):
        if isinstance(event, ev.FunctionCalled) and event.result.get("status") != "ignored":
            entry = _entry_called(compiled, event, history[index + 1:])
            unbound = {k: v for k, v in event.arguments.items() if k in entry.properties}
            steps.append(ReplayStep(tool=entry.tool, arguments=unbound))
        elif isinstance(event, ev.Classified) and event.intent is None and not event.asked \
                and compiled.node(event.state).attempts is not None:
            steps.append(ReplayStep(tool="not_understood"))
        elif isinstance(event, ev.Transition) and event.forced:
            steps.append(ReplayStep(force=_spoken_node(compiled, event, history[index + 1:])))
    return steps


def _entry_called(compiled: CompiledSchema, called: ev.FunctionCalled, later: list[ev.CallEvent]) -> Any:
    """The node's entry that ran: by its function's name, and by the move it made when two share one."""
    entries = [e for e in compiled.entries_of(called.state) if (e.name or e.tool) == called.name]
    if len(entries) > 1:
        moved = next((e for e in later if isinstance(e, ev.Transition)), None)
        entries = [e for e in entries if moved is not None and e.label == moved.intent] or entries
    return entries[0]


def _spoken_node(compiled: CompiledSchema, forced: ev.Transition, later: list[ev.CallEvent]) -> str:
    """Where a forced move came to rest: past any decision nodes."""
    target = forced.target
    for event in later:
        if compiled.node(target).decide is None or not isinstance(event, ev.Transition):
            break
        target = event.target
    return target


def test_case_list_is_not_empty() -> None:
    assert len(CASES) >= 4 * 3
