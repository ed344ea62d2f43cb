"""The shown schema as panels see it: its graph (`SchemaInfo`) and each node's texts (`NodeView`).

`NodeRenderer` remembers the shown schema, a preview for the chosen patient, and what a call said
on entering each node, and renders node views from the best of them: the live call's own values,
else the preview, else (for a replayed call) only the texts the call said.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.controllers.flow_files import filled_segments
from console.controllers.functions import offered_choices
from console.panels import Edge, IntentChoice, NodeView, SchemaInfo
from engine import events as ev
from engine.describe import describe
from engine.errors import EngineError
from engine.marking import RenderContext, plain_segments
from engine.paths import SCHEMAS_DIR
from engine.patients import load_patient
from engine.pipeline import HealthcareAIPipeline
from engine.precompute import DataPrecomputer
from engine.prompts import PROMPT, SAY
from engine.schema.compiled import CompiledSchema, load_schema
from engine.schema.model import Branch


class NodeRenderer:
    def __init__(self) -> None:
        self.shown: CompiledSchema | None = None
        self._seen: dict[str, CompiledSchema] = {}  # by name, to show past calls of opened files
        self._preview: RenderContext | None = None
        self._entered: dict[str, tuple[str, str]] = {}  # state -> (prompt, say) as the call said them

    def show(self, compiled: CompiledSchema | None) -> bool:
        """Show this schema; False if it is already shown."""
        if compiled is self.shown:
            return False
        if compiled is not None:
            self._seen[compiled.name] = compiled
        self.shown = compiled
        return True

    def known_schema(self, name: str) -> CompiledSchema | None:
        """A schema by name: one shown before, else the bundled one, else None."""
        return self._seen.get(name) or _bundled_schema(name)

    def clear_preview(self) -> None:
        self._preview = None

    def preview_patient(self, compiled: CompiledSchema, patient_path: str) -> list[str]:
        """Preview the schema's nodes for a patient; every problem found (none: ready)."""
        if not patient_path:
            return [f"no patient chosen for schema '{compiled.name}'"]
        try:
            record = load_patient(patient_path).validated(compiled)
        except EngineError as error:
            return describe(error)
        return self.preview_record(compiled, record)

    def preview_record(self, compiled: CompiledSchema, record: dict[str, Any]) -> list[str]:
        """Preview the schema's nodes for a validated record (a plain flow's is empty); no problems."""
        precomputed = DataPrecomputer(compiled).precompute_all(record)
        self._preview = RenderContext(compiled, precomputed, record, {})
        return []

    def entered(self, event: ev.NodeEntered) -> None:
        self._entered[event.state] = (event.prompt, event.say)

    def forget_entered(self) -> None:
        self._entered.clear()

    def view(self, state: str, current: bool, call: HealthcareAIPipeline | None) -> NodeView | None:
        """A node's rendered texts (values marked with their fields) and template sources;
        `call` is the live call (None when a past call is shown)."""
        compiled = self.shown
        if compiled is None or state not in compiled.schema.nodes:
            return None
        context = self._context(call)
        record = context.record if context is not None else {}
        if context is not None:
            say, prompt = context.segments(state, SAY), context.segments(state, PROMPT)
        else:
            prompt_text, say_text = self._entered.get(state, ("", ""))
            say, prompt = plain_segments(say_text), plain_segments(prompt_text)
        if compiled.flow is not None:  # a plain flow: its placeholders filled from the flow's state
            manager = call.flow_manager if call is not None else None
            values = manager.state if manager is not None else compiled.flow.initial_state
            say, prompt = filled_segments(say, values), filled_segments(prompt, values)
        return NodeView(state=state, current=current, say=say, prompt=prompt,
                        say_source=compiled.renderer.template(state, SAY).source,
                        prompt_source=compiled.renderer.template(state, PROMPT).source,
                        intents=[_intent_choice(compiled, state, intent)
                                 for intent in compiled.intents_of(state)],
                        functions=offered_choices(compiled, state, record))

    def _context(self, call: HealthcareAIPipeline | None) -> RenderContext | None:
        shown = self.shown
        if call is not None and shown is not None and call.conversation.compiled is shown:
            return RenderContext(shown, call.precomputed, call.patient_data, call.conversation.slots)
        if self._preview is not None and self._preview.compiled is shown:
            return self._preview
        return None

    @staticmethod
    def event_view(event: ev.NodeEntered) -> NodeView:
        """A node as its event tells it (for a node the shown schema lacks)."""
        return NodeView(state=event.state, current=True, say=plain_segments(event.say),
                        prompt=plain_segments(event.prompt), say_source="", prompt_source="", intents=[],
                        functions=[])


def schema_info(compiled: CompiledSchema) -> SchemaInfo:
    nodes = compiled.schema.nodes
    return SchemaInfo(name=compiled.name, path=str(compiled.path), states=list(nodes),
                      edges=compiled.edges(),
                      initial=compiled.schema.initial_node,
                      endings={name for name, node in nodes.items() if node.ending},
                      edge_labels=branch_labels(compiled),
                      decisions={name for name, node in nodes.items() if node.decide is not None},
                      is_flow=compiled.is_flow)


def branch_labels(compiled: CompiledSchema) -> dict[Edge, str]:
    """Each branch edge's label: its intent (or decided field) and the case values (or "default") leading
    there."""
    labels: dict[Edge, str] = {}
    for name, node in compiled.schema.nodes.items():
        branches = [(entry.label, entry.transition_to) for entry in compiled.entries_of(name)
                    if isinstance(entry.transition_to, Branch)]
        if node.decide is not None:
            branches.append((node.decide.field, node.decide))
        for label, branch in branches:
            for target in branch.targets():
                cases = [case for case, to in branch.cases.items() if to == target]
                cases += ["default"] if branch.default == target else []
                labels[(name, label, target)] = f"{label}: {' / '.join(cases)}"
    return labels


def schema_name_of(schema_path: str) -> str:
    try:
        return load_schema(schema_path).name
    except EngineError:
        return Path(schema_path).stem


def _intent_choice(compiled: CompiledSchema, state: str, intent: str) -> IntentChoice:
    targets = compiled.targets_of(state, intent)  # several when the function branches
    return IntentChoice(intent, list(compiled.schema.intents[intent].examples), " | ".join(targets),
                        bool(targets) and all(compiled.is_ending(t) for t in targets))


def _bundled_schema(name: str) -> CompiledSchema | None:
    try:
        return load_schema(SCHEMAS_DIR / f"{name}.yaml")
    except EngineError:
        return None


def classification_view(event: ev.Classified) -> dict[str, Any]:
    """Why a turn got its intent, as plain data: {intent, confidence, margin, rule, matched, asked,
    candidates: [[intent, score]]}."""
    return {"intent": event.intent, "confidence": event.confidence, "margin": event.margin,
            "rule": event.rule, "matched": event.matched, "asked": list(event.asked),
            "candidates": [[intent, score]
                           for intent, score in zip(event.candidates, event.scores, strict=True)]}
