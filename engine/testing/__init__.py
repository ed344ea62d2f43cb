"""Schema test scripts: load them, run their cases through the real pipeline, measure coverage.

    script = load_test_script("schemas/tests/appointment_reminder.test.yaml")
    result = await run_script(script)
    print(coverage(script.schema, result.cases).edge_percent)

The format is described in docs/schema-tests.md. Nothing here prints.
"""

from engine.testing.coverage import Coverage, coverage, coverage_detail, coverage_text, edge_text
from engine.testing.junit import junit_element, write_junit
from engine.testing.runner import (
    CaseResult,
    Failure,
    Mismatch,
    ScriptResult,
    discover_scripts,
    run_case,
    run_script,
    transcript,
)
from engine.testing.script import (
    STAGES,
    Expectation,
    FunctionExpectation,
    Step,
    TestCase,
    TestScript,
    load_test_script,
)

__all__ = [
    "STAGES",
    "CaseResult",
    "Coverage",
    "Expectation",
    "Failure",
    "FunctionExpectation",
    "Mismatch",
    "ScriptResult",
    "Step",
    "TestCase",
    "TestScript",
    "coverage",
    "coverage_detail",
    "coverage_text",
    "discover_scripts",
    "edge_text",
    "junit_element",
    "load_test_script",
    "run_case",
    "run_script",
    "transcript",
    "write_junit",
]
