"""`voice-console`: the console by default, plus headless subcommands.

Every engine error is printed as located one-line messages and exits 1;
no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cli
from engine.errors import EngineError, ProblemsError
from engine.logs import configure_logging, safe_line
from engine.nlu import NLU_ENV, NluMode, using_mode

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_PROBLEMS_SHOWN = 50
RAISE_UNEXPECTED = "VOICE_CONSOLE_RAISE_UNEXPECTED"  # set by the tests: an unplanned error fails them
NLU_COMMANDS = ("call", "classify", "gui", "serve", "test", "voice-call")  # the commands that classify turns

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Each `cli/cmd_*.py` module registers its subcommands with `register(sub)`."""
    parser = argparse.ArgumentParser(prog="voice-console", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        if module.name.startswith("cmd_"):
            importlib.import_module(f"cli.{module.name}").register(sub)
    for name in NLU_COMMANDS:
        sub.choices[name].add_argument(
            "--nlu", choices=[mode.value for mode in NluMode],
            help=f"intent stages: semantic (keywords, then the embedding model; the default) or keywords "
                 f"only (default: ${NLU_ENV}, else semantic)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or sys.argv[1:])])
    try:
        with using_mode(getattr(args, "nlu", None)):
            code: int = args.run(args)
        return code
    except ProblemsError as error:
        for line in problem_lines(error):
            print(safe_line(line), file=sys.stderr)
        return EXIT_FAILED
    except EngineError as error:
        print(safe_line(f"error: {error}"), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if os.environ.get(RAISE_UNEXPECTED):
            raise
        print(unexpected_error_line(error, getattr(args, "data_dir", None)), file=sys.stderr)
        return EXIT_FAILED


def problem_lines(error: ProblemsError) -> list[str]:
    """One line a problem, the first MAX_PROBLEMS_SHOWN of them, then how many more."""
    lines = [str(problem) for problem in error.problems[:MAX_PROBLEMS_SHOWN]]
    if (more := len(error.problems) - MAX_PROBLEMS_SHOWN) > 0:
        lines.append(f"... and {more:,} more problems")
    return lines


def unexpected_error_line(error: Exception, data_dir_arg: Path | str | None) -> str:
    """One line for a failure nobody planned for; the traceback goes to a private log file."""
    from engine.logs import write_crash_log
    from engine.paths import data_dir

    try:
        folder = data_dir(data_dir_arg)
    except EngineError:
        folder = None
    try:
        where = f"the details are in {write_crash_log(error, folder)}"
    except OSError:
        where = "no log file could be written"
    return f"error: an unexpected {type(error).__name__} stopped the command ({where})"


if __name__ == "__main__":
    sys.exit(main())
