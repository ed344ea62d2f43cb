"""Looking for patient values where they could leak: in the values of exported fields, not in timestamps."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

TIME_FIELDS = frozenset({"timestamp", "at", "started_at", "ended_at"})
"""Fields that hold a moment of the call. A date there is the clock's, not the patient's."""


def leaked_values(data: Any, patient_values: Iterable[str]) -> list[tuple[str, str]]:
    """(field path, patient value) for every patient value found in a text field of `data`.

    `data` is parsed JSON or a list of CSV rows (dicts). Matching ignores case.
    """
    wanted = [value for value in patient_values if value]
    return [(path, value) for path, text in _text_fields(data, "") for value in wanted
            if value.lower() in text.lower()]


def _text_fields(data: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key not in TIME_FIELDS:
                yield from _text_fields(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for index, item in enumerate(data):
            yield from _text_fields(item, f"{path}[{index}]")
    elif isinstance(data, str):
        yield path, data
