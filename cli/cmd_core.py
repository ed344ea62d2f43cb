"""Subcommands. Each `add_*` registers one on the parser and binds its `run`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.options import add_flow_options, load_with_flow_options
from engine.errors import EngineError
from engine.paths import DEFAULT_SCHEMA, default_patient_for


def add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("validate", help="check a schema (and optionally a patient file)")
    parser.add_argument("schema", type=Path)
    parser.add_argument("--patient", type=Path, action="append", default=[],
                        help="a patient JSON file to check against the schema's data contract")
    add_flow_options(parser)
    parser.set_defaults(run=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from engine.patients import load_patient

    compiled = load_with_flow_options(args.schema, args)
    schema = compiled.schema
    kind = "Pipecat flow: " if compiled.is_flow else ""
    print(f"OK: {kind}{len(schema.nodes)} nodes, {len(compiled.edges())} transitions, "
          f"{len(schema.data)} variables")
    for path in args.patient:
        load_patient(path).validated(compiled)
        print(f"OK: {path} meets the data contract")
    return 0


def add_render(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("render", help="print the rendered prompts and scripted lines")
    parser.add_argument("schema", type=Path, nargs="?", default=DEFAULT_SCHEMA)
    parser.add_argument("--patient", type=Path, help="patient JSON file (default: the schema's first)")
    parser.add_argument("--node", action="append", default=[], help="only this node (repeatable)")
    add_flow_options(parser)
    parser.set_defaults(run=run_render)


def run_render(args: argparse.Namespace) -> int:
    from cli.render import render_schema

    print(render_schema(load_with_flow_options(args.schema, args), args.patient, args.node), end="")
    return 0


def add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bench", help="measure the engine's hot paths against baselines")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (for smoke tests)")
    parser.add_argument("--no-voice", action="store_true",
                        help="skip the spoken turns through virtual audio devices (about a minute)")
    parser.add_argument("--no-gui", action="store_true", help="skip the console's event-loop lag")
    parser.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from bench.core import run_benchmarks

    sections = [("nlu", lambda: _nlu_bench(1 if args.quick else 3))]
    if not args.no_voice:
        sections.append(("voice", lambda: _voice_bench(3 if args.quick else 30)))
    if not args.no_gui:
        sections.append(("gui", lambda: _gui_bench(3.0 if args.quick else 10.0)))
    return run_benchmarks(json_output=args.json, quick=args.quick, sections=sections)


def _voice_bench(turns: int) -> dict[str, Any]:
    from bench.voice import bench_voice

    return bench_voice(turns=turns)


def _nlu_bench(repeat: int) -> dict[str, Any]:
    from bench.nlu import bench_nlu

    return bench_nlu(repeat)


def _gui_bench(seconds: float) -> dict[str, Any]:
    from bench.console_lag import run_event_loop_bench

    return run_event_loop_bench(seconds)


def add_gui(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("gui", help="open the operator console (the default)")
    parser.add_argument("schema", type=Path, nargs="?", default=DEFAULT_SCHEMA)
    parser.add_argument("--patient", type=Path)
    add_flow_options(parser)
    parser.set_defaults(run=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    try:
        from console.app import run_console
    except ImportError as error:
        raise EngineError(f"the console cannot start: {error} (./run.sh installs what it needs; "
                          "`voice-console render` and the other commands work without it)") from error
    return run_console(*gui_files(args))


def gui_files(args: argparse.Namespace) -> tuple[Path, Path | None, Path | None, Path | None]:
    """The schema, patient, handlers module and state file the console opens with; the console imports
    the handlers module only after the operator agrees in its confirmation dialog."""
    return args.schema, args.patient or default_patient_for(args.schema.stem), args.handlers, args.state


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for add in (add_gui, add_validate, add_render, add_bench):
        add(sub)
