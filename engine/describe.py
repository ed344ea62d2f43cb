"""Errors as the lines an operator reads: one per located problem, the file named by its base name."""

from __future__ import annotations

from pathlib import Path

from engine.errors import EngineError, Problem, ProblemsError


def describe(error: BaseException) -> list[str]:
    """An error as the lines an operator reads: one per located problem."""
    if isinstance(error, ProblemsError):
        return [describe_problem(problem) for problem in error.problems]
    if isinstance(error, EngineError):
        return [str(error)]
    return [f"{type(error).__name__}: {error}"]


def describe_problem(problem: Problem) -> str:
    where = f"{Path(problem.file).name}:{problem.line}" if problem.line else Path(problem.file).name
    field = f" {problem.field}:" if problem.field else ""
    return f"{where}:{field} {problem.message}"
