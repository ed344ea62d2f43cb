"""A plain Pipecat flow's companions: its handlers module and its initial state file.

The operator (or `voice-console gui --handlers/--state`) names them; the setup panel asks before a
handlers module is named here, because loading the flow imports it and that runs its code. A schema
(with `name:`) takes neither, so they are passed to the loader only for a plain flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.panels import Segment
from engine.interop.flow_in import PLACEHOLDER, lookup
from engine.interop.handlers import load_state
from engine.schema.compiled import CompiledSchema, load_schema
from engine.schema.model import is_plain_flow
from engine.schema.yaml_loader import YamlLoadError, load_yaml

NO_PATIENT = "flow"  # the patient id of a plain flow's calls: a flow has no patient record


class FlowFiles:
    def __init__(self) -> None:
        self.handlers = ""  # a confirmed handlers module (.py), or ""
        self.state = ""  # an initial state file (.json), or ""

    def set(self, handlers: str, state: str) -> None:
        self.handlers, self.state = handlers, state

    def load(self, path: str) -> CompiledSchema:
        """The schema or flow at `path`; a flow joined with the handlers module and initial state."""
        if not is_flow_file(path):
            return load_schema(path)
        state = load_state(Path(self.state)) if self.state else None
        return load_schema(path, handlers=self.handlers or None, state=state)

    def patient_id(self) -> str:
        """What a flow's call is filed under in the history: its state file's name, else "flow"."""
        return Path(self.state).stem if self.state else NO_PATIENT


def is_flow_file(path: str) -> bool:
    """Whether `path` holds a plain Pipecat flow (even one with problems), not a schema."""
    try:
        raw, _positions = load_yaml(path)
    except (YamlLoadError, OSError):
        return False
    return is_plain_flow(raw)


def filled_segments(segments: list[Segment], state: Mapping[str, Any]) -> list[Segment]:
    """A flow node's texts with each `{{ key }}` that `state` has filled, as a segment marked with its key
    (so the prompt view highlights it as it does a record's value); unknown keys stay as written."""
    filled: list[Segment] = []
    for text, field, raw in segments:
        if field:
            filled.append((text, field, raw))
            continue
        start = 0
        for match in PLACEHOLDER.finditer(text):
            found = None if match.group(1) else lookup(state, match.group(2))
            if found is not None:
                value = str(found[0])
                filled += [(text[start:match.start()], "", ""), (value, match.group(2), value)]
                start = match.end()
        filled.append((text[start:], "", ""))
    return [segment for segment in filled if segment[0]]
