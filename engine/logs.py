"""Logging that never shows patient values.

Pipecat logs through loguru, and at debug level it prints frames and LLM
context, which carry patient data. `configure_logging` installs one sink with
tracebacks free of variable values, and a redaction patch that replaces the
values of every live call's patient record with `[REDACTED]`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

REDACTED = "[REDACTED]"
_MIN_LENGTH = 3  # shorter values (e.g. "1") would redact ordinary words and numbers


class Redactor:
    """Holds the patient values of live calls and scrubs them from text."""

    def __init__(self) -> None:
        self._values: dict[str, set[str]] = {}
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, call_id: str, values: Iterable[str]) -> None:
        with self._lock:
            self._values[call_id] = {v for v in values if len(v.strip()) >= _MIN_LENGTH}
            self._rebuild()

    def forget(self, call_id: str) -> None:
        with self._lock:
            self._values.pop(call_id, None)
            self._rebuild()

    def _rebuild(self) -> None:
        every = sorted({v for values in self._values.values() for v in values}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in every), re.IGNORECASE) if every else None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def patch(self, record: Record) -> None:
        """loguru patcher."""
        record["message"] = self.scrub(record["message"])


REDACTOR = Redactor()
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters (ESC, BEL, C1, ...) shown as escapes: safe to print to a terminal."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def patient_strings(*sources: Any) -> list[str]:
    """Every text a record holds, flattened (values of dicts and lists, stringified)."""
    found: list[str] = []
    for source in sources:
        if isinstance(source, dict):
            found += patient_strings(*source.values())
        elif isinstance(source, (list, tuple)):
            found += patient_strings(*source)
        elif source is not None and not isinstance(source, bool):
            found.append(str(source))
    return found


def redactor_for(call_id: str, *sources: Any) -> Redactor:
    """A redactor of one call's patient values (which stays after the call, unlike REDACTOR's)."""
    redactor = Redactor()
    redactor.register(call_id, patient_strings(*sources))
    return redactor


def safe_line(text: str, redactor: Redactor = REDACTOR) -> str:
    """The one treatment of every line the CLI and the API print: redacted, control characters escaped."""
    return printable(redactor.scrub(text))


def configure_logging(level: str = "WARNING") -> None:
    """One stderr sink, redacted, without variable values in tracebacks."""
    logger.remove()
    logger.configure(patcher=REDACTOR.patch)
    logger.add(sys.stderr, level=level, diagnose=False, backtrace=False)


CRASH_LOG_NAME = "errors.log"


def write_crash_log(error: BaseException, folder: Path | None = None) -> Path:
    """Append `error`'s traceback, redacted, to a private log file; returns its path.

    The file is `errors.log` in `folder` (the data folder), else in the temp folder.
    """
    text = REDACTOR.scrub("".join(traceback.format_exception(error)))
    for directory in (folder, Path(tempfile.gettempdir())):
        if directory is None:
            continue
        name = CRASH_LOG_NAME if directory == folder else f"voice-console-{os.getuid()}-{CRASH_LOG_NAME}"
        path = directory / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        return path
    raise OSError("no folder to write the error log to")
