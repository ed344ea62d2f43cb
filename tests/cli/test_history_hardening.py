"""The call history survives deletion and truncation mid-call, stays private, and can be verified."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from engine.journal import JOURNAL_DIR
from engine.store import DB_NAME

DATA = Path(__file__).resolve().parent.parent / "data"
SCHEMA, PATIENT = DATA / "minimal_schema.yaml", DATA / "minimal_patient.json"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def delete(path: Path) -> None:
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        each.unlink(missing_ok=True)


def truncate(path: Path) -> None:
    for each in (path, path.with_name(path.name + "-wal")):
        with each.open("r+b") as handle:
            handle.truncate(0)


def call_with_history_damaged(data: Path, damage: Callable[[Path], None]) -> tuple[int, str]:
    """A call whose history is damaged after its greeting; returns its exit code and stderr."""
    command = [sys.executable, "-m", "cli.main", "call", str(SCHEMA), "--patient", str(PATIENT),
               "--data-dir", str(data)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdin is not None and process.stdout is not None
    while not (line := process.stdout.readline()).startswith("bot:"):  # the greeting is recorded
        assert line, process.stderr.read() if process.stderr else ""
    damage(data / DB_NAME)
    _, stderr = process.communicate("yes that is fine\n", timeout=60)
    return process.returncode, stderr


@pytest.mark.parametrize("damage", [delete, truncate], ids=["deleted", "truncated"])
def test_a_history_damaged_mid_call_is_reported_and_recovered_from_the_journal(
        tmp_path: Path, damage: Callable[[Path], None]) -> None:
    code, stderr = call_with_history_damaged(tmp_path, damage)
    assert code == 1, stderr
    assert "lost call" in stderr and "run `voice-console calls recover`" in stderr
    [journal] = (tmp_path / JOURNAL_DIR).glob("*.jsonl")
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    call_id, lines = journal.stem, len(journal.read_text().splitlines())

    if damage is truncate:
        delete(tmp_path / DB_NAME)  # what `calls verify` would have the operator do with a wrecked file
    recovered = cli("calls", "recover", "--data-dir", str(tmp_path))
    assert recovered.stdout.startswith(f"recovered call {call_id} ({lines} events)"), recovered.stderr
    assert not journal.exists()
    with closing(sqlite3.connect(tmp_path / DB_NAME)) as db:
        assert db.execute("SELECT COUNT(*) FROM events WHERE call_id = ?", (call_id,)).fetchone()[0] == lines
        assert db.execute("SELECT status FROM calls WHERE id = ?", (call_id,)).fetchone()[0] == "ended"
    verified = cli("calls", "verify", "--data-dir", str(tmp_path))
    assert verified.returncode == 0 and verified.stdout.startswith("OK: the call history"), verified.stdout


def test_a_whole_call_leaves_no_journal_and_private_files(tmp_path: Path) -> None:
    data = tmp_path / "new" / "history"
    done = cli("call", str(SCHEMA), "--patient", str(PATIENT), "--data-dir", str(data),
               stdin="yes that is fine\n")
    assert done.returncode == 0, done.stderr
    assert list((data / JOURNAL_DIR).glob("*")) == []
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for each in data.glob(f"{DB_NAME}*"):
        assert stat.S_IMODE(each.stat().st_mode) == 0o600, each


def test_verify_reports_lost_events_in_plain_words(tmp_path: Path) -> None:
    assert cli("call", str(SCHEMA), "--patient", str(PATIENT), "--data-dir", str(tmp_path),
               stdin="yes that is fine\n").returncode == 0
    with closing(sqlite3.connect(tmp_path / DB_NAME)) as db:
        call_id, seq = db.execute("SELECT call_id, MAX(seq) FROM events").fetchone()
        db.execute("DELETE FROM events WHERE seq = 2")
        db.commit()
    verified = cli("calls", "verify", "--data-dir", str(tmp_path))
    assert verified.returncode == 1
    assert f"damaged: call {call_id} has lost 1 of its {seq} events" in verified.stdout


def test_calls_list_shows_patient_ids_only_with_include_phi(tmp_path: Path) -> None:
    assert cli("call", str(SCHEMA), "--patient", str(PATIENT), "--data-dir", str(tmp_path),
               stdin="yes that is fine\n").returncode == 0
    plain = cli("calls", "list", "--data-dir", str(tmp_path)).stdout
    with_phi = cli("calls", "list", "--include-phi", "--data-dir", str(tmp_path)).stdout
    assert "PATIENT" not in plain and " ann " not in plain
    assert "PATIENT" in with_phi and " ann " in with_phi


def test_export_to_stdout_with_a_dash(tmp_path: Path) -> None:
    assert cli("call", str(SCHEMA), "--patient", str(PATIENT), "--data-dir", str(tmp_path),
               stdin="yes that is fine\n").returncode == 0
    call_id = cli("calls", "list", "--data-dir", str(tmp_path)).stdout.splitlines()[1].split()[0]
    exported = cli("calls", "export", call_id, "--csv", "-", "--data-dir", str(tmp_path))
    assert exported.returncode == 0
    assert exported.stdout.startswith("call_id,schema,turn,state,stage,ms,")
    assert f"latency rows of call {call_id} to -" in exported.stderr
