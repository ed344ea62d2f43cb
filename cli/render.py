"""Text rendering of a schema for one patient (`voice-console render`)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.interop.flow_in import fill, original
from engine.paths import default_patient_for
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.prompts import PROMPT, SAY
from engine.schema.compiled import CompiledSchema, load_schema


def render_schema(schema: Path | CompiledSchema, patient_path: Path | None, states: list[str]) -> str:
    compiled = schema if isinstance(schema, CompiledSchema) else load_schema(schema)
    if compiled.flow is not None:
        return render_flow(compiled, compiled.flow.initial_state, states)
    patient_path = patient_path or default_patient_for(compiled.name)
    if patient_path is None:
        raise EngineError(f"no patient given and none bundled for schema '{compiled.name}'")
    record = load_patient(patient_path).validated(compiled)
    precomputed = DataPrecomputer(compiled).precompute_all(record)
    unknown = [s for s in states if s not in compiled.schema.nodes]
    if unknown:
        raise EngineError(f"unknown node(s): {', '.join(unknown)}")
    lines = [f"# {compiled.name} {compiled.schema.version} for {patient_path.name} "
             f"(precompute {precomputed.elapsed_ms:.3f} ms)", "", "## role", precomputed.role, ""]
    for name, node in compiled.schema.nodes.items():
        if states and name not in states:
            continue
        marker = " (start)" if name == compiled.schema.initial_node else " (end)" if node.ending else ""
        render = compiled.renderer.render
        if node.decide is not None:
            lines += [f"## {name} (decides on {node.decide.field}){marker}"]
        else:
            lines += [f"## {name}{marker}", "prompt:", _indent(render(name, PROMPT, precomputed)),
                      "say:", _indent(render(name, SAY, precomputed))]
        lines += [f"  -> {label}: {target}" for source, label, target in compiled.edges() if source == name]
        lines.append("")
    return "\n".join(lines)


def render_flow(compiled: CompiledSchema, state: dict[str, Any], nodes: list[str]) -> str:
    """A plain flow's prompts with the initial state's placeholders filled (a `{{ key }}` a handler
    stores later stays as written)."""
    unknown = [n for n in nodes if n not in compiled.schema.nodes]
    if unknown:
        raise EngineError(f"unknown node(s): {', '.join(unknown)}")
    lines = [f"# Pipecat flow {compiled.path.name}", ""]
    for name, node in compiled.schema.nodes.items():
        if nodes and name not in nodes:
            continue
        marker = " (start)" if name == compiled.schema.initial_node else " (end)" if node.ending else ""
        lines.append(f"## {name}{marker}")
        if node.role_message is not None:
            lines += ["role:", _indent(fill(original(node.role_message), state)[0])]
        prompt = "\n\n".join(original(m.content) for m in node.task_messages)
        lines += ["prompt:", _indent(fill(prompt, state)[0])]
        for kind, actions in (("pre", node.pre_actions), ("post", node.post_actions)):
            for action in actions:
                said = f": {fill(original(action.text), state)[0]}" if action.text else ""
                runs = f" ({action.handler})" if action.handler else ""
                lines.append(f"  {kind}_action {action.type}{said}{runs}")
        lines += [f"  -> {label}: {target}" for source, label, target in compiled.edges() if source == name]
        lines.append("")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return textwrap.indent(text, "    ")
