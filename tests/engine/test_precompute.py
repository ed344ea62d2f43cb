from datetime import date, datetime, time

from engine.data.lexicon import Lexicon
from engine.data.precompute import raw_display_values, speakable_values
from engine.schema.model import DataField, FieldType

CONTRACT = {
    "patient_name": DataField(type=FieldType.NAME),
    "clinic": DataField(type=FieldType.STRING, pronounce=True),
    "note": DataField(type=FieldType.STRING, required=False),
    "appointment_date": DataField(type=FieldType.DATE),
    "appointment_time": DataField(type=FieldType.TIME),
    "arrive_at": DataField(type=FieldType.DATETIME),
    "callback_phone": DataField(type=FieldType.PHONE),
    "age": DataField(type=FieldType.INTEGER),
    "weight_kg": DataField(type=FieldType.NUMBER),
    "fasting": DataField(type=FieldType.BOOLEAN),
    "visit_type": DataField(type=FieldType.ENUM, values=["checkup", "follow_up"]),
    "medications": DataField(
        type=FieldType.LIST,
        fields={
            "name": DataField(type=FieldType.STRING, pronounce=True),
            "dose": DataField(type=FieldType.NUMBER),
            "unit": DataField(type=FieldType.ENUM, values=["mg", "tablets", "nasal_spray"]),
        },
    ),
}

RECORD = {
    "patient_name": "Maria Lopez",
    "clinic": "Riverside Clinic",
    "appointment_date": date(2026, 3, 3),
    "appointment_time": time(14, 30),
    "arrive_at": datetime(2026, 3, 3, 14, 15),
    "callback_phone": "5552013344",
    "age": 46,
    "weight_kg": 70.5,
    "fasting": False,
    "visit_type": "follow_up",
    "medications": [
        {"name": "HCTZ", "dose": 12.5, "unit": "mg"},
        {"name": "Aspirin", "dose": 1.0, "unit": "tablets"},
        {"name": "Flonase", "dose": 2.0, "unit": "nasal_spray"},
    ],
}

LEXICON = Lexicon({"Riverside Clinic": "River-side Clinic", "HCTZ": "hydrochlorothiazide"})


def test_speakable_values_by_type() -> None:
    assert speakable_values(CONTRACT, RECORD, LEXICON) == {
        "patient_name": "Maria Lopez",
        "clinic": "River-side Clinic",
        "note": "",
        "appointment_date": "Tuesday, March third",
        "appointment_time": "two thirty PM",
        "arrive_at": "Tuesday, March third at two fifteen PM",
        "callback_phone": "five five five, two zero one, three three four four",
        "age": "forty-six",
        "weight_kg": "seventy point five",
        "fasting": "no",
        "visit_type": "follow up",
        "medications": [
            {"name": "hydrochlorothiazide", "dose": "twelve point five", "unit": "milligrams"},
            {"name": "Aspirin", "dose": "one", "unit": "tablet"},
            {"name": "Flonase", "dose": "two", "unit": "nasal spray"},
        ],
    }


def test_lexicon_applies_only_to_pronounced_fields() -> None:
    record = {**RECORD, "patient_name": "Riverside Clinic"}
    assert speakable_values(CONTRACT, record, LEXICON)["patient_name"] == "Riverside Clinic"


def test_missing_optional_list_is_empty() -> None:
    fields = {"name": DataField(type=FieldType.STRING)}
    contract = {"medications": DataField(type=FieldType.LIST, required=False, fields=fields)}
    assert speakable_values(contract, {}, Lexicon()) == {"medications": []}


def test_raw_display_values() -> None:
    assert raw_display_values(CONTRACT, RECORD) == {
        "patient_name": "Maria Lopez",
        "clinic": "Riverside Clinic",
        "appointment_date": "2026-03-03",
        "appointment_time": "14:30",
        "arrive_at": "2026-03-03T14:15",
        "callback_phone": "555-201-3344",
        "age": "46",
        "weight_kg": "70.5",
        "fasting": "false",
        "visit_type": "follow_up",
        "medications": "3 items",
    }


def test_raw_display_of_whole_floats_single_items_and_seconds() -> None:
    one_medication = RECORD["medications"][:1]
    record = {**RECORD, "weight_kg": 70.0, "appointment_time": time(9, 5, 30), "medications": one_medication}
    shown = raw_display_values(CONTRACT, record)
    assert shown["weight_kg"] == "70"
    assert shown["appointment_time"] == "09:05:30"
    assert shown["medications"] == "1 item"
