"""`voice-console export-flow SCHEMA -o DIR`: the schema as a flow stock Pipecat runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "export-flow", help="write a schema as Pipecat's flow.yaml + handlers.py (stock Pipecat runs it)")
    parser.add_argument("schema", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="folder to write flow.yaml, handlers.py and README.md into (created if missing)")
    parser.set_defaults(run=run_export_flow)


def run_export_flow(args: argparse.Namespace) -> int:
    from engine.interop.flow_out import export_flow
    from engine.schema.compiled import load_schema

    if args.output.exists() and not args.output.is_dir():
        print(f"error: {args.output}: not a folder", file=sys.stderr)
        return 2
    written = export_flow(load_schema(args.schema), args.output)
    for path in written:
        print(f"wrote {path}")
    return 0
