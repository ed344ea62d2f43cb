"""A per-call journal: every event of a call, appended as a JSON line beside the call history.

SQLite keeps writing to a database file deleted under it, and a truncated one
fails every write, so the history alone can lose a call. The store writes each
event to the call's journal first; when the call ends and its events are all
in an intact history, the journal is deleted. Otherwise it stays, and
`voice-console calls recover` imports it.
"""

from __future__ import annotations

import functools
import json
import os
import typing
from pathlib import Path
from typing import IO

from engine.errors import CallStoreError
from engine.events import EVENT_TYPES, CallEvent, EventKind

JOURNAL_DIR = "journal"


class CallJournal:
    """Appends one call's events to `<folder>/<call_id>.jsonl` (mode 0600)."""

    def __init__(self, folder: Path, call_id: str) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / f"{call_id}.jsonl"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: IO[str] = os.fdopen(fd, "a", encoding="utf-8")
        self.written = 0

    def write(self, event: CallEvent) -> None:
        self._file.write(event_line(event) + "\n")
        self._file.flush()
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def event_line(event: CallEvent) -> str:
    fields = {"kind": event.kind.value, "call_id": event.call_id, "seq": event.seq, "turn": event.turn,
              "state": event.state, "at": event.at, "payload": event.payload()}
    return json.dumps(fields, ensure_ascii=False, default=str)


def event_from_fields(kind: str, call_id: str, seq: int, turn: int, state: str, at: float,
                      payload: dict[str, typing.Any]) -> CallEvent:
    """A typed event from its stored fields; ValueError or TypeError when they do not fit."""
    event_type = EVENT_TYPES[EventKind(kind)]
    fields = dict(payload)
    for name in _tuple_fields(event_type.kind) & fields.keys():
        fields[name] = tuple(fields[name])
    return event_type(call_id=call_id, seq=seq, turn=turn, state=state, at=at, **fields)


def read_journal(path: Path) -> list[CallEvent]:
    """The events of a journal; a torn last line (the process died mid-write) is left out."""
    events: list[CallEvent] = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            events.append(event_from_fields(**json.loads(line)))
        except (ValueError, TypeError, KeyError) as error:
            if number == len(lines):
                break
            raise CallStoreError(f"{path}:{number}: a journal line cannot be read ({error})") from error
    return events


def journals(data_folder: Path) -> list[Path]:
    return sorted((data_folder / JOURNAL_DIR).glob("*.jsonl"))


@functools.cache
def _tuple_fields(kind: EventKind) -> frozenset[str]:
    """Fields declared as tuples (JSON gives them back as lists)."""
    hints = typing.get_type_hints(EVENT_TYPES[kind])
    return frozenset(name for name, hint in hints.items() if typing.get_origin(hint) is tuple)
