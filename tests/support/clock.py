"""Running the tests at a chosen date: `pytest --clock-date 2030-02-28`.

The test process travels with time-machine; subprocesses (the CLI) travel too, through the
`sitecustomize` in `timetravel/`, which reads the same date from the environment.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

CLOCK_MOMENT_ENV = "VOICE_CONSOLE_TEST_CLOCK"
TIMETRAVEL_DIR = Path(__file__).resolve().parent / "timetravel"


def moment_of(day: str) -> datetime:
    """09:30 UTC on `day` (YYYY-MM-DD): still that date anywhere from UTC-9 to UTC+14."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).replace(hour=9, minute=30)


def subprocess_environment(moment: datetime) -> dict[str, str]:
    """Environment entries that make a Python subprocess start at `moment`."""
    path = os.pathsep.join(p for p in (str(TIMETRAVEL_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {CLOCK_MOMENT_ENV: moment.isoformat(), "PYTHONPATH": path}
