"""Argument types shared by the subcommands: each refuses bad values with a usage error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.responders import LLM_TIMEOUT_S

if TYPE_CHECKING:
    from engine.responders.factory import ResponderConfig


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
