"""The wall clock, in one place: the engine reads "now" only through a `Clock`, so tests can set it.

Durations use `time.perf_counter()`; only wall-clock moments (event times, call start, report
timestamps) come from a `Clock`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Returns the current moment as Unix seconds, like `time.time`."""


def system_clock() -> float:
    return time.time()


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always reads `moment` (an aware datetime)."""
    at = moment.timestamp()
    return lambda: at


def iso_utc(at: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds, e.g. 2026-11-25T11:44:00.935Z."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_iso_seconds(at: float) -> str:
    """Unix seconds as local ISO 8601 time to the second, e.g. 2026-11-25T11:44:00."""
    return datetime.fromtimestamp(at).isoformat(timespec="seconds")
