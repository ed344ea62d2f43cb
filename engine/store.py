"""Call history: every event of every call, written to SQLite as it happens.

Each event is committed on its own (WAL, synchronous=NORMAL), so a process
killed mid-call loses none of the events it emitted; an OS crash may lose the
last few. Writes never checkpoint (a checkpoint fsyncs, stalling the call's
loop for milliseconds): a background thread does it when a call ends. The
`events` table keeps full events (this machine's own history); the `calls`
table and the reports built from it hold no patient values unless asked for
with `include_phi`.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import typing
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from engine.errors import CallNotFoundError, CallStoreError
from engine.events import (
    EVENT_TYPES,
    CallEnded,
    CallEvent,
    CallStarted,
    EventKind,
    Latency,
    Transition,
    UserTurn,
)
from engine.latency import LatencyTracker
from engine.logs import Redactor, patient_strings
from engine.paths import data_dir

if TYPE_CHECKING:
    from engine.pipeline import HealthcareAIPipeline

DB_NAME = "calls.sqlite3"
SCHEMA_VERSION = 1
_CALL_COLUMNS = "id, schema, patient_id, responder, mode, status, started_at, ended_at, end_reason"

_TABLES = """
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    schema TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    responder TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started_at);
CREATE TABLE IF NOT EXISTS events (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    turn INTEGER NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE IF NOT EXISTS latency (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    turn INTEGER NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    ms REAL NOT NULL,
    forced INTEGER NOT NULL,
    crossed_transition INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (call_id, seq)
);
"""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One row of the `calls` table. Times are Unix seconds; `end_reason` is redacted."""

    id: str
    schema: str
    patient_id: str
    responder: str
    mode: str
    status: str
    started_at: float
    ended_at: float | None
    end_reason: str

    def as_dict(self, *, include_phi: bool = False) -> dict[str, Any]:
        fields = asdict(self)
        if not include_phi:
            del fields["patient_id"]
        return fields


class CallStore:
    """The call history in one SQLite file; one connection, guarded by a lock."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._redactors: dict[str, Redactor] = {}
        self._detach: list[Callable[[], None]] = []
        self._checkpointer: threading.Thread | None = None
        self._db = self._connect()

    @classmethod
    def open_default(cls, data_dir_override: Path | str | None = None) -> CallStore:
        return cls(data_dir(data_dir_override) / DB_NAME)

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ----- opening ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        with self._errors("open"):
            _create_private_file(self.path)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5.0)
            try:
                _prepare(db, self.path)
            except BaseException:
                db.close()
                raise
            return db

    def close(self) -> None:
        for detach in self._detach:
            detach()
        self._detach.clear()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            self._db.close()

    # ----- writing ---------------------------------------------------------------------------

    def attach(self, call: HealthcareAIPipeline) -> Callable[[], None]:
        """Record `call`: what it already emitted, then every event as it happens. Returns a detach."""
        self._redactors[call.session_id] = _redactor_for(call)
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO calls (id, schema, patient_id, responder, mode, status, "
                       "started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (call.session_id, call.schema_name, call.patient_id, call.responder_config.kind,
                        call.mode, call.status.value, call.events.clock()))
        for event in list(call.events.history):
            self.record(event)
        detach = call.events.subscribe(self.record)
        self._detach.append(detach)
        return detach

    def record(self, event: CallEvent) -> None:
        """Event-stream subscriber: writes and commits one event."""
        payload = json.dumps(event.payload(), ensure_ascii=False, default=str)
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO events (call_id, seq, kind, turn, state, at, payload) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (event.call_id, event.seq, event.kind.value, event.turn, event.state, event.at,
                        payload))
            if isinstance(event, Latency):
                _insert_latency(db, event)
            elif isinstance(event, CallStarted):
                _upsert_started(db, event)
            elif isinstance(event, CallEnded):
                reason = self._redact(event.call_id, event.reason)
                db.execute("UPDATE calls SET status = ?, ended_at = ?, end_reason = ? WHERE id = ?",
                           (event.status, event.at, reason, event.call_id))
        if isinstance(event, CallEnded):
            self._redactors.pop(event.call_id, None)
            self._checkpoint_in_background()

    def _redact(self, call_id: str, text: str) -> str:
        redactor = self._redactors.get(call_id)
        return redactor.scrub(text) if redactor else text

    # ----- reading ---------------------------------------------------------------------------

    def list_calls(self, limit: int = 50) -> list[CallRecord]:
        """The latest calls first."""
        rows = self._read(f"SELECT {_CALL_COLUMNS} FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))
        return [CallRecord(*row) for row in rows]

    def get_call(self, call_id: str) -> CallRecord:
        rows = self._read(f"SELECT {_CALL_COLUMNS} FROM calls WHERE id = ?", (call_id,))
        if not rows:
            raise CallNotFoundError(f"no call '{call_id}' in {self.path}")
        return CallRecord(*rows[0])

    def events(self, call_id: str) -> list[CallEvent]:
        self.get_call(call_id)
        rows = self._read("SELECT kind, call_id, seq, turn, state, at, payload FROM events "
                          "WHERE call_id = ? ORDER BY seq", (call_id,))
        return [self._event_from_row(*row) for row in rows]

    def report(self, call_id: str, *, include_phi: bool = False) -> dict[str, Any]:
        """The call's performance report, rebuilt from its events, plus its metadata under `call`."""
        record = self.get_call(call_id)
        return report_from_events(self.events(call_id), record, include_phi=include_phi)

    def _event_from_row(self, kind: str, call_id: str, seq: int, turn: int, state: str, at: float,
                        payload: str) -> CallEvent:
        try:
            event_type = EVENT_TYPES[EventKind(kind)]
            fields = json.loads(payload)
            for name in _tuple_fields(event_type.kind) & fields.keys():
                fields[name] = tuple(fields[name])
            return event_type(call_id=call_id, seq=seq, turn=turn, state=state, at=at, **fields)
        except (ValueError, TypeError) as error:
            problem = f"{self.path}: event {seq} of call '{call_id}' cannot be read: {error}"
            raise CallStoreError(problem) from error

    # ----- plumbing --------------------------------------------------------------------------

    def _checkpoint_in_background(self) -> None:
        if self._checkpointer is not None and self._checkpointer.is_alive():
            return
        self._checkpointer = threading.Thread(target=_checkpoint, args=(self.path,), name="calls-checkpoint",
                                              daemon=True)
        self._checkpointer.start()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._errors("write"), self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._errors("read"), self._lock:
            return self._db.execute(sql, parameters).fetchall()

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as error:
            raise CallStoreError(f"cannot {action} the call history {self.path}: {error}") from error


def report_from_events(events: list[CallEvent], record: CallRecord, *,
                       include_phi: bool = False) -> dict[str, Any]:
    """The same report `HealthcareAIPipeline.get_performance_report()` gives, from stored events."""
    tracker = LatencyTracker()
    for event in events:
        tracker.observe(event)
    report = tracker.report()
    report["total_call_time_ms"] = round(_total_ms(events), 3)
    initial = [e.state for e in events if isinstance(e, CallStarted)][:1]
    report.update(
        session_id=record.id, schema=record.schema, status=record.status,
        state=events[-1].state if events else "",
        visited=initial + [e.target for e in events if isinstance(e, Transition)],
        turns=sum(isinstance(e, UserTurn) for e in events),
        turn_breakdown=report.pop("turns"),
        call=record.as_dict(include_phi=include_phi) | {"events": len(events)},
    )
    return report


def _total_ms(events: list[CallEvent]) -> float:
    ended = [e for e in events if isinstance(e, CallEnded)]
    if ended:
        return ended[-1].total_ms
    started = [e for e in events if isinstance(e, CallStarted)]
    return (events[-1].at - started[0].at) * 1000 if started else 0.0


def _insert_latency(db: sqlite3.Connection, event: Latency) -> None:
    db.execute("INSERT OR IGNORE INTO latency (call_id, seq, turn, state, stage, ms, forced, "
               "crossed_transition, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (event.call_id, event.seq, event.turn, event.state, event.stage, event.ms, event.forced,
                event.crossed_transition, event.at))


def _upsert_started(db: sqlite3.Connection, event: CallStarted) -> None:
    db.execute("INSERT INTO calls (id, schema, patient_id, responder, mode, status, started_at) "
               "VALUES (?, ?, ?, ?, ?, 'running', ?) ON CONFLICT (id) DO UPDATE SET "
               "schema = excluded.schema, patient_id = excluded.patient_id, responder = excluded.responder, "
               "mode = excluded.mode, status = 'running', started_at = excluded.started_at",
               (event.call_id, event.schema, event.patient_id, event.responder, event.mode, event.at))


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise CallStoreError(f"{path} was written by a newer voice-console (history format {version})")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.executescript(_TABLES)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _checkpoint(path: Path) -> None:
    """Copy the WAL into the database, on a connection of its own; it never blocks the writer."""
    try:
        with closing(sqlite3.connect(path, timeout=5.0)) as db:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as error:
        logger.warning(f"call history checkpoint of {path} failed: {error}")


def _create_private_file(path: Path) -> None:
    """The history holds patient data: create it readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _redactor_for(call: HealthcareAIPipeline) -> Redactor:
    redactor = Redactor()
    redactor.register(call.session_id, patient_strings(call.patient_data, call.precomputed.values))
    return redactor


@functools.cache
def _tuple_fields(kind: EventKind) -> frozenset[str]:
    """Fields declared as tuples (JSON gives them back as lists)."""
    hints = typing.get_type_hints(EVENT_TYPES[kind])
    return frozenset(name for name, hint in hints.items() if typing.get_origin(hint) is tuple)

