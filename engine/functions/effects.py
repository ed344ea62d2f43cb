"""What a declared function does when called: typed arguments, then one built-in effect.

`record` (every function): valid arguments go into the call's slots and the result.
`verify`: the spoken value of a parameter is compared with a record field, normalised by
`engine.data.spoken` (dates, phone digits, names); the result carries `verified`.
`escalate` / `transfer`: the result carries `escalated` / `transferred` with a reason and urgency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from engine.data import spoken
from engine.schema.model import FieldType, FunctionDecl, Parameter, ParamType

_JSON_TYPES = {ParamType.BOOLEAN: "boolean", ParamType.INTEGER: "integer", ParamType.NUMBER: "number"}


def json_schema(parameter: Parameter) -> dict[str, Any]:
    """The parameter as a JSON-schema property for the LLM's tool."""
    schema: dict[str, Any] = {"type": _JSON_TYPES.get(parameter.type, "string"),
                              "description": parameter.description or parameter.type.value}
    if parameter.values is not None:
        schema["enum"] = list(parameter.values)
    return schema


def accepts(parameter: Parameter, value: Any) -> bool:
    """Whether `value` is a value of the parameter's type (as an LLM or a schema writes it)."""
    kind = parameter.type
    if kind is ParamType.BOOLEAN:
        return isinstance(value, bool)
    if kind in (ParamType.INTEGER, ParamType.NUMBER):
        number_types = (int,) if kind is ParamType.INTEGER else (int, float)
        return isinstance(value, number_types) and not isinstance(value, bool)
    if not isinstance(value, str):
        return False
    if kind is ParamType.ENUM:
        return value in (parameter.values or [])
    if kind is ParamType.DATE:
        return _as_date(value) is not None
    if kind is ParamType.TIME:
        return spoken.parse_time(value) is not None
    if kind is ParamType.PHONE:
        return spoken.phone_digits(value) is not None
    return bool(value.strip())


def from_text(parameter: Parameter, text: str) -> Any:
    """A rendered `args` template as a value of the parameter's type (None when it is not one)."""
    value: Any = text
    if parameter.type is ParamType.BOOLEAN:
        value = {"true": True, "false": False}.get(text.strip().lower())
    elif parameter.type in (ParamType.INTEGER, ParamType.NUMBER):
        value = spoken.parse_number(text)
        if parameter.type is ParamType.INTEGER and isinstance(value, float):
            value = int(value) if value.is_integer() else None
    return value if value is not None and accepts(parameter, value) else None


def from_speech(parameter: Parameter, said: str, record: Mapping[str, Any]) -> Any:
    """The value of the parameter in a caller's turn, or None: never the whole sentence for a typed one."""
    kind = parameter.type
    if kind in (ParamType.STRING, ParamType.NAME):
        return said
    if kind is ParamType.ENUM:
        return spoken.match_choice(said, parameter.values or [])
    if kind is ParamType.BOOLEAN:
        return spoken.parse_yes_no(said)
    if kind in (ParamType.INTEGER, ParamType.NUMBER):
        return from_text(parameter, said) if spoken.parse_number(said) is not None else None
    if kind is ParamType.DATE:
        found = spoken.parse_date(said)
        return found.isoformat() if found else None
    if kind is ParamType.TIME:
        clock = spoken.parse_time(said)
        return clock.isoformat(timespec="minutes") if clock else None
    if kind is ParamType.PHONE:
        return spoken.phone_digits(said)
    return spoken.match_choice(said, item_names(record.get(parameter.of or "")))


def item_names(items: Any) -> list[str]:
    """The names of a list field's records: each record's `name`, else its first text value."""
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = item.get("name", next((v for v in item.values() if isinstance(v, str)), None))
            if isinstance(name, str):
                names.append(name)
    return names


def invoke(name: str, function: FunctionDecl, arguments: Mapping[str, Any], slots: dict[str, Any],
           record: Mapping[str, Any], against_type: FieldType | None = None) -> dict[str, Any]:
    """Run the function on one call: record, then its effect. Returns the tool result."""
    accepted = {key: value for key, value in arguments.items()
                if (parameter := function.parameters.get(key)) is not None and accepts(parameter, value)}
    result: dict[str, Any] = {"status": "recorded", "function": name}
    if function.verify is not None:
        said = accepted.pop(function.verify.parameter, None)
        verified = said is not None and matches(said, record.get(function.verify.against), against_type)
        result["verified"] = accepted["verified"] = verified
    for key, handover in (("escalated", function.escalate), ("transferred", function.transfer)):
        if handover is not None:
            accepted.setdefault("reason", handover.reason)
            accepted.setdefault("urgency", handover.urgency)
            result[key] = accepted[key] = True
    slots.update(accepted)
    slots.setdefault("outcomes", []).append(function.outcome or name)
    result.update(accepted)
    return result


def matches(said: Any, expected: Any, kind: FieldType | None) -> bool:
    """Whether a spoken value is the record's value, normalised for the field's type."""
    if expected is None:
        return False
    text = str(said)
    if kind is FieldType.DATE and isinstance(expected, date):
        return _as_date(text) == expected
    if kind is FieldType.PHONE:
        return spoken.same_phone(text, str(expected))
    if kind is FieldType.NAME:
        return spoken.match_name(text, str(expected))
    if kind in (FieldType.INTEGER, FieldType.NUMBER):
        return bool(spoken.parse_number(text) == expected)
    return " ".join(text.split()).casefold() == " ".join(str(expected).split()).casefold()


def _as_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return spoken.parse_date(text)
