"""`voice-console serve`: the HTTP API over live calls (loopback only, unless asked otherwise)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from cli.options import bounded_int

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="serve the HTTP API for starting and driving calls")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to bind (default {DEFAULT_HOST}; others expose patient data)")
    parser.add_argument("--port", type=bounded_int(0, 65535), default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--responder", choices=("scripted", "openai"), default="scripted",
                        help="who answers the caller (default scripted, offline)")
    parser.add_argument("--llm-url", help="base URL of an OpenAI-compatible server (openai responder)")
    parser.add_argument("--llm-model", help="model name (openai responder)")
    parser.add_argument("--data-dir", type=Path, help="where call history is kept")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.api import create_app
    from engine.logs import configure_logging
    from engine.paths import SCHEMAS_DIR
    from engine.patients import JsonFolderPatientStore
    from engine.responders.factory import ResponderConfig
    from engine.store import CallStore

    if not is_loopback(args.host):
        print(f"warning: serving on {args.host}, beyond this machine; the API returns patient data "
              "and has no authentication", file=sys.stderr)
    configure_logging("INFO")
    responder = ResponderConfig(kind=args.responder, base_url=args.llm_url, model=args.llm_model)
    with CallStore.open_default(args.data_dir) as store:
        app = create_app(patients=JsonFolderPatientStore(), schemas_dir=SCHEMAS_DIR, store=store,
                         responder=responder)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

