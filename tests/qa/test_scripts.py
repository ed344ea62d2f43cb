"""Loading schema test scripts: the bundled ones load; every malformed one is rejected with located problems.

The expected problems live in tests/data/bad_test_scripts/_expected.yaml (files starting with "_"
are not scripts). Each bad script is checked in-process, and all of them at once through the real
`voice-console test` command in a subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.errors import Problem, TestScriptError
from engine.paths import PROJECT_ROOT, SCHEMA_TESTS_DIR, SCHEMAS_DIR
from engine.testing import Expectation, FunctionExpectation, load_test_script

DATA = Path(__file__).resolve().parents[1] / "data"
BAD = DATA / "bad_test_scripts"
EXPECTED: dict[str, list[dict]] = yaml.safe_load((BAD / "_expected.yaml").read_text(encoding="utf-8"))
FILES = sorted(p.name for p in BAD.glob("*.test.yaml"))
BUNDLED = sorted(SCHEMA_TESTS_DIR.glob("*.test.yaml"))
ANN = DATA / "minimal_patient.json"


def voice_console() -> list[str]:
    beside = Path(sys.executable).parent / "voice-console"
    found = str(beside) if beside.exists() else shutil.which("voice-console")
    if found is None:
        pytest.fail("the voice-console script is not installed (pip install -e .)")
    return [found]


def matches(problem: Problem, expected: dict, script: Path) -> bool:
    file = script.parent / expected["file"] if "file" in expected else script
    return (
        Path(problem.file).resolve() == file.resolve()
        and problem.line == expected["line"]
        and problem.column == expected["column"]
        and problem.field == expected["field"]
        and expected["message"] in problem.message
    )


def assert_problems(problems: list[Problem], expectations: list[dict], script: Path) -> None:
    """Each expectation is met by its own problem, and there are no other problems."""
    shown = "\n".join(map(str, problems))
    remaining = list(problems)
    for expected in expectations:
        found = next((p for p in remaining if matches(p, expected, script)), None)
        assert found is not None, f"expected {expected}; got:\n{shown}"
        remaining.remove(found)
    assert not remaining, "unexpected extra problems:\n" + "\n".join(map(str, remaining))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ----- bundled scripts --------------------------------------------------------------------------


def test_every_bundled_schema_has_a_script() -> None:
    assert [p.name for p in BUNDLED] == [f"{s.stem}.test.yaml" for s in sorted(SCHEMAS_DIR.glob("*.yaml"))]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_script_loads(path: Path) -> None:
    script = load_test_script(path)
    assert script.schema_name == path.name.removesuffix(".test.yaml")
    assert len(script.cases) >= 10
    assert len({c.name for c in script.cases}) == len(script.cases)
    assert all(case.steps and case.record for case in script.cases)


def test_steps_and_expectations_are_parsed() -> None:
    script = load_test_script(SCHEMA_TESTS_DIR / "appointment_reminder.test.yaml")
    first = script.case("confirms on the first ask")
    assert first.patient_id == "alex_morgan"
    check, greet, confirm = first.steps[:3]
    assert (check.action, check.text) == ("check", "")
    assert greet.action == "say" and greet.text == "Yes, this is Alex speaking."
    assert greet.expect.within_ms == {"render": 5.0, "transition": 50.0, "turn": 200.0}
    assert confirm.expect.function == FunctionExpectation("confirm_appointment", {})
    assert confirm.expect.bot_avoids == ("fasting",)
    forced = script.case("operator forces the goodbye").steps[-1]
    assert (forced.action, forced.text, forced.expect.forced) == ("force", "closing", True)
    inline = script.case("inline record without a location")
    assert inline.patient_id == "inline:inline record without a location"
    assert inline.record["patient_first_name"] == "Priya"
    assert Expectation().empty and not confirm.expect.empty
    with pytest.raises(KeyError, match="no case 'nope'"):
        script.case("nope")


# ----- malformed scripts ------------------------------------------------------------------------


def test_manifest_and_files_agree() -> None:
    """Nobody adds a bad script without its expectations, or leaves stale ones."""
    assert sorted(EXPECTED) == FILES
    assert len(FILES) >= 10


@pytest.mark.parametrize("name", FILES)
def test_malformed_script_reports_every_problem_located(name: str) -> None:
    with pytest.raises(TestScriptError) as caught:
        load_test_script(BAD / name)
    assert_problems(caught.value.problems, EXPECTED[name], BAD / name)


def test_cli_prints_all_problems_of_all_scripts_and_exits_1() -> None:
    folder = BAD.relative_to(PROJECT_ROOT)
    done = subprocess.run([*voice_console(), "test", str(folder)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "PASS" not in done.stdout
    lines = [line for line in done.stderr.splitlines() if "| INFO" not in line]
    for name, expectations in EXPECTED.items():
        for expected in expectations:
            file = folder / expected.get("file", name)
            prefix = f"{file}:{expected['line']}:{expected['column']}:"
            assert any(line.startswith(prefix) and expected["message"] in line for line in lines), \
                f"missing {prefix} {expected['message']!r} in:\n" + "\n".join(lines)
    assert len(lines) == sum(map(len, EXPECTED.values()))


# ----- where schemas and patients are found -----------------------------------------------------

SCRIPT = """\
schema: {schema}
cases:
  - name: one
    patient: {patient}
    steps:
      - say: "yes"
        expect: {{state: {state}}}
"""


def test_schema_name_resolves_beside_the_scripts_folder(tmp_path: Path) -> None:
    shutil.copy(DATA / "minimal_schema.yaml", tmp_path / "minimal_schema.yaml")
    path = write(tmp_path / "tests" / "minimal_schema.test.yaml",
                 SCRIPT.format(schema="minimal_schema", patient="ann.json", state="done"))
    shutil.copy(DATA / "minimal_patient.json", tmp_path / "tests" / "ann.json")  # beside the script
    script = load_test_script(path)
    assert script.schema.path == tmp_path / "minimal_schema.yaml"
    assert script.cases[0].patient_id == "ann"


def test_schema_path_is_relative_to_the_script_and_can_be_overridden(tmp_path: Path) -> None:
    shutil.copy(DATA / "minimal_schema.yaml", tmp_path / "schema.yaml")
    path = write(tmp_path / "x.test.yaml", SCRIPT.format(schema="schema.yaml", patient=ANN, state="done"))
    assert load_test_script(path).schema.path == tmp_path / "schema.yaml"
    other = write(tmp_path / "other.test.yaml", SCRIPT.format(schema="nowhere", patient=ANN, state="done"))
    assert load_test_script(other, schema=DATA / "minimal_schema.yaml").schema_name == "minimal_schema"


def test_references_are_checked_against_an_overriding_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "x.test.yaml", SCRIPT.format(schema="nowhere", patient=ANN, state="confirmed"))
    with pytest.raises(TestScriptError) as caught:
        load_test_script(path, schema=DATA / "minimal_schema.yaml")
    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (7, "cases[0].steps[0].expect.state")
    assert problem.message == "unknown state 'confirmed'"


def test_a_broken_schema_reports_the_schemas_own_problems(tmp_path: Path) -> None:
    original = (DATA / "minimal_schema.yaml").read_text(encoding="utf-8")
    broken = original.replace("transition_to: done}", "transition_to: dnoe}")
    write(tmp_path / "minimal_schema.yaml", broken)
    path = write(tmp_path / "tests" / "minimal_schema.test.yaml",
                 SCRIPT.format(schema="minimal_schema", patient=ANN, state="done"))
    with pytest.raises(TestScriptError) as caught:
        load_test_script(path)
    assert any(p.file.endswith("minimal_schema.yaml") and "dnoe" in p.message for p in caught.value.problems)
