from datetime import date, datetime, time

import pytest

from engine.data.speakable import (
    normalize_phone,
    speak_boolean,
    speak_date,
    speak_datetime,
    speak_integer,
    speak_number,
    speak_phone,
    speak_time,
    speak_unit,
)


def test_speak_date_has_weekday_month_and_ordinal_day() -> None:
    assert speak_date(date(2026, 3, 3)) == "Tuesday, March third"
    assert speak_date(date(2026, 12, 21)) == "Monday, December twenty-first"
    assert speak_date(date(2026, 1, 31)) == "Saturday, January thirty-first"


@pytest.mark.parametrize(
    ("clock", "spoken"),
    [
        ("14:30", "two thirty PM"),
        ("09:00", "nine AM"),
        ("09:05", "nine oh five AM"),
        ("12:00", "twelve noon"),
        ("00:00", "midnight"),
        ("12:15", "twelve fifteen PM"),
        ("00:30", "twelve thirty AM"),
        ("23:59", "eleven fifty-nine PM"),
        ("10:45:30", "ten forty-five AM"),
    ],
)
def test_speak_time(clock: str, spoken: str) -> None:
    assert speak_time(time.fromisoformat(clock)) == spoken


def test_speak_datetime_joins_date_and_time() -> None:
    assert speak_datetime(datetime(2026, 3, 3, 14, 30)) == "Tuesday, March third at two thirty PM"


def test_speak_phone_groups_digits() -> None:
    assert speak_phone("5552013344") == "five five five, two zero one, three three four four"
    assert speak_phone("15552013344") == "one, five five five, two zero one, three three four four"


def test_speak_phone_says_the_extension() -> None:
    assert speak_phone("5552013344x210") == (
        "five five five, two zero one, three three four four, extension two one zero"
    )
    assert speak_phone("15552013344x9") == (
        "one, five five five, two zero one, three three four four, extension nine"
    )


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("(555) 201-3344", "5552013344"),
        ("555.201.3344", "5552013344"),
        ("+1 555 201 3344", "15552013344"),
        ("1-555-201-3344", "15552013344"),
        ("555-201-334", None),
        ("2-555-201-3344", None),
        ("555-CALL-NOW", None),
        ("555-201-3344 x12", "5552013344x12"),
        ("(555) 201-3344 ext. 210", "5552013344x210"),
        ("555.201.3344 extension 210", "5552013344x210"),
        ("555-201-3344, Ext 210", "5552013344x210"),
        ("+1 555 201 3344 X 9", "15552013344x9"),
        ("555-201-3344 ext.", None),
        ("555-201-3344 x 12a", None),
        ("555-201-3344 ext 1234567", None),
        ("555-201-33 ext. 210", None),
        ("555-201-3344 ext. 210 ext. 3", None),
        ("555-201-3344 #210", None),
        ("", None),
    ],
)
def test_normalize_phone(text: str, digits: str | None) -> None:
    assert normalize_phone(text) == digits


def test_speak_integer() -> None:
    assert speak_integer(42) == "forty-two"
    assert speak_integer(-3) == "minus three"
    assert speak_integer(0) == "zero"


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        (500.0, "five hundred"),
        (500, "five hundred"),
        (2.5, "two point five"),
        (0.25, "zero point two five"),
        (1.05, "one point zero five"),
        (-2.5, "minus two point five"),
        (0.1 + 0.2, "zero point three"),
    ],
)
def test_speak_number(number: float, spoken: str) -> None:
    assert speak_number(number) == spoken


@pytest.mark.parametrize(
    ("unit", "amount", "spoken"),
    [
        ("mg", 1, "milligram"),
        ("mg", 2.5, "milligrams"),
        ("mcg", 50, "micrograms"),
        ("g", 1.0, "gram"),
        ("ml", 5, "milliliters"),
        ("mL", 1, "milliliter"),
        ("units", 1, "unit"),
        ("units", 10, "units"),
        ("tablets", 1, "tablet"),
        ("tablets", 2, "tablets"),
        ("puffs", 1, "puff"),
        ("puffs", 2, "puffs"),
        ("drops", 1, "drops"),
    ],
)
def test_speak_unit(unit: str, amount: float, spoken: str) -> None:
    assert speak_unit(unit, amount) == spoken


def test_speak_boolean() -> None:
    assert speak_boolean(True) == "yes"
    assert speak_boolean(False) == "no"


def test_date_with_year_for_dates_of_birth() -> None:
    from engine.data.speakable import speak_date_with_year

    assert speak_date_with_year(date(1958, 3, 3)) == "March third, nineteen fifty-eight"
    assert speak_date_with_year(date(2001, 12, 21)) == "December twenty-first, two thousand and one"
