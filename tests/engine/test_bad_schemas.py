"""Every malformed schema in tests/data/bad_schemas is rejected with the right located problems.

The expected problems live in tests/data/bad_schemas/_expected.yaml (files starting with "_"
are not schemas). Each schema is checked twice: in-process through `load_schema`, and through
the real `voice-console validate` command in a subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.errors import Problem, SchemaError
from engine.paths import SCHEMAS_DIR
from engine.schema.compiled import load_schema

DATA = Path(__file__).resolve().parents[1] / "data"
BAD_SCHEMAS = DATA / "bad_schemas"
MANIFEST = BAD_SCHEMAS / "_expected.yaml"
EXPECTED: dict[str, list[dict]] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
FILES = sorted(p.name for p in BAD_SCHEMAS.iterdir() if p.is_file() and not p.name.startswith("_"))


def voice_console() -> list[str]:
    """The installed `voice-console` script next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "voice-console"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("voice-console")
    if found is None:
        pytest.fail("the voice-console script is not installed (pip install -e .)")
    return [found]


def matches(problem: Problem, expected: dict, file: str) -> bool:
    return (
        problem.file == file
        and problem.line == expected["line"]
        and ("column" not in expected or problem.column == expected["column"])
        and problem.field == expected["field"]
        and expected["message"] in problem.message
    )


def describe(expected: dict) -> str:
    column = f":{expected['column']}" if "column" in expected else ""
    return f"{expected['line']}{column} {expected['field']!r} ~ {expected['message']!r}"


def assert_problems(problems: list[Problem], expectations: list[dict], file: str) -> None:
    """Each expectation is met by its own problem, and there are no other problems."""
    shown = "\n".join(str(p) for p in problems)
    remaining = list(problems)
    for expected in expectations:
        found = next((p for p in remaining if matches(p, expected, file)), None)
        assert found is not None, f"expected {describe(expected)}; got:\n{shown}"
        remaining.remove(found)
    assert not remaining, "unexpected extra problems:\n" + "\n".join(str(p) for p in remaining)


def line_matches(text: str, expected: dict, file: str) -> bool:
    """One stderr line printed as `file:line:col: field: message`."""
    column = f"{expected['column']}:" if "column" in expected else ""
    if not text.startswith(f"{file}:{expected['line']}:{column}"):
        return False
    if expected["field"] and f": {expected['field']}: " not in text:
        return False
    return expected["message"] in text


def test_manifest_and_files_agree() -> None:
    """Nobody adds a bad schema without its expectation, or leaves a stale one."""
    assert sorted(EXPECTED) == FILES
    assert len(FILES) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_manifest_entries_are_well_formed(name: str) -> None:
    entries = EXPECTED[name]
    assert isinstance(entries, list) and entries, name
    for entry in entries:
        assert set(entry) <= {"line", "column", "field", "message"}, entry
        assert isinstance(entry["line"], int) and entry["line"] >= 1, entry
        assert isinstance(entry["field"], str), entry
        assert isinstance(entry["message"], str) and entry["message"], entry


@pytest.mark.parametrize("name", FILES)
def test_load_schema_reports_the_fault(name: str) -> None:
    path = BAD_SCHEMAS / name
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert_problems(caught.value.problems, EXPECTED.get(name, []), str(path))


@pytest.mark.parametrize("name", FILES)
def test_cli_validate_reports_the_fault(name: str) -> None:
    path = BAD_SCHEMAS / name
    result = subprocess.run(
        [*voice_console(), "validate", str(path)],
        capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "OK:" not in result.stdout
    lines = result.stderr.splitlines()
    expectations = EXPECTED.get(name, [])
    for expected in expectations:
        assert any(line_matches(line, expected, str(path)) for line in lines), (
            f"expected a line for {describe(expected)}; stderr:\n{result.stderr}"
        )
    assert len(lines) == len(expectations), f"one line per problem expected; stderr:\n{result.stderr}"


@pytest.mark.parametrize("name", ["three_faults_checks.yaml", "three_faults_model.yaml"])
def test_three_separate_faults_are_reported_at_once(name: str) -> None:
    path = BAD_SCHEMAS / name
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    problems = caught.value.problems
    assert len(problems) == 3, "\n".join(str(p) for p in problems)
    assert len({p.line for p in problems}) == 3
    assert len({p.field for p in problems}) == 3
    assert [p.line for p in problems] == sorted(p.line for p in problems)  # reported in file order
    assert str(caught.value) == "\n".join(str(p) for p in problems)


def test_problem_prints_as_one_located_line() -> None:
    problem = Problem("s.yaml", 32, 27, "nodes.greet.functions[0].transition_to", "unknown node 'dne'")
    assert str(problem) == "s.yaml:32:27: nodes.greet.functions[0].transition_to: unknown node 'dne'"
    assert str(Problem("s.yaml", 3, 18, "", "YAML syntax: bad")) == "s.yaml:3:18: YAML syntax: bad"


def test_the_minimal_schema_the_bad_ones_copy_is_valid() -> None:
    compiled = load_schema(DATA / "minimal_schema.yaml")
    assert set(compiled.schema.nodes) == {"greet", "done", "bye"}
    result = subprocess.run([*voice_console(), "validate", str(DATA / "minimal_schema.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 3 nodes, 2 transitions, 3 variables")
    assert result.stderr == ""


def test_missing_schema_file_is_a_located_error_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SchemaError) as caught:
        load_schema(missing)
    assert [p.message for p in caught.value.problems] == ["cannot read file: No such file or directory"]
    result = subprocess.run([*voice_console(), "validate", str(missing)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{missing}: cannot read file")


def test_a_schema_without_its_name_is_reported_as_a_schema(tmp_path: Path) -> None:
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("\n".join(line for line in (SCHEMAS_DIR / "lab_results_callback.yaml").read_text()
                                   .splitlines() if not line.startswith("name:")))
    with pytest.raises(SchemaError) as caught:
        load_schema(nameless)
    problems = [(p.field, p.message) for p in caught.value.problems]
    assert problems == [("name", "missing required field 'name'")]
