"""The call history: events written as they happen, read back typed, reports rebuilt."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from engine import events as ev
from engine.calls import create_call
from engine.errors import CallNotFoundError, CallStoreError
from engine.pipeline import HealthcareAIPipeline
from engine.store import DB_NAME, CallStore

DATA = Path(__file__).resolve().parent.parent / "data"
SCHEMA, PATIENT = DATA / "minimal_schema.yaml", DATA / "minimal_patient.json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallStore]:
    with CallStore.open_default(tmp_path) as opened:
        yield opened


async def recorded_call(store: CallStore, *turns: str) -> HealthcareAIPipeline:
    call = create_call(SCHEMA, PATIENT)
    store.attach(call)
    await call.start()
    for turn in turns:
        await call.step(turn)
    if not (call.conversation.ended and await call.wait_until_ended(5)):
        await call.stop()
    return call


async def test_events_round_trip_as_typed_events(store: CallStore) -> None:
    call = await recorded_call(store, "hmm, what was that?", "yes, that is fine")

    stored = store.events(call.session_id)

    assert stored == call.events.history
    assert {type(e) for e in stored} >= {ev.CallStarted, ev.NodeEntered, ev.UserTurn, ev.BotTurn,
                                         ev.FunctionCalled, ev.Transition, ev.Latency, ev.CallEnded}
    node = next(e for e in stored if isinstance(e, ev.NodeEntered))
    assert isinstance(node.fields_used, tuple)


async def test_wal_mode_and_normal_sync(store: CallStore) -> None:
    await recorded_call(store, "yes")
    with closing(sqlite3.connect(store.path)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # checkpoints run off the loop
    assert store.path == store.path.parent / DB_NAME
    assert store.path.stat().st_mode & 0o777 == 0o600


async def test_closing_checkpoints_the_wal_into_the_database(tmp_path: Path) -> None:
    store = CallStore.open_default(tmp_path)
    call = await recorded_call(store, "yes")
    store.close()

    assert not (tmp_path / f"{DB_NAME}-wal").exists()
    with CallStore.open_default(tmp_path) as reopened:
        assert reopened.events(call.session_id) == call.events.history


async def test_rebuilt_report_equals_the_live_one(store: CallStore) -> None:
    call = await recorded_call(store, "hmm, what was that?", "yes, that is fine")
    live = call.get_performance_report()

    rebuilt = store.report(call.session_id)

    assert set(rebuilt) - set(live) == {"call"}
    assert {key: value for key, value in rebuilt.items() if key != "call"} == live
    assert rebuilt["state_transitions"] == 1 and rebuilt["stages"]["turn"]["count"] == 2
    assert rebuilt["call"]["status"] == "ended" and rebuilt["call"]["end_reason"] == "reached an ending state"


async def test_calls_table_tracks_the_call_and_hides_the_patient_in_reports(store: CallStore) -> None:
    call = await recorded_call(store, "yes")

    record = store.get_call(call.session_id)

    assert (record.schema, record.patient_id, record.responder, record.mode) == ("minimal_schema", "ann",
                                                                                 "scripted", "text")
    assert record.status == "ended" and record.ended_at >= record.started_at
    assert "patient_id" not in store.report(call.session_id)["call"]
    assert store.report(call.session_id, include_phi=True)["call"]["patient_id"] == "ann"


async def test_end_reason_is_stored_without_patient_values(store: CallStore) -> None:
    call = create_call(SCHEMA, PATIENT)
    store.attach(call)
    await call.start()
    await call.stop("Ann hung up")

    assert store.get_call(call.session_id).end_reason == "[REDACTED] hung up"
    ended = store.events(call.session_id)[-1]
    assert isinstance(ended, ev.CallEnded) and ended.reason == "Ann hung up"  # the full event is kept


async def test_attach_after_start_records_what_was_already_emitted(store: CallStore) -> None:
    call = create_call(SCHEMA, PATIENT)
    await call.start()
    store.attach(call)
    await call.step("yes")
    await call.wait_until_ended(5)

    assert [e.seq for e in store.events(call.session_id)] == [e.seq for e in call.events.history]


async def test_list_calls_latest_first(store: CallStore) -> None:
    first = await recorded_call(store, "yes")
    second = await recorded_call(store, "no thanks")

    assert [c.id for c in store.list_calls()] == [second.session_id, first.session_id]
    assert [c.id for c in store.list_calls(limit=1)] == [second.session_id]


def test_unknown_call_id_is_a_clear_error(store: CallStore) -> None:
    for read in (store.get_call, store.events, store.report):
        with pytest.raises(CallNotFoundError, match="no call 'nope'"):
            read("nope")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    path.write_text("not a database, just text " * 100)
    with pytest.raises(CallStoreError, match="cannot open the call history"):
        CallStore(path)


def test_a_history_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(CallStoreError, match="newer voice-console"):
        CallStore(path)


CHILD = r"""
import asyncio, sys
from engine.calls import create_call
from engine.logs import configure_logging
from engine.store import CallStore

configure_logging()

async def main():
    call = create_call(sys.argv[1], sys.argv[2])
    CallStore(sys.argv[3]).attach(call)
    call.events.subscribe(lambda event: print(event.seq, flush=True))  # runs after the store's write
    await call.start()
    while True:
        await call.step("hmm, what was that?")

asyncio.run(main())
"""


def stored_seqs(path: Path) -> list[int]:
    if not path.exists():
        return []
    with closing(sqlite3.connect(path, timeout=5)) as db:
        try:
            return [seq for (seq,) in db.execute("SELECT seq FROM events ORDER BY seq")]
        except sqlite3.OperationalError:  # tables not created yet
            return []


def test_kill_9_loses_no_emitted_event(tmp_path: Path) -> None:
    db_path, out_path = tmp_path / DB_NAME, tmp_path / "emitted.txt"
    with out_path.open("w") as out, (tmp_path / "stderr.txt").open("w") as err:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(SCHEMA), str(PATIENT), str(db_path)],
                                 stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while len(stored_seqs(db_path)) < 200 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, (tmp_path / "stderr.txt").read_text()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL

    emitted = [int(line) for line in out_path.read_text().split()]
    stored = stored_seqs(db_path)
    assert len(emitted) >= 200
    assert set(emitted) <= set(stored)
    assert stored == list(range(1, len(stored) + 1))  # no gaps, no torn writes
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT status FROM calls").fetchone()[0] == "running"
    with CallStore(db_path) as store:
        [record] = store.list_calls()
        assert record.status == "interrupted"  # its process is gone
        assert store.get_call(record.id).status == "interrupted"
        assert store.verify() == []
