"""What a node offers the operator (or a test script) to call: its functions, described as plain data.

The console builds its function form from these, and `call_function` (engine/driving.py) takes
the same names back.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.schema.model import Branch, Parameter


@dataclass(frozen=True)
class OfferedFunction:
    """One function the current node offers.

    `parameters` are the ones the caller (or operator) fills, as our `Parameter` types; empty when
    they are unknown (a flow function without a handlers module). `result_cases` maps each field
    the function's transition branches on to the case values that pick a node. Without a handler
    (`has_handler` false) the operator supplies the function's result.
    """

    name: str
    description: str
    parameters: dict[str, Parameter]
    result_cases: dict[str, tuple[str, ...]]
    has_handler: bool
    targets: tuple[str, ...] = ()  # the nodes it can lead to


def result_cases(transition_to: str | Branch | None) -> dict[str, tuple[str, ...]]:
    """The branch field of a transition with its case values (none for a plain transition)."""
    if not isinstance(transition_to, Branch):
        return {}
    return {transition_to.field: tuple(transition_to.cases)}
