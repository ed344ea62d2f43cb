"""Test scripts with `call:` steps, on a plain Pipecat flow and on a schema, with coverage of branch edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import TestScriptError
from engine.paths import SCHEMAS_DIR
from engine.testing.coverage import coverage
from engine.testing.runner import run_script
from engine.testing.script import load_test_script

FLOWS = Path(__file__).resolve().parent.parent / "fixtures" / "flows"


async def test_a_flow_script_passes_and_covers_every_node_and_branch_edge() -> None:
    script = load_test_script(FLOWS / "clinic_intake.test.yaml")
    assert script.schema.is_flow
    result = await run_script(script)
    assert [c.case for c in result.cases if not c.passed] == []
    covered = coverage(script.schema, result.cases)
    assert covered.state_percent == 100 and covered.edge_percent == 100
    assert ("check_insurance", "check_insurance", "self_pay") in covered.taken


async def test_a_wrong_expectation_on_a_call_step_fails(tmp_path: Path) -> None:
    script_file = tmp_path / "wrong.test.yaml"
    script_file.write_text(f"""schema: {FLOWS / 'clinic_intake.yaml'}
handlers: {FLOWS / 'clinic_handlers.py'}
state: {FLOWS / 'clinic_state.json'}
cases:
  - name: expired is not active
    steps:
      - call: {{function: wants_booking}}
      - call: {{function: check_insurance, args: {{member_id: B200}}}}
        expect: {{state: pick_slot}}
""")
    result = await run_script(load_test_script(script_file))
    failed = result.cases[0]
    assert not failed.passed and "self_pay" in failed.message + failed.detail


def test_a_call_step_naming_no_function_is_located(tmp_path: Path) -> None:
    script_file = tmp_path / "bad.test.yaml"
    script_file.write_text(f"""schema: {FLOWS / 'clinic_intake.yaml'}
handlers: {FLOWS / 'clinic_handlers.py'}
state: {FLOWS / 'clinic_state.json'}
cases:
  - name: typo
    steps:
      - call: {{function: check_insurence}}
""")
    with pytest.raises(TestScriptError) as raised:
        load_test_script(script_file)
    problem = raised.value.problems[0]
    assert (problem.line, problem.field) == (7, "cases[0].steps[0].call.function")
    assert "unknown function 'check_insurence'" in problem.message and "check_insurance" in problem.message


async def test_a_schema_script_calls_functions_with_exact_arguments(tmp_path: Path) -> None:
    script_file = tmp_path / "lab.test.yaml"
    script_file.write_text(f"""schema: {SCHEMAS_DIR / 'lab_results_callback.yaml'}
patient: lab_results_callback__linda_park.json
cases:
  - name: verified by a function call
    steps:
      - call: {{function: is_patient}}
        expect: {{state: verify_identity}}
      - call: {{function: dob_given, args: {{date_of_birth: "1948-03-12"}}}}
        expect:
          state: deliver_critical
          function:
            name: verify_identity
            arguments: {{date_of_birth: "1948-03-12"}}
            result: {{verified: true}}
""")
    result = await run_script(load_test_script(script_file))
    assert result.cases[0].passed, result.cases[0].message
