"""The engine reads "now" only through its clock, and the suite can run at any date."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from engine.calls import create_call
from engine.clock import fixed_clock
from engine.events import EventStream
from engine.export import latency_rows
from engine.store import CallStore
from engine.testing import junit_element
from engine.testing.runner import CaseResult, ScriptResult
from tests.support.clock import CLOCK_MOMENT_ENV, moment_of, subprocess_environment
from tests.support.phi import leaked_values

DATA = Path(__file__).resolve().parent / "data"
MOMENT = datetime(2031, 7, 4, 16, 5, 9, 250_000, tzinfo=UTC)


async def test_every_moment_of_a_call_comes_from_its_clock(tmp_path: Path) -> None:
    call = create_call(DATA / "minimal_schema.yaml", DATA / "minimal_patient.json",
                       events=EventStream(clock=fixed_clock(MOMENT)))
    with CallStore(tmp_path / "calls.db") as store:
        store.attach(call)
        await call.start()
        await call.step("yes, that is fine")
        await call.wait_until_ended(5)
        [record] = store.list_calls()
        stored_events = store.events(call.session_id)

    assert {event.at for event in call.events.history} == {MOMENT.timestamp()}
    assert {event.at for event in stored_events} == {MOMENT.timestamp()}
    assert record.started_at == MOMENT.timestamp()
    rows = latency_rows(call.events.history, schema=call.schema_name)
    assert rows and {row["timestamp"] for row in rows} == {"2031-07-04T16:05:09.250Z"}


def test_junit_timestamp_comes_from_the_clock() -> None:
    case = CaseResult(schema="s", case="c", passed=True, ms=1.0, visited=("a",))
    result = ScriptResult(path=Path("s.test.yaml"), schema="s", cases=(case,), ms=1.0)
    root = junit_element([result], fixed_clock(MOMENT))

    [suite] = root.findall("testsuite")
    local = datetime.fromtimestamp(MOMENT.timestamp()).isoformat(timespec="seconds")
    assert suite.get("timestamp") == local


def test_cli_subprocesses_travel_with_the_tests() -> None:
    environment = os.environ | subprocess_environment(moment_of("2030-02-28"))
    printed = subprocess.run([sys.executable, "-c", "import datetime; print(datetime.date.today())"],
                             capture_output=True, text=True, check=True, timeout=60, env=environment).stdout
    assert printed.strip() == "2030-02-28"


def test_the_run_is_at_the_date_it_was_given(clock_date: date | None) -> None:
    if clock_date is None:
        assert CLOCK_MOMENT_ENV not in os.environ
    else:
        assert date.today() == clock_date
        assert datetime.fromisoformat(os.environ[CLOCK_MOMENT_ENV]).date() == clock_date


def test_leak_check_reads_values_and_skips_time_fields() -> None:
    rows = [{"timestamp": "2026-12-01T09:30:00.000Z", "stage": "turn", "bot_text": "see you"}]
    assert leaked_values(rows, ["2026-12-01"]) == []
    rows[0]["bot_text"] = "See you on 2026-12-01, ANN"
    found = leaked_values(rows, ["2026-12-01", "ann"])
    assert found == [("[0].bot_text", "2026-12-01"), ("[0].bot_text", "ann")]
    assert leaked_values({"calls": [{"name": "Ann"}]}, ["ann"]) == [("calls[0].name", "ann")]
