"""A plain Pipecat flow's companions: its handlers module and its initial state file.

The operator (or `voice-console gui --handlers/--state`) names them in Call setup (`CallSetup.handlers`
and `.state`); the setup panel asks before naming a handlers module, because loading the flow imports it
and that runs its code. A schema (with `name:`) takes neither, so they reach the loader only for a flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from console.panels import CallSetup, Segment
from engine.interop.flow_in import PLACEHOLDER, lookup
from engine.interop.handlers import load_state
from engine.schema.compiled import CompiledSchema, load_schema
from engine.schema.model import is_plain_flow
from engine.schema.yaml_loader import YamlLoadError, load_yaml

NO_PATIENT = "flow"  # the patient id of a plain flow's calls: a flow has no patient record


def load_setup(setup: CallSetup) -> CompiledSchema:
    """The schema or flow `setup` names; a flow joined with the setup's handlers module and initial state
    (only a file given either is parsed first, to tell a flow from a schema, which takes neither)."""
    path, handlers, state = setup["schema"], setup.get("handlers", ""), setup.get("state", "")
    if not (handlers or state) or not is_flow_file(path):
        return load_schema(path)
    return load_schema(path, handlers=handlers or None, state=load_state(Path(state)) if state else None)


def flow_patient_id(setup: CallSetup) -> str:
    """What a flow's call is filed under in the history: its state file's name, else "flow"."""
    state = setup.get("state", "")
    return Path(state).stem if state else NO_PATIENT


def is_flow_file(path: str) -> bool:
    """Whether `path` holds a plain Pipecat flow (even one with problems), not a schema; each version of
    a file is parsed once."""
    try:
        modified = Path(path).stat().st_mtime_ns
    except OSError:
        return False
    return _is_flow_version(str(Path(path).resolve()), modified)


@lru_cache(maxsize=64)
def _is_flow_version(path: str, _modified: int) -> bool:
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
