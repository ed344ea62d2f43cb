"""`voice-console serve`: the HTTP API over live calls (loopback only, unless asked otherwise)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli.options import add_responder_options, bounded_int, responder_config

if TYPE_CHECKING:
    from engine.api import ApiLimits

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
TOKEN_FILE = "api-token"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="serve the HTTP API for starting and driving calls")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to bind (default {DEFAULT_HOST}; others expose patient data)")
    parser.add_argument("--port", type=bounded_int(0, 65535), default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT})")
    add_responder_options(parser)
    parser.add_argument("--data-dir", type=Path, help="where call history is kept")
    parser.add_argument("--token", help="bearer token the API requires (beyond loopback: default, one "
                                        f"generated in the data folder's {TOKEN_FILE})")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.api import create_app
    from engine.logs import configure_logging
    from engine.paths import SCHEMAS_DIR, data_dir
    from engine.patients import JsonFolderPatientStore
    from engine.store import CallStore

    limits = api_limits(args.host, args.token, data_dir(args.data_dir))
    configure_logging("INFO")
    responder = responder_config(args)
    with CallStore.open_default(args.data_dir) as store:
        app = create_app(patients=JsonFolderPatientStore(), schemas_dir=SCHEMAS_DIR, store=store,
                         responder=responder, limits=limits)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def api_limits(host: str, token: str | None, folder: Path) -> ApiLimits:
    """Loopback: loopback host names, no token unless given. Elsewhere: the bound name too, and a token."""
    from engine.api import ApiLimits
    from engine.api_guard import LOOPBACK_HOSTS

    if is_loopback(host):
        return ApiLimits(token=token)
    token = token or _stored_token(folder / TOKEN_FILE)
    print(f"warning: serving on {host}, beyond this machine; the API returns patient data. Requests "
          f"need 'Authorization: Bearer TOKEN' (the token is in {folder / TOKEN_FILE} unless --token)",
          file=sys.stderr)
    return ApiLimits(allowed_hosts=LOOPBACK_HOSTS | {host.lower()}, token=token)


def _stored_token(path: Path) -> str:
    """The token kept in `path` (mode 0600), made on first use."""
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

