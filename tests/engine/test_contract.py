import json
from datetime import date, datetime, time
from pathlib import Path

import pytest

from engine.data.contract import validate_data
from engine.errors import PatientDataError
from engine.schema.model import DataField, FieldType
from engine.schema.yaml_loader import load_yaml

VISIT_TYPES = ["checkup", "follow_up", "procedure"]
BAD_EXTENSION = "expected an extension of 1 to 6 digits after the number, like 555-201-3344 ext. 210"


def full_contract() -> dict[str, DataField]:
    return {
        "patient_name": DataField(type=FieldType.NAME),
        "note": DataField(type=FieldType.STRING, required=False),
        "birth_date": DataField(type=FieldType.DATE),
        "appointment_time": DataField(type=FieldType.TIME),
        "appointment_at": DataField(type=FieldType.DATETIME),
        "callback_phone": DataField(type=FieldType.PHONE),
        "age": DataField(type=FieldType.INTEGER),
        "weight_kg": DataField(type=FieldType.NUMBER),
        "fasting": DataField(type=FieldType.BOOLEAN),
        "visit_type": DataField(type=FieldType.ENUM, values=VISIT_TYPES),
        "medications": DataField(
            type=FieldType.LIST,
            fields={
                "name": DataField(type=FieldType.STRING),
                "dose": DataField(type=FieldType.NUMBER),
                "unit": DataField(type=FieldType.ENUM, values=["mg", "tablets"]),
            },
        ),
    }


def good_record() -> dict[str, object]:
    return {
        "patient_name": "  Maria Lopez ",
        "birth_date": "1980-02-29",
        "appointment_time": "14:30",
        "appointment_at": "2026-11-20T10:15",
        "callback_phone": "(555) 201-3344",
        "age": 46,
        "weight_kg": 70,
        "fasting": True,
        "visit_type": "follow_up",
        "medications": [{"name": "Lisinopril", "dose": 10, "unit": "mg"}],
    }


def problems_of(record: object, contract: dict[str, DataField] | None = None) -> list[str]:
    with pytest.raises(PatientDataError) as caught:
        validate_data(contract or full_contract(), record)
    return [f"{p.field}: {p.message}" for p in caught.value.problems]


def test_normalizes_every_type() -> None:
    assert validate_data(full_contract(), good_record()) == {
        "patient_name": "Maria Lopez",
        "birth_date": date(1980, 2, 29),
        "appointment_time": time(14, 30),
        "appointment_at": datetime(2026, 11, 20, 10, 15),
        "callback_phone": "5552013344",
        "age": 46,
        "weight_kg": 70.0,
        "fasting": True,
        "visit_type": "follow_up",
        "medications": [{"name": "Lisinopril", "dose": 10.0, "unit": "mg"}],
    }


def test_number_is_float_and_optional_fields_are_absent() -> None:
    result = validate_data(full_contract(), {**good_record(), "note": "   "})
    assert isinstance(result["weight_kg"], float)
    assert "note" not in result


def test_accepts_python_values_and_seconds() -> None:
    record = {
        **good_record(),
        "birth_date": date(1980, 2, 29),
        "appointment_time": "14:30:00",
        "appointment_at": datetime(2026, 11, 20, 10, 15),
    }
    result = validate_data(full_contract(), record)
    assert result["appointment_time"] == time(14, 30)
    assert result["birth_date"] == date(1980, 2, 29)


def test_collects_every_problem_at_once() -> None:
    bad = {"birth_date": "1980-13-45", "age": "46", "fasting": "yes", "visit_type": "chekup"}
    record = {**good_record(), **bad}
    assert problems_of(record) == [
        "data.age: expected a whole number, got text",
        "data.birth_date: expected a date like 2026-12-01",
        "data.fasting: expected true or false, got text",
        "data.visit_type: unknown value 'chekup' (expected one of checkup, follow_up, procedure; "
        "did you mean 'checkup'?)",
    ]


def test_missing_empty_and_unknown_fields() -> None:
    record = {**good_record(), "patient_name": "  ", "fasting": None, "shoe_size": 9}
    del record["age"]
    assert problems_of(record) == [
        "data.age: required field is missing",
        "data.fasting: required field is empty",
        "data.patient_name: required field is empty",
        "data.shoe_size: not in the data contract",
    ]


def test_booleans_are_not_numbers_but_integers_are() -> None:
    assert validate_data(full_contract(), {**good_record(), "weight_kg": 70})["weight_kg"] == 70.0
    assert problems_of({**good_record(), "age": True, "weight_kg": False}) == [
        "data.age: expected a whole number, got true/false",
        "data.weight_kg: expected a number, got true/false",
    ]
    assert problems_of({**good_record(), "age": 46.5}) == [
        "data.age: expected a whole number, got a decimal number"
    ]


def test_bad_times_and_phones() -> None:
    record = {
        **good_record(),
        "appointment_time": "2:30 pm",
        "appointment_at": "2026-11-20",
        "callback_phone": "555-201-33",
        "patient_name": 42,
    }
    assert problems_of(record) == [
        "data.appointment_at: expected a date and time like 2026-11-20T10:15",
        "data.appointment_time: expected a time like 14:30",
        "data.callback_phone: expected a US phone number with 10 digits, like 555-201-3344",
        "data.patient_name: expected a name as text, got a whole number",
    ]


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("(555) 201-3344 ext. 210", "5552013344x210"),
        ("555-201-3344 x210", "5552013344x210"),
        ("555.201.3344 extension 210", "5552013344x210"),
        ("1-555-201-3344 ext 4", "15552013344x4"),
    ],
)
def test_phones_may_carry_an_extension(written: str, normalized: str) -> None:
    result = validate_data(full_contract(), {**good_record(), "callback_phone": written})
    assert result["callback_phone"] == normalized


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("(555) 201-3344 ext.", BAD_EXTENSION),
        ("555-201-3344 x21O", BAD_EXTENSION),
        ("555-201-3344 ext 1234567", BAD_EXTENSION),
        ("555-201-33 ext. 210", "expected a US phone number with 10 digits, like 555-201-3344"),
        ("555-201-3344 #210", "expected a US phone number with 10 digits, like 555-201-3344"),
    ],
)
def test_bad_extensions_are_told_apart_from_bad_numbers(written: str, message: str) -> None:
    assert problems_of({**good_record(), "callback_phone": written}) == [f"data.callback_phone: {message}"]


def test_enum_without_close_match_gives_no_suggestion() -> None:
    assert problems_of({**good_record(), "visit_type": "surgery"}) == [
        "data.visit_type: unknown value 'surgery' (expected one of checkup, follow_up, procedure)"
    ]


def test_list_problems_carry_the_item_index() -> None:
    medications = [
        {"name": "Lisinopril", "dose": 10, "unit": "mg"},
        {"name": "Metformin", "dose": "lots", "unit": "mg", "colour": "white"},
        "Aspirin",
    ]
    assert problems_of({**good_record(), "medications": medications}) == [
        "data.medications[1].colour: not in the data contract",
        "data.medications[1].dose: expected a number, got text",
        "data.medications[2]: expected a mapping of fields, got text",
    ]
    assert problems_of({**good_record(), "medications": {"name": "x"}}) == [
        "data.medications: expected a list of records, got a mapping"
    ]


def test_record_must_be_a_mapping() -> None:
    assert problems_of(["not", "a", "record"]) == ["data: expected a mapping of fields, got a list"]


def test_without_positions_problems_use_the_given_file() -> None:
    with pytest.raises(PatientDataError) as caught:
        validate_data(full_contract(), {}, file="maria.json")
    assert {(p.file, p.line, p.column) for p in caught.value.problems} == {("maria.json", 0, 0)}
    assert len(caught.value.problems) == 10


def test_no_patient_value_appears_in_any_message() -> None:
    secrets = {
        "patient_name": ["Maria", "Lopez"],
        "note": ["SECRETNOTE"],
        "birth_date": "1980-13-45",
        "appointment_time": "25:61",
        "appointment_at": "2026-99-20T10:15",
        "callback_phone": "555-867-530",
        "age": "forty-six",
        "weight_kg": "seventy kilos",
        "fasting": "definitely",
        "medications": [{"name": 12345, "dose": "999mg", "unit": "mg"}],
    }
    with pytest.raises(PatientDataError) as caught:
        validate_data(full_contract(), {**good_record(), **secrets})
    text = str(caught.value)
    assert len(caught.value.problems) == 11
    for leaked in ("Maria", "Lopez", "SECRETNOTE", "1980", "25:61", "2026-99", "867", "forty-six", "seventy",
                   "definitely", "12345", "999"):
        assert leaked not in text


def test_problems_from_a_json_file_have_line_numbers(tmp_path: Path) -> None:
    document = {"schema": "visit_reminder", "id": "p-001", "data": {**good_record(), "age": "old"}}
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    value, positions = load_yaml(path)
    with pytest.raises(PatientDataError) as caught:
        validate_data(full_contract(), value["data"], positions=positions)
    [problem] = caught.value.problems
    lines = path.read_text().splitlines()
    age_line, text = next((n, line) for n, line in enumerate(lines, 1) if '"age"' in line)
    assert (problem.file, problem.line, problem.field) == (str(path), age_line, "data.age")
    assert problem.column == text.index('"old"') + 1


def test_missing_field_points_at_its_record(tmp_path: Path) -> None:
    path = tmp_path / "patient.json"
    lines = ["{", '  "schema": "s",', '  "data": {', '    "medications": [', '      {"name": "A", "dose": 1}']
    path.write_text("\n".join([*lines, "    ]", "  }", "}", ""]), encoding="utf-8")
    value, positions = load_yaml(path)
    contract = {"medications": full_contract()["medications"]}
    with pytest.raises(PatientDataError) as caught:
        validate_data(contract, value["data"], positions=positions)
    [problem] = caught.value.problems
    assert (problem.line, problem.column, problem.field) == (5, 7, "data.medications[0].unit")


def test_text_and_list_lengths_are_capped_per_field_or_by_default() -> None:
    contract = {
        "note": DataField(type=FieldType.STRING, max_length=5),
        "name": DataField(type=FieldType.NAME),
        "meds": DataField(type=FieldType.LIST, max_length=2,
                          fields={"name": DataField(type=FieldType.STRING)}),
    }
    assert validate_data(contract, {"note": "short", "name": "A" * 2000, "meds": [{"name": "a"}] * 2})
    with pytest.raises(PatientDataError) as caught:
        validate_data(contract, {"note": "longer", "name": "A" * 2001, "meds": [{"name": "a"}] * 3})
    assert sorted((p.field, p.message) for p in caught.value.problems) == [
        ("data.meds", "more than 2 records (max_length)"),
        ("data.name", "text longer than 2,000 characters (max_length)"),
        ("data.note", "text longer than 5 characters (max_length)"),
    ]
