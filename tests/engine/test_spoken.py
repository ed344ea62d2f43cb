"""Values a caller speaks, read from many real phrasings (typed, or as speech-to-text writes them).

Nothing here depends on today's date: every date that needs one is read against TODAY.
"""

from __future__ import annotations

from datetime import date, time

import pytest

from engine.data import spoken
from engine.data.spoken import (
    match_choice,
    match_name,
    parse_date,
    parse_number,
    parse_time,
    parse_yes_no,
    phone_digits,
    same_date,
    same_phone,
    warm_up,
)

TODAY = date(2026, 12, 1)
BIRTHDAY = date(1970, 5, 4)

BIRTHDAY_PHRASINGS = [
    "May fourth, nineteen seventy",
    "may fourth nineteen seventy",
    "the fourth of May 1970",
    "the fourth of May, nineteen seventy",
    "fourth of may seventy",
    "5/4/70",
    "05/04/1970",
    "5-4-1970",
    "5.4.70",
    "1970-05-04",
    "May 4th, 1970",
    "May 4, 1970",
    "uh, it's May 4th, 1970",
    "um, May the fourth, nineteen seventy",
    "It's May fourth nineteen seventy.",
    "my birthday is may 4th 1970",
    "I was born on the fourth of May, nineteen seventy",
    "Yes, May fourth, nineteen seventy",
    "May 4th, 19 70",
    "5 slash 4 slash 70",
    "may oh four seventy",
    "five four seventy",
]


@pytest.mark.parametrize("text", BIRTHDAY_PHRASINGS)
def test_parse_date_reads_a_birthday_however_it_is_said(text: str) -> None:
    assert parse_date(text, today=TODAY, past=True) == BIRTHDAY


@pytest.mark.parametrize("text", BIRTHDAY_PHRASINGS)
def test_a_full_date_needs_no_today(text: str) -> None:
    assert parse_date(text) == BIRTHDAY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("January first, nineteen ninety", date(1990, 1, 1)),
        ("March third, two thousand and five", date(2005, 3, 3)),
        ("the twenty-third of March two thousand five", date(2005, 3, 23)),
        ("February twenty ninth, nineteen eighty", date(1980, 2, 29)),
        ("December 25th, 1958", date(1958, 12, 25)),
        ("nineteen oh five, June second", date(1905, 6, 2)),
        ("12/31/1999", date(1999, 12, 31)),
        ("Sept 9 2001", date(2001, 9, 9)),
    ],
)
def test_parse_date_other_dates(text: str, expected: date) -> None:
    assert parse_date(text, today=TODAY, past=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Yes.",
        "yes",
        "No, I don't know",
        "",
        "   ",
        "nineteen seventy",
        "May",
        "the fourth",
        "it's the fourth",
        "twenty three",
        "2",
        "February thirtieth 1980",
        "13/4/70",  # US order: there is no thirteenth month
        "my date of birth? why do you need it",
        "may I ask who is calling",
        "five five five two oh one three three four four",
    ],
)
def test_parse_date_is_none_for_what_is_not_a_date(text: str) -> None:
    assert parse_date(text, today=TODAY, past=True) is None
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("May fourth", date(2026, 5, 4)),
        ("December twenty fifth", date(2025, 12, 25)),  # not yet this year: the last one before today
        ("the first of December", date(2026, 12, 1)),
    ],
)
def test_a_date_without_a_year_is_the_last_one_before_today_when_past(text: str, expected: date) -> None:
    assert parse_date(text, today=TODAY, past=True) == expected


def test_a_date_without_a_year_needs_today() -> None:
    assert parse_date("May fourth") is None
    assert parse_date("tomorrow") is None


def test_relative_days_resolve_against_today() -> None:
    assert parse_date("tomorrow", today=TODAY) == date(2026, 12, 2)
    assert parse_date("uh, yesterday", today=TODAY) == date(2026, 11, 30)
    assert parse_date("today please", today=date(2031, 7, 9)) == date(2031, 7, 9)
    assert parse_date("tomorrow", today=TODAY, past=True) == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("text", "past", "expected"),
    [
        ("5/4/50", True, date(1950, 5, 4)),
        ("5/4/50", False, date(2050, 5, 4)),
        ("may fourth fifty", True, date(1950, 5, 4)),
        ("5/4/20", True, date(2020, 5, 4)),
        ("5/4/26", True, date(2026, 5, 4)),
        ("12/25/26", True, date(1926, 12, 25)),  # later than today: a birthday a century back
        ("2/29/28", True, date(1928, 2, 29)),
        ("2030-05-04", True, date(2030, 5, 4)),  # a four-digit year is taken as said
    ],
)
def test_two_digit_years_resolve_to_the_past_for_birth_dates(text: str, past: bool, expected: date) -> None:
    assert parse_date(text, today=TODAY, past=past) == expected


def test_two_digit_years_follow_today_not_the_clock() -> None:
    assert parse_date("5/4/30", today=date(2026, 12, 1), past=True) == date(1930, 5, 4)
    assert parse_date("5/4/30", today=date(2035, 12, 1), past=True) == date(2030, 5, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("two thirty PM", time(14, 30)),
        ("2:30 pm", time(14, 30)),
        ("two thirty p.m.", time(14, 30)),
        ("half past two in the afternoon", time(14, 30)),
        ("half past two", time(2, 30)),
        ("14:30", time(14, 30)),
        ("uh, fourteen thirty", time(14, 30)),
        ("noon", time(12)),
        ("at noon please", time(12)),
        ("midnight", time(0)),
        ("quarter to three", time(2, 45)),
        ("quarter past ten in the morning", time(10, 15)),
        ("ten to four in the afternoon", time(15, 50)),
        ("twenty past six in the evening", time(18, 20)),
        ("three o'clock", time(3)),
        ("3 oclock", time(3)),
        ("2 pm", time(14)),
        ("two PM", time(14)),
        ("at 9:05 a.m.", time(9, 5)),
        ("nine oh five am", time(9, 5)),
        ("seven fifteen tonight", time(19, 15)),
        ("twelve thirty am", time(0, 30)),
        ("12 pm", time(12)),
        ("I'd like 11:45 if that works", time(11, 45)),
        ("I am free at two thirty", time(2, 30)),
        ("2:30PM", time(14, 30)),
    ],
)
def test_parse_time(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text", ["two", "yes", "May fourth", "", "the 4th", "25:00", "10:75", "none", "I am free at two", "pm"]
)
def test_parse_time_is_none_for_what_is_not_a_time(text: str) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("about forty two", 42),
        ("forty-two", 42),
        ("42", 42),
        ("I take 2 tablets", 2),
        ("two tablets", 2),
        ("a hundred", 100),
        ("one hundred and twenty", 120),
        ("zero", 0),
        ("none", 0),
        ("I missed none of them", 0),
        ("two point five", 2.5),
        ("seventy point five kilos", 70.5),
        ("one and a half", 1.5),
        ("3.5", 3.5),
        ("minus five", -5),
        ("1,200", 1200),
    ],
)
def test_parse_number(text: str, expected: float) -> None:
    number = parse_number(text)
    assert number == expected
    assert type(number) is type(expected)


@pytest.mark.parametrize("text", ["two or three", "yes", "", "twice a day", "5 5 5 2 0 1"])
def test_parse_number_is_none_without_exactly_one_number(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text",
    ["Yes.", "yeah", "yep, that's me", "yup", "correct", "that's correct", "that's right", "right",
     "sure", "Yes, that's correct", "absolutely", "uh huh", "It is.", "I did", "yes please", "OK",
     "all right", "sure, no problem", "Yeah, that’s right"],
)
def test_parse_yes_no_yes(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize(
    "text",
    ["no", "No.", "nope", "nah", "not really", "No, that's wrong", "that's not right",
     "that is not correct", "That's incorrect", "I don't", "I didn't", "no it isn't", "No, it's not",
     "not at all", "that's not me"],
)
def test_parse_yes_no_no(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize(
    "text",
    ["", "hello?", "what?", "I'm not sure", "maybe", "I don't know", "yeah, no", "no problem",
     "May fourth, nineteen seventy"],
)
def test_parse_yes_no_is_none_when_unclear(text: str) -> None:
    assert parse_yes_no(text) is None


MEDICATIONS = ["Lisinopril", "Metformin", "Atorvastatin"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I need more of my metformin please", "Metformin"),
        ("Metformin.", "Metformin"),
        ("metforman", "Metformin"),
        ("met formin", "Metformin"),
        ("uh the lysinopril", "Lisinopril"),
        ("Atorvastatin 20 mg", "Atorvastatin"),
        ("atorvastatine", "Atorvastatin"),
    ],
)
def test_match_choice_finds_a_medication(text: str, expected: str) -> None:
    assert match_choice(text, MEDICATIONS) == expected


@pytest.mark.parametrize(
    "text", ["my blood pressure pill", "none of them", "", "metformin and lisinopril", "aspirin"]
)
def test_match_choice_is_none_when_nothing_or_two_things_match(text: str) -> None:
    assert match_choice(text, MEDICATIONS) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a follow up", "follow_up"),
        ("the follow-up visit", "follow_up"),
        ("folow up", "follow_up"),
        ("it's for a checkup", "checkup"),
        ("a check up", "checkup"),
        ("procedure", "procedure"),
        ("I need a new appointment", None),
    ],
)
def test_match_choice_reads_enum_values(text: str, expected: str | None) -> None:
    assert match_choice(text, ["checkup", "follow_up", "procedure"]) == expected


def test_short_choices_must_be_said_exactly() -> None:
    assert match_choice("10 mg", ["mg", "tablets"]) == "mg"
    assert match_choice("my gum hurts", ["mg", "tablets"]) is None
    assert match_choice("anything", []) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("five five five two oh one three three four four", "5552013344"),
        ("five five five, two zero one, three three four four", "5552013344"),
        ("my number is five five five, two oh one, three three four four", "5552013344"),
        ("five fifty five two oh one thirty three forty four", "5552013344"),
        ("five five five two oh one double three double four", "5552013344"),
        ("one five five five two oh one three three four four", "15552013344"),
        ("(555) 201-3344", "5552013344"),
        ("555 201 3344", "5552013344"),
        ("555.201.3344", "5552013344"),
        ("five five five two oh one three three four four extension two one zero", "5552013344x210"),
        ("(555) 201-3344 ext. 210", "5552013344x210"),
        ("555-201-3344 x210", "5552013344x210"),
    ],
)
def test_phone_digits(text: str, expected: str) -> None:
    assert phone_digits(text) == expected


@pytest.mark.parametrize(
    "text",
    ["five five five two oh one", "yes", "", "five five five two oh one three three four four extension",
     "two five five five two oh one three three four four", "May fourth, nineteen seventy"],
)
def test_phone_digits_is_none_for_what_is_not_a_phone_number(text: str) -> None:
    assert phone_digits(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Maria Lopez", "Maria Lopez"),
        ("maria lopez", "María López"),
        ("MARIA LOPEZ", "Maria Lopez"),
        ("my name is Maria Lopes", "Maria Lopez"),
        ("Lopez, Maria", "Maria Lopez"),
        ("renee obrien smith", "Renée O'Brien-Smith"),
        ("Renee O Brien Smith", "Renée O'Brien-Smith"),
        ("Renée O’Brien-Smith", "Renée O'Brien-Smith"),
        ("D'Angelo Mc Donald", "D'Angelo McDonald"),
        ("Jon Smith", "John Smith"),
        ("John A Smith", "John A. Smith"),
    ],
)
def test_match_name_accepts_the_record_name(text: str, expected: str) -> None:
    assert match_name(text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Maria", "Maria Lopez"),
        ("John Smith", "Maria Lopez"),
        ("Jane Smith", "John Smith"),
        ("John B Smith", "John A. Smith"),
        ("Yes.", "Maria Lopez"),
        ("", "Maria Lopez"),
        ("Maria Lopez", ""),
    ],
)
def test_match_name_rejects_another_name(text: str, expected: str) -> None:
    assert not match_name(text, expected)


@pytest.mark.parametrize("text", BIRTHDAY_PHRASINGS)
def test_same_date_verifies_the_right_date(text: str) -> None:
    assert same_date(text, BIRTHDAY, today=TODAY)


@pytest.mark.parametrize(
    "text",
    ["January first, nineteen ninety", "Yes.", "May fifth, nineteen seventy",
     "May fourth, nineteen seventy one", "4/5/70", "May fourth", "", "I'd rather not say"],
)
def test_same_date_never_verifies_a_wrong_date(text: str) -> None:
    assert not same_date(text, BIRTHDAY, today=TODAY)


def test_same_date_without_today_needs_the_year() -> None:
    assert same_date("May fourth, nineteen seventy", BIRTHDAY)
    assert not same_date("May fourth", date(2026, 5, 4))


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        ("five five five two oh one three three four four", "5552013344", True),
        ("one five five five two oh one three three four four", "5552013344", True),
        ("(555) 201-3344", "15552013344", True),
        ("five five five two oh one three three four five", "5552013344", False),
        ("five five five two oh one three three four four extension two one zero", "5552013344x210", True),
        ("five five five two oh one three three four four", "5552013344x210", False),
        ("Yes.", "5552013344", False),
    ],
)
def test_same_phone(text: str, record: str, expected: bool) -> None:
    assert same_phone(text, record) is expected


def test_warm_up_leaves_later_answers_unchanged() -> None:
    warm_up()
    assert parse_date("May fourth, nineteen seventy", today=TODAY, past=True) == BIRTHDAY
    assert parse_date("May fourth", today=TODAY, past=True) == date(2026, 5, 4)


def _exact_forms(day: date) -> list[str]:
    """A date said in the forms `exact_date` reads, with four- and two-digit years."""
    month, year, short = day.strftime("%B"), str(day.year), day.strftime("%y")
    suffixes = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}
    ordinal = f"{day.day}{suffixes.get(day.day, 'th')}"
    return [
        f"{month} {ordinal}, {year}", f"{month[:3]} {ordinal} {short}", f"the {ordinal} of {month} {year}",
        f"{day.day} {month} {short}", f"{day.month}/{day.day}/{short}",
        f"{day.month:02d}-{day.day:02d}-{year}", f"{day.month}.{day.day}.{year}", day.isoformat(),
    ]


EXACT_DAYS = [date(1900 + offset * 7, 1 + offset % 12, 1 + offset * 5 % 28) for offset in range(19)] + [
    date(1968, 2, 29), date(1969, 12, 31), date(2000, 1, 1), date(2026, 11, 30), date(2026, 12, 25),
]


def _dateparser_reading(cleaned: str, today: date | None, past: bool) -> date | None:
    return spoken._resolve_year(cleaned, spoken._dateparser_date(cleaned, today, past), today, past)


@pytest.mark.parametrize(
    ("today", "past"), [(None, False), (TODAY, True), (TODAY, False), (date(2035, 6, 1), True)]
)
def test_the_exact_date_reader_agrees_with_dateparser(today: date | None, past: bool) -> None:
    for day in EXACT_DAYS:
        for text in _exact_forms(day):
            cleaned = spoken._date_words(text, relative=today is not None)
            exact = spoken.exact_date(cleaned, today=today, past=past)
            assert exact is not None, text
            assert exact == _dateparser_reading(cleaned, today, past), (text, today, past)


@pytest.mark.parametrize("text", ["5 4 70", "1905 june 2nd", "may 4rd 1970", "13/4/70", "may 4th",
                                  "2/30/1980", "5/4-70", "may 4th 970", "tomorrow"])
def test_the_exact_date_reader_leaves_other_forms_to_dateparser(text: str) -> None:
    assert spoken.exact_date(text) is None
