"""The functions a test script's expectations may name, and what is said when one is unknown."""

from __future__ import annotations

from engine.schema.check import did_you_mean
from engine.schema.compiled import CompiledSchema


def schema_functions(compiled: CompiledSchema) -> list[str]:
    """Declared functions this schema's nodes call."""
    return sorted({e.name for n in compiled.schema.nodes for e in compiled.entries_of(n) if e.name})


def parameters_of(name: str, compiled: CompiledSchema) -> list[str]:
    if not compiled.is_flow:
        return list(compiled.functions[name].parameters)
    entries = (e for n in compiled.schema.nodes for e in compiled.entries_of(n) if e.name == name)
    return list(next(entries).properties)


def unknown_function(name: str, compiled: CompiledSchema) -> str:
    if name in compiled.schema.intents:
        return f"'{name}' is an intent, not a function: expect it with 'intent: {name}'"
    known = schema_functions(compiled)
    if name in compiled.functions:
        return f"function '{name}' is never called by schema '{compiled.name}' (it calls: {', '.join(known)})"
    hint = did_you_mean(name, known)
    return f"unknown function '{name}'{hint} (schema '{compiled.name}' calls: {', '.join(known)})"
