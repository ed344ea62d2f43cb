"""`calls`: the call history: list, report, export, verify and recover."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli.cmd_calls import add_data_dir, note, out
from cli.options import bounded_int
from engine.errors import CallNotFoundError

if TYPE_CHECKING:
    from engine.store import CallRecord, CallStore

MAX_LIST_LIMIT = 100_000


def add_calls(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("calls", help="the call history: list, report, export, verify, recover")
    actions = parser.add_subparsers(dest="calls_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the latest calls")
    listing.add_argument("--limit", type=bounded_int(1, MAX_LIST_LIMIT), default=50)
    listing.add_argument("--include-phi", action="store_true", help="show each call's patient id")
    report = actions.add_parser("report", help="a call's performance report as JSON")
    report.add_argument("id")
    report.add_argument("--include-phi", action="store_true", help="include the patient id")
    export = actions.add_parser("export", help="a call's latency samples as CSV")
    export.add_argument("id")
    export.add_argument("--csv", type=Path, required=True, metavar="OUT", help="CSV file, or - for stdout")
    export.add_argument("--include-phi", action="store_true",
                        help="add the patient id and the words said in each turn")
    verify = actions.add_parser("verify", help="check the call history for damage")
    recover = actions.add_parser("recover", help="import the journals of calls the history lost")
    for action, run in ((listing, run_list), (report, run_report), (export, run_export),
                        (verify, run_verify), (recover, run_recover)):
        add_data_dir(action)
        action.set_defaults(run=run)


def run_list(args: argparse.Namespace) -> int:
    from engine.store import CallStore

    path = history_path(args)
    calls = []
    if path.exists():
        with CallStore(path) as store:
            calls = store.list_calls(args.limit)
    if not calls:
        out(f"no calls recorded in {path}")
        return 0
    patient = f"{'PATIENT':<24}" if args.include_phi else ""
    out(f"{'ID':<14}{'STARTED':<21}{'SECONDS':>9}  {'STATUS':<12}{'SCHEMA':<26}{patient}REASON")
    for record in calls:
        out(_list_line(record, include_phi=args.include_phi))
    return 0


def _list_line(record: CallRecord, *, include_phi: bool) -> str:
    started = datetime.fromtimestamp(record.started_at).strftime("%Y-%m-%d %H:%M:%S")
    seconds = f"{record.ended_at - record.started_at:.1f}" if record.ended_at else "-"
    patient = f"{record.patient_id:<24}" if include_phi else ""
    return (f"{record.id:<14}{started:<21}{seconds:>9}  {record.status:<12}{record.schema:<26}"
            f"{patient}{record.end_reason}")


def run_report(args: argparse.Namespace) -> int:
    with open_existing_history(args) as store:
        report = store.report(args.id, include_phi=args.include_phi)
    out(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from engine.export import write_latency_csv

    with open_existing_history(args) as store:
        record = store.get_call(args.id)
        events = store.events(args.id)
    rows = write_latency_csv(args.csv, events, schema=record.schema, include_phi=args.include_phi)
    note(args.csv, f"wrote {rows} latency rows of call {args.id} to {args.csv}")
    return 0


def history_path(args: argparse.Namespace) -> Path:
    from engine.paths import data_dir
    from engine.store import DB_NAME

    return data_dir(args.data_dir) / DB_NAME


def open_existing_history(args: argparse.Namespace) -> CallStore:
    """Reading a call must not create an empty history (e.g. in a mistyped --data-dir)."""
    from engine.store import CallStore

    path = history_path(args)
    if not path.exists():
        raise CallNotFoundError(f"no call '{args.id}' in {path}")
    return CallStore(path)


def run_verify(args: argparse.Namespace) -> int:
    from engine.store import CallStore

    path = history_path(args)
    if not path.exists():
        out(f"no call history in {path}")
        return 0
    with CallStore(path) as store:
        problems = store.verify()
        calls, events = store.counts()
    for problem in problems:
        out(f"damaged: {problem}")
    if problems:
        out(f"the call history {path} is damaged ({len(problems)} problems); `calls report` may miss events")
        return 1
    out(f"OK: the call history {path} is intact ({calls} calls, {events} events)")
    return 0


def run_recover(args: argparse.Namespace) -> int:
    from engine.journal import journals, read_journal
    from engine.paths import data_dir
    from engine.store import CallStore

    found = journals(data_dir(args.data_dir))
    if not found:
        out("no call journals to recover")
        return 0
    with CallStore(history_path(args)) as store:
        for journal in found:
            events = read_journal(journal)
            store.import_events(events)
            journal.unlink()
            out(f"recovered call {journal.stem} ({len(events)} events) into {store.path}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_calls(sub)
