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

import json
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from engine.errors import CallNotFoundError, CallStoreError
from engine.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    Latency,
    Transition,
    UserTurn,
)
from engine.journal import JOURNAL_DIR, CallJournal, event_from_fields
from engine.latency import LatencyTracker
from engine.logs import Redactor, redactor_for
from engine.paths import data_dir

if TYPE_CHECKING:
    from engine.pipeline import HealthcareAIPipeline

DB_NAME = "calls.sqlite3"
SCHEMA_VERSION = 2  # 2 added the recording process (pid, process_start)
INTERRUPTED = "interrupted"  # shown for a call left 'running' by a process that is gone
_CALL_COLUMNS = "id, schema, patient_id, responder, mode, status, started_at, ended_at, end_reason"
_PROCESS_COLUMNS = {"pid": "INTEGER", "process_start": "INTEGER"}

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
        self._journals: dict[str, CallJournal] = {}
        self._kept_journals: dict[str, Path] = {}
        self._db = self._connect()
        self._inode = os.stat(self.path).st_ino

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
                make_private(self.path)
            except BaseException:
                db.close()
                raise
            return db

    def close(self) -> None:
        for detach in self._detach:
            detach()
        self._detach.clear()
        for journal in self._journals.values():
            journal.close()  # a call that never ended keeps its journal for `calls recover`
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            self._db.close()

    # ----- writing ---------------------------------------------------------------------------

    def attach(self, call: HealthcareAIPipeline) -> Callable[[], None]:
        """Record `call`: what it already emitted, then every event as it happens. Returns a detach."""
        self._redactors[call.session_id] = _redactor_for(call)
        self._journals[call.session_id] = CallJournal(self.path.parent / JOURNAL_DIR, call.session_id)
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO calls (id, schema, patient_id, responder, mode, status, "
                       "started_at, pid, process_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (call.session_id, call.schema_name, call.patient_id, call.responder_config.kind,
                        call.mode, call.status.value, call.events.clock(), os.getpid(),
                        process_start(os.getpid())))
        for event in list(call.events.history):
            self.record(event)
        detach = call.events.subscribe(self.record)
        self._detach.append(detach)
        return detach

    def record(self, event: CallEvent) -> None:
        """Event-stream subscriber: journals, then writes and commits one event."""
        journal = self._journals.get(event.call_id)
        if journal is not None:
            journal.write(event)
        try:
            self._insert(event)
        finally:
            if isinstance(event, CallEnded) and journal is not None:
                self._settle_journal(event.call_id, journal)

    def kept_journal(self, call_id: str) -> Path | None:
        """The journal of a call whose events the history failed to keep (see `calls recover`)."""
        return self._kept_journals.get(call_id)

    def import_events(self, events: list[CallEvent]) -> None:
        """Write events recovered from a journal (those already stored are left as they are)."""
        for event in events:
            self._insert(event)

    def _settle_journal(self, call_id: str, journal: CallJournal) -> None:
        del self._journals[call_id]
        if self._holds(call_id, journal.written):
            journal.discard()
        else:
            journal.close()
            self._kept_journals[call_id] = journal.path

    def _holds(self, call_id: str, count: int) -> bool:
        """Is the history file still the one opened, with all `count` events of the call? A fresh
        connection reads the file as it is on disk (this one may hold pages of a truncated file)."""
        try:
            if os.stat(self.path).st_ino != self._inode:
                return False
            with closing(sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=5.0)) as fresh:
                stored = fresh.execute("SELECT COUNT(*) FROM events WHERE call_id = ?", (call_id,)).fetchone()
        except (OSError, sqlite3.Error):
            return False
        return bool(stored[0] == count)

    def _insert(self, event: CallEvent) -> None:
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
        """The latest calls first; a call whose recording process is gone shows as 'interrupted'."""
        rows = self._read(f"SELECT {_CALL_COLUMNS}, pid, process_start FROM calls "
                          "ORDER BY started_at DESC LIMIT ?", (limit,))
        return [_record(row) for row in rows]

    def get_call(self, call_id: str) -> CallRecord:
        rows = self._read(f"SELECT {_CALL_COLUMNS}, pid, process_start FROM calls WHERE id = ?", (call_id,))
        if not rows:
            raise CallNotFoundError(f"no call '{call_id}' in {self.path}")
        return _record(rows[0])

    def events(self, call_id: str) -> list[CallEvent]:
        self.get_call(call_id)
        rows = self._read("SELECT kind, call_id, seq, turn, state, at, payload FROM events "
                          "WHERE call_id = ? ORDER BY seq", (call_id,))
        return [self._event_from_row(*row) for row in rows]

    def report(self, call_id: str, *, include_phi: bool = False) -> dict[str, Any]:
        """The call's performance report, rebuilt from its events, plus its metadata under `call`."""
        record = self.get_call(call_id)
        return report_from_events(self.events(call_id), record, include_phi=include_phi)

    def verify(self) -> list[str]:
        """What is wrong with the history, in plain words; empty when it is intact."""
        found = [f"the database is damaged: {row[0]}" for row in self._read("PRAGMA integrity_check", ())
                 if row[0] != "ok"]
        if found:
            return found
        gaps = self._read("SELECT call_id, COUNT(*), MAX(seq) FROM events GROUP BY call_id "
                          "HAVING COUNT(*) != MAX(seq)", ())
        found += [f"call {call_id} has lost {top - count} of its {top} events"
                  for call_id, count, top in gaps]
        for (call_id,) in self._read("SELECT id FROM calls WHERE id NOT IN (SELECT call_id FROM events)", ()):
            found.append(f"call {call_id} has no events")
        for (call_id,) in self._read("SELECT id FROM calls", ()):
            try:
                self.events(call_id)
            except CallStoreError as error:
                found.append(str(error))
        return found

    def counts(self) -> tuple[int, int]:
        """(calls, events) in the history."""
        calls = self._read("SELECT COUNT(*) FROM calls", ())[0][0]
        events = self._read("SELECT COUNT(*) FROM events", ())[0][0]
        return int(calls), int(events)

    def _event_from_row(self, kind: str, call_id: str, seq: int, turn: int, state: str, at: float,
                        payload: str) -> CallEvent:
        try:
            return event_from_fields(kind, call_id, seq, turn, state, at, json.loads(payload))
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


def _record(row: tuple[Any, ...]) -> CallRecord:
    record = CallRecord(*row[:-2])
    pid, started = row[-2:]
    if record.status == "running" and not process_alive(pid, started):
        return replace(record, status=INTERRUPTED)
    return record


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux's /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def process_alive(pid: int | None, started: int | None) -> bool:
    """Is the process that recorded a call still running (and not another one with its pid)?"""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process has that pid now, or ours under another user
    return started is None or process_start(pid) == started


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
    have = {row[1] for row in db.execute("PRAGMA table_info(calls)")}
    for column, kind in _PROCESS_COLUMNS.items():
        if column not in have:
            db.execute(f"ALTER TABLE calls ADD COLUMN {column} {kind}")
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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def make_private(path: Path) -> None:
    """The database and its WAL and shared-memory files: mode 0600, whoever created them."""
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError):
            if stat.S_IMODE(each.stat().st_mode) != 0o600:
                each.chmod(0o600)


def _redactor_for(call: HealthcareAIPipeline) -> Redactor:
    return redactor_for(call.session_id, call.patient_data, call.precomputed.values)
