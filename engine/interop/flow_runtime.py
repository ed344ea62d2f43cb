"""The runtime every exported handlers.py carries: contract checks, spoken values, effects, routing.

`voice-console export-flow` copies this code, below this docstring, into each handlers.py; it imports
nothing of this project. The generated part adds the schema's tables, text blocks and tools.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from pipecat.flows import TRANSITION_IN_YAML, FlowManager

# ----- the data contract ------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of the data contract; a `list` field holds records of `fields`."""

    type: str
    required: bool = True
    values: tuple[str, ...] = ()
    max_length: int | None = None
    pronounce: bool = False
    say_year: bool = False
    fields: dict[str, Field] = field(default_factory=dict)


class RecordError(ValueError):
    """A patient record that breaks the data contract; the messages never show a value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the record breaks the data contract: " + "; ".join(problems))
        self.problems = problems


_PHONE_EXTENSION = re.compile(r"\s*,?\s*(?:extension|ext\.?|x)\s*(\S*)\s*$", re.IGNORECASE)
_SHAPES = {"date": r"\d{4}-\d{2}-\d{2}", "time": r"\d{2}:\d{2}(?::\d{2})?",
           "datetime": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?"}
_PARSERS: dict[str, Callable[[str], Any]] = {
    "date": date.fromisoformat, "time": time.fromisoformat, "datetime": datetime.fromisoformat}


def check_record(record: object, contract: Mapping[str, Field], path: str = "") -> dict[str, Any]:
    """The record with normalised values (dates as dates, phones as digits); RecordError lists every
    bad field. A missing optional field is left out."""
    problems: list[str] = []
    checked = _check_fields(record, contract, path, problems)
    if problems:
        raise RecordError(problems)
    return checked


def _check_fields(record: object, contract: Mapping[str, Field], path: str,
                  problems: list[str]) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        problems.append(f"{path or 'record'}: expected a mapping of fields")
        return {}
    problems += [f"{path}{key}: not in the data contract" for key in record if key not in contract]
    checked: dict[str, Any] = {}
    for name, spec in contract.items():
        value = record.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                problems.append(f"{path}{name}: required field is missing")
            continue
        try:
            checked[name] = _check_value(spec, value, f"{path}{name}", problems)
        except ValueError as error:
            problems.append(f"{path}{name}: {error}")
    return checked


def _check_value(spec: Field, value: object, path: str, problems: list[str]) -> Any:
    limit = spec.max_length or (200 if spec.type == "list" else 2000)
    if isinstance(value, str | list) and len(value) > limit:
        raise ValueError(f"longer than {limit:,} (max_length)")
    if spec.type == "list":
        if not isinstance(value, list):
            raise ValueError("expected a list of records")
        return [_check_fields(item, spec.fields, f"{path}[{i}].", problems) for i, item in enumerate(value)]
    if spec.type in ("string", "name"):
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value.strip()
    if spec.type in _SHAPES:
        return _check_moment(spec.type, value)
    if spec.type == "phone":
        number = isinstance(value, str | int) and not isinstance(value, bool)
        digits = phone_digits(str(value)) if number else None
        if digits is None:
            raise ValueError("expected a US phone number with 10 digits, like 555-201-3344")
        return digits
    return _check_scalar(spec, value)


def _check_moment(kind: str, value: object) -> Any:
    wanted = {"date": date, "time": time, "datetime": datetime}[kind]
    if isinstance(value, wanted) and (kind != "date" or not isinstance(value, datetime)):
        return value
    if not isinstance(value, str) or not re.fullmatch(_SHAPES[kind], value.strip()):
        raise ValueError(f"expected a {kind} in ISO form")
    return _PARSERS[kind](value.strip())


def _check_scalar(spec: Field, value: object) -> Any:
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a value of type {spec.type}")
    if spec.type == "integer":
        if not isinstance(value, int):
            raise ValueError("expected a whole number")
        return value
    if spec.type == "number":
        if isinstance(value, str) or not math.isfinite(float(value)):
            raise ValueError("expected a finite number")
        return float(value)
    if not isinstance(value, str) or value.strip() not in spec.values:
        raise ValueError(f"expected one of {', '.join(spec.values)}")
    return value.strip()


def phone_digits(text: str) -> str | None:
    """'(555) 201-3344 ext. 210' -> '5552013344x210'; None when it is not a US number."""
    marked = _PHONE_EXTENSION.search(text)
    number, extension = (text[: marked.start()], marked[1]) if marked else (text, None)
    digits = number.strip().removeprefix("+").translate(str.maketrans("", "", " -.()"))
    if not re.fullmatch(r"[0-9]{10}|1[0-9]{10}", digits):
        return None
    if extension is None:
        return digits
    return f"{digits}x{extension}" if re.fullmatch(r"[0-9]{1,6}", extension) else None


# ----- spoken values ----------------------------------------------------------------------------

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINALS = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
             "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
             "seventeenth", "eighteenth", "nineteenth", "twentieth")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_UNITS = {"mg": "milligram", "mcg": "microgram", "g": "gram", "ml": "milliliter", "unit": "unit",
          "units": "unit", "tablet": "tablet", "tablets": "tablet", "puff": "puff", "puffs": "puff"}


def number_words(number: int) -> str:
    """42 -> 'forty-two'; 1234 -> 'one thousand, two hundred and thirty-four'."""
    if number < 0:
        return f"minus {number_words(-number)}"
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")
    for size, name in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if number >= size:
            high, rest = divmod(number, size)
            words = f"{number_words(high)} {name}"
            if not rest:
                return words
            return words + (f" and {number_words(rest)}" if rest < 100 else f", {number_words(rest)}")
    raise AssertionError("unreachable")


def ordinal_words(number: int) -> str:
    """3 -> 'third'; 21 -> 'twenty-first' (days of the month)."""
    if number <= 20:
        return _ORDINALS[number]
    tens, ones = divmod(number, 10)
    return f"{_TENS[tens]}-{_ORDINALS[ones]}" if ones else f"{_TENS[tens][:-1]}ieth"


def year_words(year: int) -> str:
    """1970 -> 'nineteen seventy'; 1905 -> 'nineteen oh-five'; 2005 -> 'two thousand and five'."""
    high, low = divmod(year, 100)
    if high == 0 or (high % 10 == 0 and low < 10) or high >= 100:
        return number_words(year)
    if low == 0:
        return f"{number_words(high)} hundred"
    return f"{number_words(high)} " + (f"oh-{number_words(low)}" if low < 10 else number_words(low))


def speak_date(day: date, with_year: bool = False) -> str:
    """'Tuesday, March third'; with the year and no weekday for a date of birth."""
    spoken = f"{_MONTHS[day.month - 1]} {ordinal_words(day.day)}"
    return f"{spoken}, {year_words(day.year)}" if with_year else f"{_WEEKDAYS[day.weekday()]}, {spoken}"


def speak_time(moment: time) -> str:
    """14:30 -> 'two thirty PM'; 12:00 -> 'twelve noon'; 00:00 -> 'midnight'."""
    hour, minute = moment.hour, moment.minute
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "twelve noon"
    words = number_words(hour % 12 or 12)
    if minute:
        words += f" oh {_ONES[minute]}" if minute < 10 else f" {number_words(minute)}"
    return f"{words} {'AM' if hour < 12 else 'PM'}"


def speak_digits(digits: str) -> str:
    return " ".join(_ONES[int(digit)] for digit in digits if digit.isdigit())


def speak_phone(digits: str) -> str:
    """'5552013344x210' -> 'five five five, two zero one, three three four four, extension two one zero'."""
    number, _, extension = digits.partition("x")
    prefix = "one, " if len(number) == 11 else ""
    number = number[-10:]
    spoken = prefix + ", ".join(speak_digits(group) for group in (number[:3], number[3:6], number[6:]))
    return f"{spoken}, extension {speak_digits(extension)}" if extension else spoken


def speak_number(number: float) -> str:
    """500.0 -> 'five hundred'; 2.5 -> 'two point five'."""
    if isinstance(number, int):
        return number_words(number)
    if not math.isfinite(number):
        return str(number)
    whole, _, fraction = f"{abs(number):.6f}".rstrip("0").rstrip(".").partition(".")
    sign = "minus " if number < 0 and (whole != "0" or fraction) else ""
    spoken = f"{sign}{number_words(int(whole))}"
    return f"{spoken} point {speak_digits(fraction)}" if fraction else spoken


def pronounce(text: str, pronunciations: Mapping[str, str]) -> str:
    """Whole words replaced by how the voice should say them ('Dr.' -> 'Doctor'), longest first."""
    spoken = {" ".join(written.split()).lower(): said for written, said in pronunciations.items()}
    if not spoken or not text:
        return text
    written = sorted(spoken, key=len, reverse=True)
    pattern = "|".join(r"\s+".join(map(re.escape, form.split())) for form in written)
    return re.sub(rf"(?<!\w)(?:{pattern})(?!\w)",
                  lambda match: spoken.get(" ".join(match.group().split()).lower(), match.group()),
                  text, flags=re.IGNORECASE)


def speak(spec: Field, value: Any, pronunciations: Mapping[str, str]) -> Any:
    """A checked value as the voice says it; a missing optional value is ''."""
    if value is None:
        return [] if spec.type == "list" else ""
    if spec.type == "list":
        return [_speak_item(spec.fields, item, pronunciations) for item in value]
    spoken = _speak_scalar(spec, value)
    return pronounce(spoken, pronunciations) if spec.pronounce else spoken


def speak_record(contract: Mapping[str, Field], record: Mapping[str, Any],
                 pronunciations: Mapping[str, str]) -> dict[str, Any]:
    return {name: speak(spec, record.get(name), pronunciations) for name, spec in contract.items()}


def _speak_item(fields: Mapping[str, Field], item: Mapping[str, Any],
                pronunciations: Mapping[str, str]) -> dict[str, Any]:
    """One list record; a `unit` agrees in number with the record's `dose` ('1 tablet', '2 tablets')."""
    spoken = speak_record(fields, item, pronunciations)
    dose, unit = item.get("dose"), item.get("unit")
    if isinstance(unit, str) and isinstance(dose, int | float) and not isinstance(dose, bool):
        singular = _UNITS.get(unit.strip().lower())
        agreed = (singular if dose == 1 else f"{singular}s") if singular else unit
        agreed = agreed.replace("_", " ")
        spec = fields.get("unit")
        spoken["unit"] = pronounce(agreed, pronunciations) if spec and spec.pronounce else agreed
    return spoken


def _speak_scalar(spec: Field, value: Any) -> str:
    if spec.type in ("date", "datetime"):
        day = speak_date(value if spec.type == "date" else value.date(), with_year=spec.say_year)
        return day if spec.type == "date" else f"{day} at {speak_time(value.time())}"
    speakers: dict[str, Callable[[Any], str]] = {
        "time": speak_time, "phone": speak_phone, "integer": number_words, "number": speak_number,
        "boolean": lambda value: "yes" if value else "no"}
    if spec.type in speakers:
        return speakers[spec.type](value)
    return str(value).replace("_", " ") if spec.type == "enum" else str(value)


# ----- functions and their effects --------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    type: str  # string, name, enum, boolean, integer, number, date, time, phone, item
    values: tuple[str, ...] = ()  # enum


@dataclass(frozen=True)
class Function:
    """A declared function: typed parameters and one built-in effect."""

    outcome: str
    parameters: dict[str, Param] = field(default_factory=dict)
    verify: tuple[str, str, str] | None = None  # (parameter, record field it must match, field type)
    escalate: tuple[str, str] | None = None  # (default reason, default urgency)
    transfer: tuple[str, str] | None = None


def accepts(param: Param, value: Any) -> bool:
    """Whether `value` is a value of the parameter's type (dates as YYYY-MM-DD, times as HH:MM)."""
    if param.type == "boolean":
        return isinstance(value, bool)
    if param.type in ("integer", "number"):
        kinds = (int,) if param.type == "integer" else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool)
    if not isinstance(value, str):
        return False
    if param.type == "enum":
        return value in param.values
    if param.type in ("date", "time"):
        try:
            _PARSERS[param.type](value.strip())
        except ValueError:
            return False
        return True
    if param.type == "phone":
        return phone_digits(value) is not None
    return bool(value.strip())


def typed(param: Param, text: str) -> Any:
    """A value rendered from the record as text, as a value of the parameter's type."""
    if param.type == "boolean":
        return {"true": True, "false": False}.get(text.strip().lower())
    if param.type in ("integer", "number"):
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if param.type == "integer" and number.is_integer() else number
    return text


def run_function(state: dict[str, Any], name: str, function: Function,
                 arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Record the valid arguments into the call's slots, then run the function's effect."""
    accepted = {key: value for key, value in arguments.items()
                if (param := function.parameters.get(key)) is not None and accepts(param, value)}
    result: dict[str, Any] = {"status": "recorded", "function": name}
    if function.verify is not None:
        parameter, against, kind = function.verify
        said = accepted.pop(parameter, None)
        expected = state["record"].get(against)
        result["verified"] = accepted["verified"] = said is not None and matches(said, expected, kind)
    for key, handover in (("escalated", function.escalate), ("transferred", function.transfer)):
        if handover is not None:
            accepted.setdefault("reason", handover[0])
            accepted.setdefault("urgency", handover[1])
            result[key] = accepted[key] = True
    state["slots"].update(accepted)
    state["slots"].setdefault("outcomes", []).append(function.outcome or name)
    result.update(accepted)
    return result


def matches(said: Any, expected: Any, kind: str) -> bool:
    """Whether what the caller said is the record's value of a field of type `kind`, normalised."""
    if expected is None:
        return False
    text = str(said).strip()
    try:
        if kind in ("date", "time"):  # a time with or without its seconds
            return bool(_PARSERS[kind](text) == _PARSERS[kind](str(expected)))
        if kind in ("integer", "number"):
            return bool(float(text) == expected)
    except ValueError:
        return False
    if kind == "phone":
        digits = phone_digits(text)
        return digits is not None and digits.removeprefix("1") == str(expected).removeprefix("1")
    if kind == "name":
        return _words(text) == _words(str(expected))
    return " ".join(text.split()).casefold() == " ".join(str(expected).split()).casefold()


def _words(text: str) -> list[str]:
    """A name's words in any order, without case, hyphens or punctuation."""
    return sorted(re.sub(r"[^\w\s]", "", text.replace("-", " ")).casefold().split())


# ----- moving between nodes ---------------------------------------------------------------------


def case_key(value: Any) -> str:
    """Pipecat's rule for matching a branch case: booleans as 'true'/'false', else str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text.lower() if text.lower() in ("true", "false") else text


@dataclass(frozen=True)
class Branch:
    field: str
    cases: dict[str, str]
    default: str | None = None

    def target_for(self, value: Any) -> str | None:
        return self.cases.get(case_key(value), self.default)


@dataclass(frozen=True)
class Call:
    """What one tool does in one node: a declared function (or nothing) and, when the handler decides
    the next node (attempts, decision nodes), where it leads; flow.yaml then branches on `next_node`."""

    function: str | None = None
    intent: str | None = None
    args: dict[str, Any] = field(default_factory=dict)  # fixed by the schema
    state_args: dict[str, str] = field(default_factory=dict)  # argument -> state key rendered from the record
    record_fields: tuple[str, ...] = ()  # branched on in flow.yaml: copied from the record into the result
    routed: bool = False
    transition_to: str | Branch | None = None  # when routed


def run_tool(flow_manager: FlowManager, tool: str, arguments: Mapping[str, Any],
             tables: Tables) -> tuple[dict[str, Any], Any]:
    """Run `tool` as the current node defines it; the result carries what flow.yaml branches on."""
    state, node = flow_manager.state, flow_manager.current_node or ""
    call = tables.calls[(node, tool)]
    given = {key: value for key, value in arguments.items() if value is not None}
    result: dict[str, Any] = {"status": "ok", "intent": call.intent}
    if call.function is not None:
        function = tables.functions[call.function]
        bound = {key: typed(function.parameters[key], state[state_key])
                 for key, state_key in call.state_args.items()}
        result = run_function(state, call.function, function, {**given, **call.args, **bound})
    for name in call.record_fields:
        result.setdefault(name, case_key(state["record"].get(name)))
    if call.routed:
        result["next_node"] = route(state, node, call.transition_to, result, tables)
    tables.render(state)
    return result, TRANSITION_IN_YAML


def count_not_understood(flow_manager: FlowManager, tables: Tables) -> tuple[dict[str, Any], Any]:
    """Count a turn the bot could not understand; once the node's attempts run out, move on."""
    state, node = flow_manager.state, flow_manager.current_node or ""
    limit, then = tables.attempts[node]
    exhausted = count_attempt(state, node) >= limit
    return {"status": "not_understood", "next_node": decided(state, then, tables) if exhausted else ""}, \
        TRANSITION_IN_YAML


def route(state: dict[str, Any], node: str, transition: str | Branch | None, result: dict[str, Any],
          tables: Tables) -> str:
    """The node to move to ('' to stay): the transition, then the node's attempts, then decisions."""
    target = transition if not isinstance(transition, Branch) else _branch(state, transition, result)
    if node in tables.attempts and (result.get("verified") is False or target == node):
        limit, then = tables.attempts[node]
        if count_attempt(state, node) >= limit:
            target = then
    return decided(state, target, tables) if target else ""


def _branch(state: dict[str, Any], branch: Branch, result: dict[str, Any]) -> str | None:
    if branch.field not in result and branch.field in state["record"]:
        result[branch.field] = case_key(state["record"][branch.field])
    return branch.target_for(result.get(branch.field))


def decided(state: dict[str, Any], target: str, tables: Tables) -> str:
    """Through decision nodes: each picks its next node from the record, with no caller turn."""
    for _ in range(len(tables.decisions) + 1):
        decision = tables.decisions.get(target)
        if decision is None:
            return target
        target = decision.target_for(state["record"].get(decision.field)) or target
    return target


def count_attempt(state: dict[str, Any], node: str) -> int:
    state["attempts"][node] = state["attempts"].get(node, 0) + 1
    return int(state["attempts"][node])


@dataclass(frozen=True)
class Tables:
    """The schema's tables, handed to the runtime by the generated part of handlers.py."""

    functions: Mapping[str, Function]
    calls: Mapping[tuple[str, str], Call]
    decisions: Mapping[str, Branch]
    attempts: Mapping[str, tuple[int, str]]
    render: Callable[[dict[str, Any]], None]  # puts every text block into the state
