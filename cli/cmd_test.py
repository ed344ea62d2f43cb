"""`test`: run schema test scripts through the real pipeline; print results and coverage.

Exit 0 when every case passes (and coverage meets `--coverage-min`), 1 on a failing case,
a malformed script or low coverage, 2 on a usage error (nothing to run, bad option).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli.options import add_flow_options, add_responder_options, announce_import, responder_config
from engine.errors import Problem, ProblemsError
from engine.paths import SCHEMAS_DIR

if TYPE_CHECKING:
    from engine.responders.factory import ResponderConfig
    from engine.testing import CaseResult, ScriptResult, TestScript

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("test", help="run schema test scripts (schemas/tests/*.test.yaml)")
    parser.add_argument("paths", nargs="*", type=Path, metavar="SCHEMA_OR_DIR",
                        help="a schema (runs schemas/tests/NAME.test.yaml), a .test.yaml script, "
                             "or a folder of scripts (default: the bundled schemas/)")
    parser.add_argument("--case", action="append", default=None, metavar="NAME",
                        help="run only the case(s) with this name (repeatable)")
    add_responder_options(parser)
    parser.add_argument("--junit", type=Path, metavar="OUT.xml", help="also write the results as JUnit XML")
    parser.add_argument("--jobs", type=positive, default=1, metavar="N",
                        help="run up to N cases of each script at once, and the scripts side by side "
                             "(default 1: latency bounds are measured on one shared event loop)")
    parser.add_argument("--no-budgets", dest="budgets", action="store_false",
                        help="leave out the steps' within_ms latency budgets: check behaviour only "
                             "(on a loaded or slow machine, where budgets measure the machine)")
    parser.add_argument("--coverage-min", type=percent, metavar="N",
                        help="fail unless each schema's states and transitions are at least N%% covered")
    add_flow_options(parser)
    parser.set_defaults(run=run_test)


def percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage from 0 to 100, got '{text}'") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage from 0 to 100, got '{text}'")
    return value


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'")
    return int(text)


def run_test(args: argparse.Namespace) -> int:
    from engine.testing import discover_scripts

    try:
        paths = discover_scripts([_resolve(p) for p in args.paths] or [SCHEMAS_DIR])
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    responder = responder_config(args)
    if (usage := _responder_problem(responder)) is not None:
        print(f"error: {usage}", file=sys.stderr)
        return EXIT_USAGE
    scripts, problems = _load_all(paths, args.handlers, args.state)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_FAILED
    if unknown := _unknown_cases(args.case, scripts):
        names = ", ".join(map(repr, unknown))
        print(f"error: no case named {names} in {len(scripts)} script(s)", file=sys.stderr)
        return EXIT_USAGE
    # Everything loaded so far lives as long as the process: keep the collector from rescanning it,
    # so that a full collection (~100 ms) does not land inside a step's `within_ms` window.
    gc.collect()
    gc.freeze()
    return asyncio.run(_run_all(scripts, responder, args))


def _resolve(path: Path) -> Path:
    """A path as given, or the name of a bundled schema (`appointment_reminder`)."""
    bundled = SCHEMAS_DIR / f"{path}.yaml"
    return bundled if not path.exists() and bundled.is_file() else path


def _responder_problem(config: ResponderConfig) -> str | None:
    resolved = config.resolved()
    if resolved.kind == "openai" and not resolved.base_url and resolved.api_key == "not-needed":
        return "the openai responder needs --llm-url (or VOICE_CONSOLE_LLM_URL) or OPENAI_API_KEY"
    return None


def _unknown_cases(wanted: list[str] | None, scripts: list[TestScript]) -> list[str]:
    known = {case.name for script in scripts for case in script.cases}
    return [name for name in wanted or [] if name not in known]


def _load_all(paths: list[Path], handlers: Path | None = None,
              state: Path | None = None) -> tuple[list[TestScript], list[Problem]]:
    """The scripts (a plain flow's with `handlers` and `state` when given), and every problem of every
    malformed one."""
    from engine.testing import load_test_script

    scripts: list[TestScript] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            scripts.append(load_test_script(path, handlers=handlers, state=state, announce=announce_import))
        except ProblemsError as error:
            problems += error.problems
    return scripts, problems


async def _run_all(scripts: list[TestScript], responder: ResponderConfig, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.jobs == 1:
        results = [await _run_streaming(script, responder, args.case, args.budgets) for script in scripts]
    else:
        results = await _run_side_by_side(scripts, responder, args.case, args.jobs, args.budgets)
    seconds = time.perf_counter() - started
    low = _print_coverage(scripts, results, args.coverage_min)
    cases = [case for result in results for case in result.cases]
    failed = sum(1 for case in cases if not case.passed)
    out(f"{len(cases)} cases: {len(cases) - failed} passed, {failed} failed in {seconds:.2f} s")
    if args.junit and not _write_junit(args.junit, results):
        return EXIT_FAILED
    if low:
        out(f"coverage below {args.coverage_min:g}%: {', '.join(low)}")
    return EXIT_FAILED if failed or low else EXIT_OK


async def _run_streaming(script: TestScript, responder: ResponderConfig,
                         cases: list[str] | None, budgets: bool) -> ScriptResult:
    """One script, one case at a time, printing each case as it ends."""
    from engine.testing import run_script

    _print_header(script)
    width = _width(script)
    return await run_script(script, responder=responder, cases=cases, budgets=budgets,
                            on_result=lambda case: _print_case(case, width))


async def _run_side_by_side(scripts: list[TestScript], responder: ResponderConfig, cases: list[str] | None,
                            jobs: int, budgets: bool) -> list[ScriptResult]:
    """All scripts at once, `jobs` cases each; each script's block is printed, in order, when it is done."""
    from engine.testing import run_script

    tasks = [asyncio.ensure_future(run_script(script, responder=responder, cases=cases, concurrency=jobs,
                                              budgets=budgets))
             for script in scripts]
    results: list[ScriptResult] = []
    for script, task in zip(scripts, tasks, strict=True):
        results.append(await task)
        _print_header(script)
        for case in results[-1].cases:
            _print_case(case, _width(script))
    return results


def _print_header(script: TestScript) -> None:
    out(f"{script.schema_name} ({_shown(script.path)})")


def _width(script: TestScript) -> int:
    return max((len(case.name) for case in script.cases), default=0)


def _write_junit(path: Path, results: list[ScriptResult]) -> bool:
    from engine.testing import write_junit

    try:
        write_junit(path, results)
    except OSError as error:
        print(f"error: cannot write {path}: {error.strerror}", file=sys.stderr)
        return False
    out(f"junit: {path}")
    return True


def _print_case(case: CaseResult, width: int) -> None:
    verdict = "PASS" if case.passed else "FAIL"
    out(f"  {verdict}  {case.case:<{width}}  {case.ms:8.1f} ms")
    if not case.passed:
        for line in case.detail.splitlines():
            out(f"        {line}")


def _print_coverage(scripts: list[TestScript], results: list[ScriptResult],
                    minimum: float | None) -> list[str]:
    """The coverage table; returns the schemas below `minimum`."""
    from engine.testing import coverage, edge_text

    schemas = {script.schema_name: script.schema for script in scripts}
    cases = [case for result in results for case in result.cases]
    width = max([len("schema"), *map(len, schemas)])
    out("")
    out(f"{'schema':<{width}}  {'states':>14}  {'transitions':>14}")
    low: list[str] = []
    details: list[str] = []
    for name, compiled in schemas.items():
        cov = coverage(compiled, cases)
        out(f"{name:<{width}}  {_ratio(len(cov.visited), len(cov.states), cov.state_percent):>14}  "
            f"{_ratio(len(cov.taken), len(cov.edges), cov.edge_percent):>14}")
        if cov.unreached_states:
            details.append(f"  {name}: states never reached: {', '.join(cov.unreached_states)}")
        details += [f"  {name}: transition never taken: {edge_text(e)}" for e in cov.untaken_edges]
        if minimum is not None and min(cov.state_percent, cov.edge_percent) < minimum:
            low.append(name)
    for line in details:
        out(line)
    out("")
    return low


def _ratio(part: int, whole: int, percent_value: float) -> str:
    return f"{part}/{whole} {percent_value:5.1f}%"


def _shown(path: Path) -> str:
    """Relative to the working folder when the path is inside it, else absolute."""
    resolved = path.resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else str(resolved)


def out(line: str) -> None:
    """Print to stdout; once stdout is closed (`| head`), drop the rest quietly."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
