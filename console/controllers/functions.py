"""The functions a node offers (`CompiledSchema.offered_functions`), as plain `FunctionChoice` data for
the step panel's function form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.panels import FunctionChoice, ParameterSpec
from engine.schema.compiled import CompiledSchema
from engine.schema.model import Parameter, ParamType


def offered_choices(compiled: CompiledSchema, state: str, record: Mapping[str, Any]) -> list[FunctionChoice]:
    """The node's offered functions; an item parameter lists the names of `record`'s items."""
    return [FunctionChoice(name=offered.name, description=offered.description,
                           parameters=[_spec(name, parameter, record) for name, parameter
                                       in offered.parameters.items()],
                           result_cases={field: [str(case) for case in cases]
                                         for field, cases in offered.result_cases.items()},
                           has_handler=offered.has_handler)
            for offered in compiled.offered_functions(state)]


def _spec(name: str, parameter: Parameter, record: Mapping[str, Any]) -> ParameterSpec:
    return ParameterSpec(name, parameter.type.value, parameter.description, parameter.required,
                         _choices(parameter, record))


def _choices(parameter: Parameter, record: Mapping[str, Any]) -> list[str]:
    if parameter.type is ParamType.ENUM:
        return list(parameter.values or [])
    if parameter.type is ParamType.ITEM and parameter.of:
        items = record.get(parameter.of) or []
        return [str(item.get("name", "")) for item in items if isinstance(item, Mapping)]
    return []

