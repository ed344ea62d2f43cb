"""Turn raw values into text a TTS voice reads naturally (US English)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from functools import lru_cache

from num2words import num2words

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ORDINAL_DAYS = {day: num2words(day, to="ordinal") for day in range(1, 32)}
_HOURS = {hour: num2words(hour) for hour in range(1, 13)}
_MINUTES = {minute: f"oh {_DIGITS[minute]}" if minute < 10 else num2words(minute) for minute in range(1, 60)}
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_PHONE_EXTENSION = re.compile(r"\s*,?\s*(?:extension|ext\.?|x)\s*(\S*)\s*$", re.IGNORECASE)
_PHONE_EXTENSION_DIGITS = re.compile(r"[0-9]{1,6}")

# written unit -> (singular, plural)
_UNITS = {
    "mg": ("milligram", "milligrams"),
    "mcg": ("microgram", "micrograms"),
    "g": ("gram", "grams"),
    "ml": ("milliliter", "milliliters"),
    "units": ("unit", "units"),
    "unit": ("unit", "units"),
    "tablets": ("tablet", "tablets"),
    "tablet": ("tablet", "tablets"),
    "puffs": ("puff", "puffs"),
    "puff": ("puff", "puffs"),
}


def speak_date(day: date) -> str:
    """date(2026, 3, 3) -> 'Tuesday, March third' (no year)."""
    return f"{_WEEKDAYS[day.weekday()]}, {_MONTHS[day.month - 1]} {_ORDINAL_DAYS[day.day]}"


def speak_date_with_year(day: date) -> str:
    """date(1958, 3, 3) -> 'March third, nineteen fifty-eight' (for dates of birth)."""
    return f"{_MONTHS[day.month - 1]} {_ORDINAL_DAYS[day.day]}, {num2words(day.year, to='year')}"


def speak_time(moment: time) -> str:
    """14:30 -> 'two thirty PM'; 12:00 -> 'twelve noon'; 00:00 -> 'midnight'. Seconds are dropped."""
    hour, minute = moment.hour, moment.minute
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "twelve noon"
    words = _HOURS[hour % 12 or 12]
    if minute:
        words += f" {_MINUTES[minute]}"
    return f"{words} {'AM' if hour < 12 else 'PM'}"


def speak_datetime(moment: datetime) -> str:
    """'Tuesday, March third at two thirty PM'."""
    return f"{speak_date(moment.date())} at {speak_time(moment.time())}"


def speak_phone(digits: str) -> str:
    """'5552013344' -> 'five five five, two zero one, three three four four';
    '5552013344x210' -> '…, three three four four, extension two one zero'."""
    number, _, extension = digits.partition("x")
    spoken = _speak_phone_number(number)
    return f"{spoken}, extension {_speak_digits(extension)}" if extension else spoken


def _speak_phone_number(digits: str) -> str:
    if len(digits) == 11 and digits[0] == "1":
        return f"one, {_speak_phone_number(digits[1:])}"
    if len(digits) == 10:
        return ", ".join(_speak_digits(group) for group in (digits[:3], digits[3:6], digits[6:]))
    return _speak_digits(digits)


def _speak_digits(digits: str) -> str:
    return " ".join(_DIGITS[int(digit)] for digit in digits if digit in "0123456789")


def normalize_phone(text: str) -> str | None:
    """The digits of a US phone number (10, or 11 starting with 1), or None if it is not one.

    An extension of 1 to 6 digits after 'ext.', 'extension' or 'x' is kept after an 'x':
    '(555) 201-3344 ext. 210' -> '5552013344x210'.
    """
    number, extension = split_phone_extension(text)
    digits = number.strip().removeprefix("+").translate(_PHONE_PUNCTUATION)
    us_number = len(digits) == 10 or (len(digits) == 11 and digits[0] == "1")
    if not us_number or not _ASCII_DIGITS.fullmatch(digits):
        return None
    if extension is None:
        return digits
    return f"{digits}x{extension}" if _PHONE_EXTENSION_DIGITS.fullmatch(extension) else None


def split_phone_extension(text: str) -> tuple[str, str | None]:
    """('(555) 201-3344', '210') from '(555) 201-3344 ext. 210'; the extension is None without a marker."""
    marked = _PHONE_EXTENSION.search(text)
    if marked is None:
        return text, None
    return text[: marked.start()], marked[1]


@lru_cache(maxsize=1024)
def speak_integer(number: int) -> str:
    """42 -> 'forty-two'; -3 -> 'minus three'."""
    return str(num2words(number))


def speak_number(number: float | int) -> str:
    """500.0 -> 'five hundred'; 2.5 -> 'two point five'; 0.25 -> 'zero point two five'."""
    if isinstance(number, int):
        return speak_integer(number)
    if not math.isfinite(number):
        return str(number)
    whole, _, fraction = f"{abs(number):.6f}".rstrip("0").rstrip(".").partition(".")
    sign = "minus " if number < 0 and (whole != "0" or fraction) else ""
    spoken = f"{sign}{speak_integer(int(whole))}"
    return f"{spoken} point {_speak_digits(fraction)}" if fraction else spoken


def speak_unit(unit: str, amount: float) -> str:
    """('mg', 1) -> 'milligram'; ('mg', 2.5) -> 'milligrams'; unknown units come back as written."""
    forms = _UNITS.get(unit.strip().lower())
    if forms is None:
        return unit
    return forms[0] if amount == 1 else forms[1]


class SpokenBool(str):
    """ "yes" or "no" in a prompt, yet false in `{% if %}` when the value is false."""

    __slots__ = ("value",)
    value: bool

    def __new__(cls, value: bool) -> SpokenBool:
        spoken = super().__new__(cls, "yes" if value else "no")
        spoken.value = value
        return spoken

    def __bool__(self) -> bool:
        return self.value


def speak_boolean(value: bool) -> str:
    return SpokenBool(value)
