"""How much of a schema the test cases reached: states visited, transitions taken on an intent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.schema.compiled import CompiledSchema
from engine.testing.runner import CaseResult, Edge


@dataclass(frozen=True)
class Coverage:
    schema: str
    states: tuple[str, ...]  # every state, in schema order
    visited: tuple[str, ...]
    edges: tuple[Edge, ...]  # every transition as (source, intent, target), in schema order
    taken: tuple[Edge, ...]  # forced moves never count: they do not exercise an edge

    @property
    def unreached_states(self) -> list[str]:
        return [s for s in self.states if s not in self.visited]

    @property
    def untaken_edges(self) -> list[Edge]:
        return [e for e in self.edges if e not in self.taken]

    @property
    def state_percent(self) -> float:
        return _percent(len(self.visited), len(self.states))

    @property
    def edge_percent(self) -> float:
        return _percent(len(self.taken), len(self.edges))


def coverage(schema: CompiledSchema, results: Iterable[CaseResult]) -> Coverage:
    """Coverage of `schema` by the results of its cases (results of other schemas are ignored)."""
    mine = [r for r in results if r.schema == schema.name]
    states = tuple(schema.schema.nodes)
    edges = tuple(schema.edges())
    seen_states = {s for r in mine for s in r.visited}
    seen_edges = {e for r in mine for e in r.edges}
    return Coverage(
        schema=schema.name,
        states=states,
        visited=tuple(s for s in states if s in seen_states),
        edges=edges,
        taken=tuple(e for e in edges if e in seen_edges),
    )


def edge_text(edge: Edge) -> str:
    source, intent, target = edge
    return f"{source} --{intent}--> {target}"


def coverage_text(covered: Coverage, cases: int, names_shown: int = 6) -> str:
    """A short coverage summary: states visited and transitions taken, and the first states missed
    (the graph's overlay marks every one)."""
    runs = f"{cases} case{'s' if cases != 1 else ''}"
    states = f"states {len(covered.visited)}/{len(covered.states)} ({covered.state_percent:.0f}%)"
    edges = f"transitions {len(covered.taken)}/{len(covered.edges)} ({covered.edge_percent:.0f}%)"
    lines = [f"Coverage of the last run ({runs}): {states}, {edges}"]
    unreached, untaken = covered.unreached_states, covered.untaken_edges
    if unreached:
        more = len(unreached) - names_shown
        rest = f" and {more} more" if more > 0 else ""
        lines.append("Not reached: " + ", ".join(unreached[:names_shown]) + rest)
    if untaken:
        lines.append(f"Not taken: {len(untaken)} transition{'s' if len(untaken) != 1 else ''} "
                     "(dashed red on the graph)")
    return "\n".join(lines)


def coverage_detail(unreached: Iterable[str], untaken: Iterable[Edge]) -> str:
    """Every state missed and transition not taken, one a line (for a tooltip)."""
    lines = [*(f"not reached: {state}" for state in sorted(unreached)),
             *(f"not taken: {edge_text(edge)}" for edge in sorted(untaken))]
    return "\n".join(lines) or "Every state reached and every transition taken."


def _percent(part: int, whole: int) -> float:
    return 100.0 if whole == 0 else 100.0 * part / whole
