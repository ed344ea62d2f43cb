"""Per-call precompute: speakable values and every record-only prompt piece."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.data.precompute import raw_display_values, speakable_values

if TYPE_CHECKING:
    from engine.schema.compiled import CompiledSchema


@dataclass(slots=True)
class Precomputed:
    """What one call needs from its patient record, computed once at call start."""

    values: dict[str, Any]  # template context: field -> speakable form
    display: dict[str, str]  # field -> raw value as shown to operators
    static_texts: dict[tuple[str, str], str]  # (state, kind) -> rendered text
    elapsed_ms: float = 0.0
    role: str = field(default="")
    record: dict[str, Any] = field(default_factory=dict)  # the validated record: verify and branches read it


class DataPrecomputer:
    """Turns a validated record into a `Precomputed`; shared by all calls of a schema."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self._compiled = compiled

    def precompute_all(self, record: dict[str, Any]) -> Precomputed:
        """`record` is a normalized record, as returned by `CompiledSchema.validate_data`."""
        started = time.perf_counter()
        contract = self._compiled.schema.data
        values = speakable_values(contract, record, self._compiled.lexicon)
        static_texts = self._compiled.renderer.render_static(values)
        elapsed = (time.perf_counter() - started) * 1000
        return Precomputed(
            values=values,
            display=raw_display_values(contract, record),
            static_texts=static_texts,
            elapsed_ms=elapsed,
            role=static_texts.get(("role", "role"), ""),
            record=record,
        )
