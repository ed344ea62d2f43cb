"""Per-call template context: every contract field in the form the voice should say it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from engine.data.lexicon import Lexicon
from engine.data.speakable import (
    speak_boolean,
    speak_date,
    speak_date_with_year,
    speak_datetime,
    speak_integer,
    speak_number,
    speak_phone,
    speak_time,
    speak_unit,
)
from engine.schema.model import DataField, FieldType


def _as_is(value: Any) -> str:
    return str(value)


def _enum(value: str) -> str:
    return value.replace("_", " ")


_SPEAKERS: dict[FieldType, Callable[[Any], str]] = {
    FieldType.STRING: _as_is,
    FieldType.NAME: _as_is,
    FieldType.DATE: speak_date,
    FieldType.TIME: speak_time,
    FieldType.DATETIME: speak_datetime,
    FieldType.PHONE: speak_phone,
    FieldType.INTEGER: speak_integer,
    FieldType.NUMBER: speak_number,
    FieldType.BOOLEAN: speak_boolean,
    FieldType.ENUM: _enum,
}


def speakable_values(
    contract: dict[str, DataField], record: dict[str, Any], lexicon: Lexicon
) -> dict[str, Any]:
    """Each field's spoken form from a normalized record; a missing optional field is ''."""
    return {name: _speak_field(field, record.get(name), lexicon) for name, field in contract.items()}


def _speak_field(field: DataField, value: Any, lexicon: Lexicon) -> Any:
    if value is None:
        return [] if field.type is FieldType.LIST else ""
    if field.type is FieldType.LIST:
        return [_speak_item(field.fields or {}, item, lexicon) for item in value]
    with_year = field.type is FieldType.DATE and field.say_year
    speaker = speak_date_with_year if with_year else _SPEAKERS[field.type]
    spoken = speaker(value)
    return lexicon.apply(spoken) if field.pronounce else spoken


def _speak_item(fields: dict[str, DataField], item: dict[str, Any], lexicon: Lexicon) -> dict[str, str]:
    """One list record; a `unit` agrees in number with the record's `dose` ('1 tablet', '2 tablets')."""
    spoken = speakable_values(fields, item, lexicon)
    dose, unit = item.get("dose"), item.get("unit")
    if isinstance(unit, str) and isinstance(dose, int | float) and not isinstance(dose, bool):
        agreed = _enum(speak_unit(unit, dose))
        unit_field = fields.get("unit")
        spoken["unit"] = lexicon.apply(agreed) if unit_field and unit_field.pronounce else agreed
    return spoken


def raw_display_values(contract: dict[str, DataField], record: dict[str, Any]) -> dict[str, str]:
    """Each present field's raw value as short text for the console ('2026-12-01', '3 items')."""
    present = ((name, field) for name, field in contract.items() if record.get(name) is not None)
    return {name: _display(field, record[name]) for name, field in present}


def _display(field: DataField, value: Any) -> str:
    if field.type is FieldType.PHONE:
        return _display_phone(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return f"{len(value)} item" if len(value) == 1 else f"{len(value)} items"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes" if not value.second else "seconds")
    if isinstance(value, time):
        return value.isoformat(timespec="minutes" if not value.second else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _display_phone(digits: str) -> str:
    """'5552013344' -> '555-201-3344'; '15552013344' -> '1-555-201-3344'."""
    if len(digits) == 11:
        return f"1-{_display_phone(digits[1:])}"
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if len(digits) == 10 else digits
