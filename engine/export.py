"""Exports of a call: latency samples as CSV (see docs/latency-csv.md) and reports as JSON.

Files are written atomically (a temp file in the same folder, then `os.replace`),
so a reader never sees half a file. Patient values appear only with `include_phi`.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from engine.clock import iso_utc
from engine.errors import ExportError
from engine.events import BotTurn, CallEvent, CallStarted, Latency, UserTurn
from engine.files import file_kind

LATENCY_COLUMNS = ("call_id", "schema", "turn", "state", "stage", "ms", "forced", "crossed_transition",
                   "timestamp")
PHI_COLUMNS = ("patient_id", "caller_text", "bot_text")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def latency_columns(include_phi: bool = False) -> tuple[str, ...]:
    return LATENCY_COLUMNS + (PHI_COLUMNS if include_phi else ())


def latency_rows(events: Iterable[CallEvent], *, schema: str,
                 include_phi: bool = False) -> Iterator[dict[str, str]]:
    """One row per `Latency` event, as the CSV's text cells."""
    events = list(events)
    words = _words_per_turn(events) if include_phi else {}
    patients = {e.call_id: e.patient_id for e in events if isinstance(e, CallStarted)}
    for event in events:
        if not isinstance(event, Latency):
            continue
        row = {
            "call_id": event.call_id, "schema": schema, "turn": str(event.turn), "state": event.state,
            "stage": event.stage, "ms": f"{event.ms:.3f}", "forced": _flag(event.forced),
            "crossed_transition": _flag(event.crossed_transition), "timestamp": iso_utc(event.at),
        }
        if include_phi:
            caller, bot = words.get((event.call_id, event.turn), ("", ""))
            row |= {"patient_id": _text_cell(patients.get(event.call_id, "")),
                    "caller_text": _text_cell(caller), "bot_text": _text_cell(bot)}
        yield row


def write_latency_csv(path: Path | str, events: Iterable[CallEvent], *, schema: str,
                      include_phi: bool = False) -> int:
    """Write the latency CSV atomically; returns the number of rows."""
    rows = list(latency_rows(events, schema=schema, include_phi=include_phi))
    with _atomic_file(Path(path), private=include_phi) as handle:
        writer = csv.DictWriter(handle, fieldnames=latency_columns(include_phi))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def write_json(path: Path | str, data: Any, *, private: bool = False) -> None:
    """Write `data` as indented JSON, atomically."""
    with _atomic_file(Path(path), private=private) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


STDOUT = "-"


@contextmanager
def _atomic_file(path: Path, *, private: bool) -> Iterator[IO[str]]:
    """A text file that appears at `path` complete, or not at all. Private files are mode 0600.

    `-` is standard output. Only a regular file or a new path is replaced: a device, FIFO or
    folder at `path` is refused (as root, renaming over /dev/full would replace the device).
    """
    if str(path) == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    refuse_special_target(path)
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600 if private else 0o644)
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def refuse_special_target(path: Path) -> None:
    """ExportError unless `path` is a regular file or does not exist yet (checked before a call, too)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from error
    if not stat.S_ISREG(mode):
        raise ExportError(f"cannot write {path}: it is {file_kind(mode)}, not a regular file "
                          "(give a file path, or - for standard output)")


def _words_per_turn(events: list[CallEvent]) -> dict[tuple[str, int], tuple[str, str]]:
    """(call_id, turn) -> (what the caller said, what the bot said), each joined with spaces."""
    caller: dict[tuple[str, int], list[str]] = defaultdict(list)
    bot: dict[tuple[str, int], list[str]] = defaultdict(list)
    for event in events:
        if isinstance(event, UserTurn):
            caller[(event.call_id, event.turn)].append(event.text)
        elif isinstance(event, BotTurn):
            bot[(event.call_id, event.turn)].append(event.text)
    turns = caller.keys() | bot.keys()
    return {key: (" ".join(caller.get(key, [])), " ".join(bot.get(key, []))) for key in turns}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _text_cell(text: str) -> str:
    """Free text that a spreadsheet would run as a formula gets a leading apostrophe."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
