"""Understand values a caller speaks: dates, times, numbers, yes/no, choices, phone numbers, names.

Pure functions on the text of one caller turn (as typed, or as a speech-to-text engine wrote it).
Each returns None when the turn does not clearly hold a value of its kind: a bare "Yes." is no
date. Number words become digits through text2num (`alpha2digit`); a date in one of the usual
forms ("may 4th 1970", "4th of may 70", "5/4/70", "1970-05-04") is read exactly, any other by
dateparser with fixed settings (English only, US month/day order, no locale detection), and nothing
reads the wall clock: dates without a year, two-digit years and "tomorrow" resolve against `today`.

    parse_date("uh, it's May fourth, nineteen seventy")        # date(1970, 5, 4)
    parse_time("half past two in the afternoon")               # time(14, 30)
    match_choice("more of my metforman please", ["Metformin"]) # "Metformin"
    same_date("January first, nineteen ninety", date(1970, 5, 4))  # False
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, time
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from rapidfuzz import fuzz
from text_to_num import alpha2digit  # type: ignore[import-untyped]  # text2num ships no type hints

from engine.data.speakable import normalize_phone

if TYPE_CHECKING:
    from dateparser.date import DateDataParser

_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
)  # fmt: skip
_RELATIVE_DAYS = ("today", "tomorrow", "yesterday")
_DATE_TOKEN = re.compile(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,4}(?:st|nd|rd|th)?|[a-z]+")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})[/.-]\d{1,2}[/.-]\d{2,4}")
# "nineteen seventy" comes out of alpha2digit as "19 70", "nineteen oh five" as "19 oh 5"
_SPLIT_YEAR = re.compile(r"\b(1[1-9]|20) (?:(\d{2})|o[h]? (\d))\b(?!st|nd|rd|th)")
_TWO_DIGIT_YEAR = re.compile(r"(?<![\d/.-])(?:\d{1,2}[/.-]\d{1,2}[/.-]|\d{1,2}(?:st|nd|rd|th)? )\d{2}$")
_SLASH = re.compile(r"\s+slash\s+")


def parse_date(text: str, *, today: date | None = None, past: bool = False) -> date | None:
    """The date a caller said, in US month/day order, or None when the turn holds no full date.

    Without `today` a date must say its year; with it, a missing year and "tomorrow" resolve
    against `today`. With `past=True` (dates of birth) a year-less date is the last one on or
    before `today`, and a two-digit year that would land after `today` goes back a century.
    Without `today`, two-digit years follow the POSIX pivot: 69-99 are 19xx, 00-68 are 20xx.
    """
    cleaned = _date_words(text, relative=today is not None)
    if not cleaned:
        return None
    exact = exact_date(cleaned, today=today, past=past)
    return exact or _resolve_year(cleaned, _dateparser_date(cleaned, today, past), today, past)


def _resolve_year(cleaned: str, day: date | None, today: date | None, past: bool) -> date | None:
    """With `past`, a two-digit year that would land after `today` goes back a century."""
    if day is not None and past and today is not None and day > today and _TWO_DIGIT_YEAR.search(cleaned):
        return _years_earlier(day, 100)
    return day


@cache
def warm_up() -> None:
    """Pay dateparser's one-off set-up (its import and ~0.3 s of regex compiling) now, once a process.

    Call it while a call is being set up, so a date only dateparser reads is not slow on first use.
    """
    _dateparser_date("may 4th 1970", date(2000, 1, 1), True)


def _date_words(text: str, *, relative: bool) -> str:
    """Only the words that can belong to a date: 'uh, it's May fourth, 1970' -> 'may 4th 1970'."""
    spoken = _SLASH.sub("/", _digits(text))
    spoken = _SPLIT_YEAR.sub(lambda m: m[1] + (m[2] or "0" + m[3]), spoken)
    keep = set(_MONTHS) | {"of"} | (set(_RELATIVE_DAYS) if relative else set())
    tokens = [t for t in _DATE_TOKEN.findall(spoken) if t[0].isdigit() or t in keep]
    while tokens and "of" in (tokens[0], tokens[-1]):
        tokens.pop(0 if tokens[0] == "of" else -1)
    return " ".join(tokens)


_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTHS[:12], 1)}
_MONTH_NUMBERS |= {name[:3]: number for name, number in _MONTH_NUMBERS.items()} | {"sept": 9}
_ORDINALS = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}
_DAY = re.compile(r"(\d{1,2})(st|nd|rd|th)?")
_YEAR = re.compile(r"[1-9]\d{3}|\d{2}")
_ISO = re.compile(r"([1-9]\d{3})-(\d{2})-(\d{2})")
_US_NUMERIC = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|[1-9]\d{3})")


def exact_date(cleaned: str, *, today: date | None = None, past: bool = False) -> date | None:
    """A date in one of the usual forms of `_date_words`' output, read as dateparser reads it, without it:
    'may 4th 1970', '4th of may 1970', '4 may 70', '5/4/70', '05-04-1970', '1970-05-04'.

    None for any other form, and for a form that names no real day (dateparser then decides).
    """
    day, month, year = _numeric_parts(cleaned) if " " not in cleaned else _spoken_parts(cleaned.split(" "))
    found = _real_date(_year(year), month, _day(day))
    if found is not None and past and today is not None and found > today and len(year) == 2:
        return _years_earlier(found, 100)
    return found


_Parts = tuple[str, int | None, str]  # day as said, month number, year as said


def _numeric_parts(token: str) -> _Parts:
    """The parts of '1970-05-04' or of US '5/4/70'; empty ones when it is neither."""
    if iso := _ISO.fullmatch(token):
        return iso[3], int(iso[2]), iso[1]
    if us := _US_NUMERIC.fullmatch(token):
        return us[3], int(us[1]), us[4]
    return "", None, ""


def _spoken_parts(tokens: list[str]) -> _Parts:
    """The parts of 'may 4th 1970', '4th of may 1970' or '4 may 70'; empty ones for any other words."""
    if len(tokens) == 4 and tokens[1] == "of":
        del tokens[1]
    if len(tokens) != 3:
        return "", None, ""
    month, day, year = tokens if tokens[0] in _MONTH_NUMBERS else (tokens[1], tokens[0], tokens[2])
    return day, _MONTH_NUMBERS.get(month), year


def _day(token: str) -> int | None:
    """'4', '04' or '4th' (the right suffix only) -> 4."""
    match = _DAY.fullmatch(token)
    if match is None:
        return None
    number = int(match[1])
    suffix = match[2]
    return number if suffix is None or suffix == _ORDINALS.get(number, "th") else None


def _year(token: str) -> int | None:
    """'1970' -> 1970; two digits follow the POSIX pivot, as in dateparser: '70' -> 1970, '30' -> 2030."""
    if not _YEAR.fullmatch(token):
        return None
    year = int(token)
    if len(token) == 2:
        return year + (1900 if year >= 69 else 2000)
    return year


def _real_date(year: int | None, month: int | None, day: int | None) -> date | None:
    if year is None or month is None or day is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dateparser_date(cleaned: str, today: date | None, past: bool) -> date | None:
    found = _date_parser(today, past).get_date_data(cleaned).date_obj
    if found is None or not _month_first(cleaned, found):
        return None
    day: date = found.date()
    return day


@lru_cache(maxsize=64)
def _date_parser(today: date | None, past: bool) -> DateDataParser:
    from dateparser.date import DateDataParser  # on first use: 0.3 s of imports `validate` never needs

    base = datetime.combine(today, time()) if today is not None else datetime(2000, 1, 1)
    return DateDataParser(
        languages=["en"],
        try_previous_locales=False,
        use_given_order=True,
        settings={
            "DATE_ORDER": "MDY",
            "PREFER_LOCALE_DATE_ORDER": False,
            "PREFER_DATES_FROM": "past" if past else "current_period",
            "RELATIVE_BASE": base,
            "REQUIRE_PARTS": ["day", "month"] if today is not None else ["day", "month", "year"],
            "PARSERS": ["relative-time", "absolute-time"] if today is not None else ["absolute-time"],
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )


def _month_first(cleaned: str, found: datetime) -> bool:
    """dateparser falls back to day/month for '13/4/70'; a US caller never means that."""
    numeric = _NUMERIC_DATE.search(cleaned)
    return numeric is None or int(numeric[1]) == found.month


def _years_earlier(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # February 29th in a year that has none
        return day.replace(year=day.year - years, day=28)


# ----- times ---------------------------------------------------------------------------------

_MERIDIEM = (
    (re.compile(r"(?<=\d) ?a\.? ?m\b\.?|\bin the morning\b"), "am"),
    (re.compile(r"(?<=\d) ?p\.? ?m\b\.?|\b(?:in the afternoon|in the evening|at night|tonight)\b"), "pm"),
)
_NAMED_TIMES = ((re.compile(r"\b(?:noon|midday)\b"), time(12)), (re.compile(r"\bmidnight\b"), time(0)))
_QUARTERS = {"half": 30, "quarter": 15}
_BEFORE_HOUR = re.compile(r"\b(half|quarter|\d{1,2})(?: minutes?)? (past|after|to|before|of) (\d{1,2})\b")
_OCLOCK = re.compile(r"\b(\d{1,2}) o'? ?clock\b")
_DIGITAL = re.compile(r"\b(\d{1,2})(?::|\s+(?:o[h]?\s+)?)(\d{1,2})\b")
_HOUR_ONLY = re.compile(r"\b(\d{1,2})\b")


def parse_time(text: str) -> time | None:
    """The clock time a caller said: 'two thirty PM', 'half past two', '14:30', 'noon'.

    A time needs minutes, "o'clock", a part of the day (am/pm, "in the morning") or a
    "past"/"to" phrase; a bare number is not a time. Without am/pm the hour is taken as said.
    """
    spoken = _digits(text)
    for pattern, named in _NAMED_TIMES:
        if pattern.search(spoken):
            return named
    meridiem = next((half for pattern, half in _MERIDIEM if pattern.search(spoken)), None)
    for pattern, _ in _MERIDIEM:
        spoken = pattern.sub(" ", spoken)
    clock = _clock_reading(spoken, meridiem is not None)
    if clock is None:
        return None
    hour, minute = clock
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    return time(hour, minute) if hour < 24 and minute < 60 else None


def _clock_reading(spoken: str, has_meridiem: bool) -> tuple[int, int] | None:
    """(hour, minute) as said, before am/pm is applied."""
    relative = _BEFORE_HOUR.search(spoken)
    if relative:
        amount, direction, hour = relative.groups()
        minutes = _QUARTERS.get(amount) or int(amount)
        if direction in ("past", "after"):
            return int(hour), minutes
        return (int(hour) - 1) % 12 or 12, 60 - minutes
    for pattern in (_OCLOCK, _DIGITAL):
        match = pattern.search(spoken)
        if match:
            minute = int(match[2]) if pattern is _DIGITAL else 0
            return int(match[1]), minute
    hour_only = _HOUR_ONLY.search(spoken) if has_meridiem else None
    return (int(hour_only[1]), 0) if hour_only else None


# ----- numbers, yes/no, choices --------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_AND_A_HALF = re.compile(r"\b(\d+) and a half\b")
_MINUS = re.compile(r"\b(?:minus|negative) (?=\d)")
_NONE = re.compile(r"\b(?:none|nothing)\b")


def parse_number(text: str) -> int | float | None:
    """The one number in a turn: 'about forty two' -> 42, 'two point five' -> 2.5, 'none' -> 0.

    None when there is no number or more than one ('two or three').
    """
    spoken = _THOUSANDS_COMMA.sub("", _digits(text))
    spoken = _AND_A_HALF.sub(lambda m: f"{m[1]}.5", _MINUS.sub("-", _NONE.sub("0", spoken)))
    numbers = set(_NUMBER.findall(spoken.replace(",", " ")))
    if len(numbers) != 1:
        return None
    (number,) = numbers
    return float(number) if "." in number else int(number)


_UNCLEAR = re.compile(r"\b(?:not sure|don'?t know|not certain|no idea|maybe|i guess)\b")
_NO = re.compile(
    r"\b(?:no|nope|nah|not really|not quite|incorrect|wrong|negative|never|not(?: right| correct| true)?|"
    r"(?:i|it|that) (?:don'?t|doesn'?t|didn'?t|isn'?t|wasn'?t)(?: (?:right|correct|true|it|me))?)\b"
)
_YES = re.compile(
    r"\b(?:yes|yeah|yea|yep|yup|ya|correct|right|sure|absolutely|definitely|certainly|"
    r"affirmative|indeed|of course|uh huh|mm hmm|i do|i did|true|okay|ok|alright|that is me)\b"
)
_BARE_YES = ("it is", "that is", "i am")
_NOT_AN_ANSWER = re.compile(r"\bno (?:problem|worries)\b")


def parse_yes_no(text: str) -> bool | None:
    """True for yes/yeah/correct/that's right/sure, False for no/nope/not really; None when unclear.

    A turn that says both ('yeah, no') or hedges ('I'm not sure') is None.
    """
    said = _plain(text).replace("that's", "that is").replace("it's", "it is").replace(" is not", " isn't")
    said = _NOT_AN_ANSWER.sub(" ", said)
    if _UNCLEAR.search(said):
        return None
    negative = _NO.search(said) is not None
    positive = _YES.search(_NO.sub(" ", said)) is not None or said in _BARE_YES
    return None if negative == positive else positive


_CHOICE_CUTOFF = 80
_EXACT_BELOW = 4  # choices this short must be said exactly ("mg" is in too many words)


def match_choice(text: str, choices: Sequence[str]) -> str | None:
    """The one choice (enum value, medication name) the caller said, allowing small misspellings.

    'I need more of my metforman please' among ['Lisinopril', 'Metformin'] -> 'Metformin'.
    An enum's '_' matches a space. None when nothing is close enough, or two choices are.
    """
    windows = _Windows(_plain(text).split())
    scored = [(_choice_score(windows, choice), choice) for choice in choices]
    good = sorted((item for item in scored if item[0] >= _CHOICE_CUTOFF), reverse=True)
    if not good or (len(good) > 1 and good[0][0] == good[1][0]):
        return None
    return good[0][1]


class _Windows(dict[int, list[tuple[str, str]]]):
    """Each run of `width` words of a turn, spaced and glued, made once for all the choices."""

    def __init__(self, words: list[str]) -> None:
        super().__init__()
        self.words = words

    def __missing__(self, width: int) -> list[tuple[str, str]]:
        runs = [self.words[start : start + width] for start in range(len(self.words) - width + 1)]
        self[width] = [(" ".join(run), "".join(run)) for run in runs]
        return self[width]


@lru_cache(maxsize=4096)
def _choice_target(choice: str) -> tuple[str, str, int]:
    """A choice as said: plain words, glued, and how many words."""
    target = _plain(choice.replace("_", " "))
    return target, target.replace(" ", ""), len(target.split())


def _choice_score(windows: _Windows, choice: str) -> float:
    target, glued_target, size = _choice_target(choice)
    if not target:
        return 0.0
    best = 0.0
    for width in (size, size + 1):  # one word more: STT splits words ("met formin")
        for spaced, glued in windows[width]:
            best = max(best, _similarity(spaced, target), _similarity(glued, glued_target))
    return best


def _similarity(said: str, target: str) -> float:
    if len(target) < _EXACT_BELOW:
        return 100.0 if said == target else 0.0
    return fuzz.ratio(said, target)


# ----- phone numbers and names ---------------------------------------------------------------

_DIGIT_WORDS = {"oh": "0", "o": "0", "zero": "0"}
_REPEATS = re.compile(r"\b(double|triple) (\d)\b")
_SPOKEN_EXTENSION = re.compile(r"\b(?:extension|ext|x)\b\.?")


def phone_digits(text: str) -> str | None:
    """A spoken or written US phone number in `normalize_phone`'s form, or None.

    'five five five two oh one three three four four' -> '5552013344';
    '(555) 201-3344 extension two one zero' -> '5552013344x210'.
    """
    written = normalize_phone(text)
    if written is not None:
        return written
    spoken = _digits(text)
    spoken = _REPEATS.sub(lambda m: m[2] * (2 if m[1] == "double" else 3), spoken)
    parts = _SPOKEN_EXTENSION.split(spoken, maxsplit=1)
    number = _only_digits(parts[0])
    extension = _only_digits(parts[1]) if len(parts) > 1 else ""
    if len(parts) > 1 and not extension:
        return None
    return normalize_phone(f"{number} x{extension}" if extension else number)


def _only_digits(spoken: str) -> str:
    words = re.findall(r"\d+|[a-z]+", spoken)
    return "".join(_DIGIT_WORDS.get(word, word) for word in words if word.isdigit() or word in _DIGIT_WORDS)


_NAME_CUTOFF = 80


def match_name(text: str, expected: str) -> bool:
    """Whether the caller said the record's name: every part of it, in any order.

    Case, accents, hyphens and apostrophes do not matter ('Renee O'Brien-Smith' matches
    'renee obrien smith'), and each part may be slightly off ('Lopes' for 'Lopez').
    Initials must match exactly.
    """
    said = _name_words(text)
    wanted = _name_words(expected)
    if not wanted or not said:
        return False
    candidates = said + ["".join(said[i : i + 2]) for i in range(len(said) - 1)]
    return all(any(_name_part_matches(c, part) for c in candidates) for part in wanted)


def _name_words(text: str) -> list[str]:
    return _plain(text.replace("'", "").replace("’", "")).split()


def _name_part_matches(said: str, part: str) -> bool:
    if len(part) <= 2:
        return said == part
    return fuzz.ratio(said, part) >= _NAME_CUTOFF


# ----- verification --------------------------------------------------------------------------


def same_date(spoken_text: str, record_date: date, *, today: date | None = None) -> bool:
    """Whether the caller said exactly the record's date (a date of birth: `past=True`)."""
    return parse_date(spoken_text, today=today, past=True) == record_date


def same_phone(spoken_text: str, record_phone: str) -> bool:
    """Whether the caller said the record's phone number (both as `normalize_phone` digits)."""
    said = phone_digits(spoken_text)
    return said is not None and said.removeprefix("1") == record_phone.removeprefix("1")


# ----- shared text handling ------------------------------------------------------------------


def _plain(text: str) -> str:
    """Lower case, no accents, no punctuation but apostrophes, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w']+", " ", bare).split())


def _digits(text: str) -> str:
    """Lower-case text with number words as digits: 'May fourth' -> 'may 4th'."""
    lowered = unicodedata.normalize("NFKC", text).replace("’", "'").lower()
    converted: str = alpha2digit(lowered, "en", threshold=0)
    return converted
