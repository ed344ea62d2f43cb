"""Every bad patient file in tests/data/bad_patients is rejected with the right located problems.

The files are checked against tests/data/bad_patients/_contract_schema.yaml, whose data contract
has a field of every type. Expectations live in tests/data/bad_patients/_expected.yaml (files
starting with "_" are not bad patients). Each file is checked in-process through
`load_patient(...).validated(load_schema(...))` and through `voice-console validate --patient`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.errors import PatientDataError, Problem
from engine.patients import load_patient
from engine.schema.compiled import load_schema
from engine.schema.model import FieldType

BAD_PATIENTS = Path(__file__).resolve().parents[1] / "data" / "bad_patients"
SCHEMA = BAD_PATIENTS / "_contract_schema.yaml"
GOOD = BAD_PATIENTS / "_good_patient.json"
MANIFEST = BAD_PATIENTS / "_expected.yaml"
EXPECTED: dict[str, list[dict]] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
FILES = sorted(p.name for p in BAD_PATIENTS.iterdir() if p.is_file() and not p.name.startswith("_"))
PRIVATE_TYPES = {FieldType.NAME, FieldType.STRING, FieldType.DATE, FieldType.TIME, FieldType.DATETIME,
                 FieldType.PHONE}


def voice_console() -> list[str]:
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
    shown = "\n".join(str(p) for p in problems)
    remaining = list(problems)
    for expected in expectations:
        found = next((p for p in remaining if matches(p, expected, file)), None)
        assert found is not None, f"expected {describe(expected)}; got:\n{shown}"
        remaining.remove(found)
    assert not remaining, "unexpected extra problems:\n" + "\n".join(str(p) for p in remaining)


def line_matches(text: str, expected: dict, file: str) -> bool:
    column = f"{expected['column']}:" if "column" in expected else ""
    if not text.startswith(f"{file}:{expected['line']}:{column}"):
        return False
    if expected["field"] and f": {expected['field']}: " not in text:
        return False
    return expected["message"] in text


def private_values(path: Path) -> set[str]:
    """Text values in a patient file that are patient data: anything but enum values.

    Values of name/text/date/time/phone fields, of fields the contract does not know, and
    list items that are not records. For a file that is not valid JSON, every `"key": "text"`
    pair with a private key is taken.
    """
    contract = load_schema(SCHEMA).schema.data
    found: set[str] = set()

    def add(value: object) -> None:
        if isinstance(value, str) and len(value.strip()) >= 3:
            found.add(value.strip())

    def record(fields: dict, data: object) -> None:
        if not isinstance(data, dict):
            for item in data if isinstance(data, list) else [data]:
                add(item)
            return
        for key, value in data.items():
            field = fields.get(key)
            if field is None or field.type in PRIVATE_TYPES:
                add(value)
            elif field.type is FieldType.LIST:
                for item in value if isinstance(value, list) else [value]:
                    record(field.fields or {}, item)

    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        nested = {k: f for d in contract.values() if d.fields for k, f in d.fields.items()}
        for key, value in re.findall(r'"(\w+)"\s*:\s*"([^"]*)"', text):
            field = contract.get(key) or nested.get(key)
            if key not in ("schema", "id") and (field is None or field.type in PRIVATE_TYPES):
                add(value)
        return found
    record(contract, raw.get("data"))
    return found


def test_manifest_and_files_agree() -> None:
    assert sorted(EXPECTED) == FILES
    assert len(FILES) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_manifest_entries_are_well_formed(name: str) -> None:
    entries = EXPECTED[name]
    assert isinstance(entries, list) and entries, name
    for entry in entries:
        assert set(entry) <= {"line", "column", "field", "message"}, entry
        assert isinstance(entry["line"], int) and entry["line"] >= 1, entry


def test_contract_schema_covers_every_field_type() -> None:
    contract = load_schema(SCHEMA).schema.data
    types = {f.type for f in contract.values()}
    types |= {f.type for d in contract.values() if d.fields for f in d.fields.values()}
    assert types == set(FieldType)


def test_the_good_patient_the_bad_ones_copy_is_valid() -> None:
    record = load_patient(GOOD).validated(load_schema(SCHEMA))
    assert record["patient_name"] == "Maria Lopez"
    assert len(record["medications"]) == 2
    result = subprocess.run([*voice_console(), "validate", str(SCHEMA), "--patient", str(GOOD)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"OK: {GOOD} meets the data contract" in result.stdout


@pytest.mark.parametrize("name", FILES)
def test_validated_reports_the_fault(name: str) -> None:
    path = BAD_PATIENTS / name
    compiled = load_schema(SCHEMA)
    with pytest.raises(PatientDataError) as caught:
        load_patient(path).validated(compiled)
    assert_problems(caught.value.problems, EXPECTED.get(name, []), str(path))


@pytest.mark.parametrize("name", FILES)
def test_cli_validate_reports_the_fault_without_patient_values(name: str) -> None:
    path = BAD_PATIENTS / name
    result = subprocess.run(
        [*voice_console(), "validate", str(SCHEMA), "--patient", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout.startswith("OK: 2 nodes")  # the schema itself is fine
    assert "meets the data contract" not in result.stdout
    lines = result.stderr.splitlines()
    expectations = EXPECTED.get(name, [])
    for expected in expectations:
        assert any(line_matches(line, expected, str(path)) for line in lines), (
            f"expected a line for {describe(expected)}; stderr:\n{result.stderr}"
        )
    assert len(lines) == len(expectations), f"one line per problem expected; stderr:\n{result.stderr}"
    leaked = {value for value in private_values(path) if value in result.stderr or value in result.stdout}
    assert not leaked, f"patient values printed: {leaked}"


def test_privacy_check_finds_the_values_it_guards() -> None:
    """The leak check above is only as good as `private_values`; make sure it sees them."""
    values = private_values(BAD_PATIENTS / "several_faults.json")
    assert {"Maria Lopez", "2026-02-30", "410-77889", "Lisinopril", "09:45"} <= values
    assert "procdure" not in values and "mg" not in values  # enum values are not private
    assert "123-45-6789" in private_values(BAD_PATIENTS / "unknown_field.json")
    assert "Metformin 2 tablets" in private_values(BAD_PATIENTS / "list_item_not_a_mapping.json")
    unparsable = private_values(BAD_PATIENTS / "invalid_json_syntax.json")
    assert "Maria Lopez" in unparsable and "Lisinopril" in unparsable and "tablets" not in unparsable


def test_several_faults_are_all_reported_at_once() -> None:
    path = BAD_PATIENTS / "several_faults.json"
    with pytest.raises(PatientDataError) as caught:
        load_patient(path).validated(load_schema(SCHEMA))
    problems = caught.value.problems
    assert [p.field for p in problems] == [
        "data.birth_date", "data.callback_phone", "data.visit_type", "data.medications[0].dose",
    ]
    assert [p.line for p in problems] == [8, 11, 15, 17]


def test_patient_errors_name_the_file_given() -> None:
    """Problems carry the path as the caller wrote it, so the CLI prints what the user typed."""
    relative = Path("tests/data/bad_patients/bad_time.json")
    absolute = BAD_PATIENTS / "bad_time.json"
    with pytest.raises(PatientDataError) as caught:
        load_patient(absolute).validated(load_schema(SCHEMA))
    assert caught.value.problems[0].file == str(absolute)
    if relative.resolve() == absolute:  # when run from the project root
        with pytest.raises(PatientDataError) as caught:
            load_patient(relative).validated(load_schema(SCHEMA))
        assert caught.value.problems[0].file == str(relative)
