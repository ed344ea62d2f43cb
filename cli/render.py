"""Text rendering of a schema for one patient (`voice-console render`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.errors import EngineError
from engine.paths import default_patient_for
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.prompts import PROMPT, SAY
from engine.schema.compiled import load_schema


def render_schema(schema_path: Path, patient_path: Path | None, states: list[str]) -> str:
    compiled = load_schema(schema_path)
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


def _indent(text: str) -> str:
    return textwrap.indent(text, "    ")
