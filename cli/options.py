"""Argument types shared by the subcommands: each refuses bad values with a usage error."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.responders import LLM_TIMEOUT_S

if TYPE_CHECKING:
    from engine.responders.factory import ResponderConfig
    from engine.schema.compiled import CompiledSchema


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text[:40]}'") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    parse.__name__ = "number"
    return parse


def bounded_seconds(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number of seconds from `low` to `high`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got '{text[:40]}'") from None
        if not low <= value <= high:  # NaN fails this too
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g} seconds, got {text[:40]}")
        return value

    parse.__name__ = "seconds"
    return parse


def add_responder_options(parser: argparse.ArgumentParser) -> None:
    """Who answers the caller: --responder, and the openai responder's server, model and timeout."""
    parser.add_argument("--responder", choices=("scripted", "openai"), default="scripted",
                        help="who answers the caller (default scripted, offline)")
    parser.add_argument("--llm-url", help="base URL of an OpenAI-compatible server (openai responder)")
    parser.add_argument("--llm-model", help="model name (openai responder)")
    parser.add_argument("--llm-timeout", type=bounded_seconds(0.5, 600), default=LLM_TIMEOUT_S,
                        metavar="SECONDS",
                        help="longest wait for one answer of the server, connecting included; a server "
                             f"that hangs is an error (default {LLM_TIMEOUT_S:g})")


def responder_config(args: argparse.Namespace) -> ResponderConfig:
    from engine.responders.factory import ResponderConfig

    return ResponderConfig(kind=args.responder, base_url=args.llm_url, model=args.llm_model,
                           timeout_s=args.llm_timeout)


def add_flow_options(parser: argparse.ArgumentParser) -> None:
    """`--handlers` and `--state`, for a plain Pipecat flow."""
    parser.add_argument("--handlers", type=Path, metavar="FILE.py",
                        help="a Pipecat flow's handlers module (importing it runs its code)")
    parser.add_argument("--state", type=Path, metavar="FILE.json",
                        help="a Pipecat flow's initial flow_manager.state (fills its {{ }} placeholders)")


def announce_import(path: Path) -> None:
    print(f"importing the handlers module {path} (this runs its code)", file=sys.stderr, flush=True)


def load_with_flow_options(schema: Path, args: argparse.Namespace) -> CompiledSchema:
    """The schema, or the plain flow with the `--handlers` and `--state` the command was given."""
    from engine.schema.compiled import load_schema

    state_file, state = getattr(args, "state", None), None
    if state_file is not None:
        from engine.interop.handlers import load_state  # imports Pipecat Flows: only for a flow

        state = load_state(state_file)
    handlers = getattr(args, "handlers", None)
    return load_schema(schema, handlers=handlers, state=state, announce=announce_import)


def parse_function_call(text: str) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """`NAME {json args} [{json result}]` (the arguments may be left out): the operator's function call."""
    name, _, rest = text.strip().partition(" ")
    if not name:
        raise ValueError("expected NAME {json arguments} [{json result}]")
    objects: list[Any] = []
    decoder = json.JSONDecoder()
    rest = rest.strip()
    while rest:
        try:
            value, end = decoder.raw_decode(rest)
        except RecursionError as error:
            raise ValueError("the JSON is nested too deeply") from error
        if not isinstance(value, dict):
            raise ValueError("the arguments and the result must be JSON objects")
        objects.append(value)
        rest = rest[end:].strip()
    if len(objects) > 2:
        raise ValueError("expected at most two JSON objects: the arguments, then the result")
    return name, objects[0] if objects else {}, objects[1] if len(objects) == 2 else None
