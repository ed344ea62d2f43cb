"""Check a patient record against a schema's data contract and normalize its values.

Every bad field is collected and raised at once as one `PatientDataError`.
Messages describe the kind of value that was found, never the value itself,
so logs do not leak patient data; only enum values (not PHI) are echoed.
A missing optional field (absent, null or blank text) is left out of the result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar

from rapidfuzz import fuzz, process, utils

from engine.data.speakable import normalize_phone, split_phone_extension
from engine.errors import PatientDataError, Problem
from engine.schema.model import DataField, FieldType
from engine.schema.yaml_loader import PathKey, Positions, dotted

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2})?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?")
_SUGGESTION_CUTOFF = 75
DEFAULT_MAX_TEXT = 2_000  # characters of a text field without its own `max_length`
DEFAULT_MAX_RECORDS = 200  # records of a list field without its own `max_length`
_ABSENT = object()
_Parsed = TypeVar("_Parsed")


class _Invalid(Exception):
    """One field's value is unusable; the message is safe to log."""


class _Collector:
    def __init__(self, positions: Positions | None, file: str) -> None:
        self.positions = positions
        self.file = file
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str) -> None:
        if self.positions is not None:
            self.problems.append(self.positions.problem(path, message))
        else:
            self.problems.append(Problem(self.file, 0, 0, dotted(path), message))


def validate_data(
    contract: dict[str, DataField],
    record: object,
    *,
    positions: Positions | None = None,
    file: str = "<record>",
    base_path: PathKey = ("data",),
) -> dict[str, Any]:
    """The normalized record, or `PatientDataError` listing every bad field."""
    collector = _Collector(positions, file)
    normalized = _check_record(contract, record, tuple(base_path), collector)
    if collector.problems:
        raise PatientDataError(collector.problems)
    return normalized


def _check_record(
    contract: dict[str, DataField], record: object, path: PathKey, collector: _Collector
) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        collector.add(path, f"expected a mapping of fields, got {_kind(record)}")
        return {}
    for key in record:
        if key not in contract:
            collector.add((*path, str(key)), "not in the data contract")
    normalized: dict[str, Any] = {}
    for name, field in contract.items():
        value = _check_field(field, record.get(name, _ABSENT), (*path, name), collector)
        if value is not None:
            normalized[name] = value
    return normalized


def _check_field(field: DataField, value: object, path: PathKey, collector: _Collector) -> Any:
    if _is_blank(value):
        if field.required:
            collector.add(path, "required field is " + ("missing" if value is _ABSENT else "empty"))
        return None
    if (too_long := _too_long(field, value)) is not None:
        collector.add(path, too_long)
        return None
    if field.type is FieldType.LIST:
        return _check_list(field, value, path, collector)
    try:
        return _CHECKERS[field.type](value, field)
    except _Invalid as invalid:
        collector.add(path, str(invalid))
        return None


def _too_long(field: DataField, value: object) -> str | None:
    """A text or list past the field's `max_length` (or the default cap)."""
    if isinstance(value, str):
        limit = field.max_length or DEFAULT_MAX_TEXT
        return f"text longer than {limit:,} characters (max_length)" if len(value) > limit else None
    if isinstance(value, list) and field.type is FieldType.LIST:
        limit = field.max_length or DEFAULT_MAX_RECORDS
        return f"more than {limit:,} records (max_length)" if len(value) > limit else None
    return None


def _is_blank(value: object) -> bool:
    return value is _ABSENT or value is None or (isinstance(value, str) and not value.strip())


def _check_list(
    field: DataField, value: object, path: PathKey, collector: _Collector
) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        collector.add(path, f"expected a list of records, got {_kind(value)}")
        return []
    fields = field.fields or {}
    return [_check_record(fields, item, (*path, index), collector) for index, item in enumerate(value)]


def _kind(value: object) -> str:
    """A description of the value's type that does not reveal the value."""
    for kind, description in _KINDS:
        if isinstance(value, kind):
            return description
    return "nothing" if value is None else "an unsupported value"


# bool before int (bool is an int subclass); datetime before date (same reason)
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "true/false"),
    (int, "a whole number"),
    (float, "a decimal number"),
    (str, "text"),
    (datetime, "a date and time"),
    (date, "a date"),
    (time, "a time"),
    (Mapping, "a mapping"),
    (list, "a list"),
)


def _expected(what: str, value: object) -> _Invalid:
    return _Invalid(what if isinstance(value, str) else f"{what}, got {_kind(value)}")


def _text(value: object, field: DataField) -> str:
    if not isinstance(value, str):
        raise _expected("expected a name as text" if field.type is FieldType.NAME else "expected text", value)
    return value.strip()


def _date(value: object, field: DataField) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return _parse(value, _DATE, date.fromisoformat, "expected a date like 2026-12-01")


def _time(value: object, field: DataField) -> time:
    if isinstance(value, time):
        return value
    return _parse(value, _TIME, time.fromisoformat, "expected a time like 14:30")


def _datetime(value: object, field: DataField) -> datetime:
    if isinstance(value, datetime):
        return value
    return _parse(value, _DATETIME, datetime.fromisoformat, "expected a date and time like 2026-11-20T10:15")


def _parse(value: object, shape: re.Pattern[str], parse: Callable[[str], _Parsed], what: str) -> _Parsed:
    if not isinstance(value, str) or not shape.fullmatch(value.strip()):
        raise _expected(what, value)
    try:
        return parse(value.strip())
    except ValueError:
        raise _Invalid(what) from None


def _phone(value: object, field: DataField) -> str:
    what = "expected a US phone number with 10 digits, like 555-201-3344"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _expected(what, value)
    digits = normalize_phone(str(value))
    if digits is not None:
        return digits
    number, extension = split_phone_extension(str(value))
    if extension is not None and normalize_phone(number) is not None:
        raise _Invalid("expected an extension of 1 to 6 digits after the number, like 555-201-3344 ext. 210")
    raise _Invalid(what)


def _integer(value: object, field: DataField) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected a whole number, got {_kind(value)}")
    return value


def _number(value: object, field: DataField) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"expected a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise _Invalid("expected a number of a sensible size") from None
    if not math.isfinite(number):
        raise _Invalid("expected a finite number")
    return number


def _boolean(value: object, field: DataField) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_kind(value)}")
    return value


def _enum(value: object, field: DataField) -> str:
    allowed = field.values or []
    expected = f"expected one of {', '.join(allowed)}"
    if not isinstance(value, str):
        raise _Invalid(f"{expected}; got {_kind(value)}")
    if value.strip() in allowed:
        return value.strip()
    raise _Invalid(f"unknown value '{_shorten(value)}' ({expected}{_suggestion(value, allowed)})")


def _suggestion(value: str, allowed: list[str]) -> str:
    match = process.extractOne(
        value, allowed, scorer=fuzz.ratio, processor=utils.default_process, score_cutoff=_SUGGESTION_CUTOFF
    )
    return f"; did you mean '{match[0]}'?" if match else ""


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CHECKERS: dict[FieldType, Callable[[object, DataField], Any]] = {
    FieldType.STRING: _text,
    FieldType.NAME: _text,
    FieldType.DATE: _date,
    FieldType.TIME: _time,
    FieldType.DATETIME: _datetime,
    FieldType.PHONE: _phone,
    FieldType.INTEGER: _integer,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.ENUM: _enum,
}
