"""Errors as operator-readable lines: one per located problem, files by their base name."""

from __future__ import annotations

from engine.describe import describe, describe_problem
from engine.errors import EngineError, Problem, SchemaError


def test_each_problem_is_one_line_with_file_line_and_field() -> None:
    error = SchemaError([Problem("/deep/path/b.yaml", 0, 0, "", "empty file"),
                         Problem("/deep/path/a.yaml", 12, 3, "states.greet.say", "unknown variable 'x'")])
    assert describe(error) == ["a.yaml:12: states.greet.say: unknown variable 'x'", "b.yaml: empty file"]


def test_a_problem_without_a_field_names_only_where() -> None:
    assert describe_problem(Problem("/x/p.json", 4, 1, "", "not JSON")) == "p.json:4: not JSON"


def test_other_errors_are_their_message_or_their_type_and_message() -> None:
    assert describe(EngineError("the call could not start")) == ["the call could not start"]
    assert describe(ValueError("bad value")) == ["ValueError: bad value"]
