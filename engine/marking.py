"""Prompt and say texts rendered with each patient value marked by the field it came from.

The console shows which part of a rendered node came from which record field. Values are
wrapped in invisible markers while the template renders, then the text is split at them:

    values, raws = marked_values(compiled, precomputed, record)
    text = compiled.renderer.render_template(state, "say", values, slots)
    segments = split_marked(text, raws)  # [(text, field, raw value)], field "" for template text
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.data.precompute import raw_display_values
from engine.precompute import Precomputed
from engine.schema.compiled import CompiledSchema

Segment = tuple[str, str, str]  # (text, field, raw value); field is "" for template text

_OPEN, _SEP, _CLOSE = "\ue000", "\ue001", "\ue002"  # private-use code points: never in a template
_MARKED = re.compile(f"{_OPEN}([^{_SEP}]*){_SEP}(.*?){_CLOSE}", re.DOTALL)


class Marked(str):
    """A speakable value that prints wrapped in markers naming its field, but compares, tests
    and slices as the plain value, so template logic renders exactly as in the call."""

    field: str

    def __new__(cls, value: str, field: str) -> Marked:
        marked = super().__new__(cls, value)
        marked.field = field
        return marked

    def __str__(self) -> str:
        return f"{_OPEN}{self.field}{_SEP}{str.__str__(self)}{_CLOSE}"


@dataclass(frozen=True)
class RenderContext:
    """What renders a node for one patient: the schema, the precomputed values and the slots."""

    compiled: CompiledSchema
    precomputed: Precomputed
    record: Mapping[str, Any]
    slots: Mapping[str, Any]

    def segments(self, state: str, kind: str) -> list[Segment]:
        values, raws = marked_values(self.compiled, self.precomputed, self.record)
        try:
            text = self.compiled.renderer.render_template(state, kind, values, self.slots)
        except Exception:
            return plain_segments(self.compiled.renderer.render(state, kind, self.precomputed, self.slots))
        return split_marked(text, raws)


def marked_values(compiled: CompiledSchema, precomputed: Precomputed,
                  record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Template values wrapped in field markers, and each field's raw value by its label."""
    values: dict[str, Any] = {}
    raws: dict[str, str] = dict(precomputed.display)
    for name, value in precomputed.values.items():
        if isinstance(value, str):
            values[name] = Marked(value, name)
        elif isinstance(value, list):
            values[name] = _marked_items(compiled, name, value, record.get(name) or [], raws)
        else:
            values[name] = value
    return values, raws


def _marked_items(compiled: CompiledSchema, name: str, items: list[dict[str, Any]],
                  raw_items: list[dict[str, Any]], raws: dict[str, str]) -> list[dict[str, Any]]:
    fields = compiled.schema.data[name].fields or {}
    marked = []
    for index, item in enumerate(items):
        raw_item = raw_items[index] if index < len(raw_items) else {}
        shown = raw_display_values(fields, raw_item)
        entry = {}
        for key, value in item.items():
            label = f"{name}[{index}].{key}"
            raws[label] = shown.get(key, "")
            entry[key] = Marked(value, label) if isinstance(value, str) else value
        marked.append(entry)
    return marked


def split_marked(text: str, raws: Mapping[str, str]) -> list[Segment]:
    """Rendered text with markers -> segments of (text, field, raw value)."""
    segments: list[Segment] = []
    position = 0
    for match in _MARKED.finditer(text):
        if match.start() > position:
            segments.append((text[position:match.start()], "", ""))
        if match.group(2):
            segments.append((match.group(2), match.group(1), raws.get(match.group(1), "")))
        position = match.end()
    if position < len(text):
        segments.append((text[position:], "", ""))
    return segments


def plain_segments(text: str) -> list[Segment]:
    """Text with no marked values: one unmarked segment (none for empty text)."""
    return [(text, "", "")] if text else []
