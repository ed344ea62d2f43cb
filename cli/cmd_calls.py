"""`call`: a headless text call, recorded in the call history; `calls`: list, report and export them.

The transcript printed by `call` holds patient data (it is the operator's own
terminal); the `--report` and `--csv` files hold none unless `--include-phi`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cli.options import (
    add_flow_options,
    add_responder_options,
    load_with_flow_options,
    parse_function_call,
    responder_config,
)
from engine import driving
from engine import events as ev
from engine.errors import (
    CallLifecycleError,
    EngineError,
    Problem,
    TurnScriptError,
    UnknownFunctionError,
    UnknownStateError,
)
from engine.logs import REDACTOR, printable, redactor_for, safe_line
from engine.paths import SCHEMAS_DIR, default_patient_for

if TYPE_CHECKING:
    from engine.pipeline import HealthcareAIPipeline
    from engine.store import CallStore

BENIGN_ERROR_SOURCES = {"input", "force", "function"}  # a typo by the operator, not a failure of the call


@dataclass(frozen=True, slots=True)
class Action:
    """One thing to do to the call: a caller turn, a forced transition, or quit."""

    kind: Literal["say", "force", "call", "quit"]
    value: str = ""  # the words said, the state forced, or the function called
    arguments: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None  # stands in for a function without a handler


# ----- `call` ---------------------------------------------------------------------------------


def add_schema_and_patient(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("schema", type=Path, help="schema YAML file, or a bundled schema's name")
    parser.add_argument("--patient", type=Path,
                        help="patient JSON file (default: the schema's first bundled patient)")


def add_call(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("call", help="run a headless text call and record it in the call history")
    add_schema_and_patient(parser)
    parser.add_argument("--script", type=Path, metavar="TURNS",
                        help="caller turns, one a line ('#' comments, '!force STATE', "
                             "'!call NAME {json args} [{json result}]'); default: read stdin")
    add_flow_options(parser)
    add_responder_options(parser)
    parser.add_argument("--report", type=Path, metavar="OUT.json",
                        help="write the performance report (- for stdout)")
    parser.add_argument("--csv", type=Path, metavar="OUT.csv",
                        help="write the latency samples (- for stdout)")
    parser.add_argument("--include-phi", action="store_true",
                        help="let --report and --csv include patient values and the words said")
    parser.add_argument("--force-at", type=parse_force_at, action="append", default=[], metavar="N:STATE",
                        help="force STATE after caller turn N (0: before the first); repeatable")
    add_data_dir(parser)
    parser.set_defaults(run=run_call)


def parse_force_at(text: str) -> tuple[int, str]:
    turn, _, state = text.partition(":")
    if not turn.strip().isdigit() or not state.strip():
        raise argparse.ArgumentTypeError(f"expected N:STATE (e.g. 2:confirm), got '{text}'")
    return int(turn), state.strip()


def run_call(args: argparse.Namespace) -> int:
    return asyncio.run(_run_call(args))


async def _run_call(args: argparse.Namespace) -> int:
    from engine.calls import call_for_record, create_call
    from engine.export import refuse_special_target
    from engine.store import CallStore

    for target in (args.report, args.csv):  # refused now, not after the call
        if target is not None and str(target) != "-":
            refuse_special_target(Path(target))
    compiled = load_with_flow_options(resolve_schema(args.schema), args)
    script = read_turn_script(args.script, compiled.schema.nodes) if args.script else None
    forces = forces_by_turn(args.force_at, compiled.schema.nodes)
    responder = responder_config(args)
    if compiled.is_flow:  # a plain Pipecat flow has no data contract: no patient
        call = call_for_record(compiled, {}, "", responder=responder)
    else:
        _, patient = schema_and_patient(args.schema, args.patient)
        call = create_call(compiled, patient, responder=responder)
    with CallStore.open_default(args.data_dir) as store:
        store.attach(call)
        call.events.subscribe(Transcript(echo_caller=script is not None or not sys.stdin.isatty(),
                                         show_functions=compiled.is_flow))
        end_reason = "interrupted"
        try:
            await driving.start_call(call)
            turns = ScriptTurns(script) if script is not None else TerminalTurns(call)
            taken = await play(call, turns, forces)
            end_reason = "the operator quit" if turns.quit else "the caller turns ran out"
        finally:
            await driving.finish(call, end_reason)
        _warn_unapplied(forces, taken)
        if (journal := store.kept_journal(call.session_id)) is not None:
            print(f"error: the call history {store.path} lost call {call.session_id} (deleted or damaged "
                  f"during the call); its events are kept in {journal}: run `voice-console calls recover`",
                  file=sys.stderr)
            return 1
        _write_outputs(store, call, args)
        _print_summary(store, call)
    return _exit_code(call)


def resolve_schema(schema: Path) -> Path:
    """A schema file, or the name of a bundled one (`appointment_reminder`)."""
    bundled = SCHEMAS_DIR / f"{schema}.yaml"
    return bundled if not schema.exists() and bundled.exists() else schema


def schema_and_patient(schema_arg: Path, patient_arg: Path | None) -> tuple[Path, Path]:
    """The schema file and the patient file: `--patient`, else the schema's first bundled patient."""
    schema = resolve_schema(schema_arg)
    patient = patient_arg or default_patient_for(schema.stem)
    if patient is None:
        raise EngineError(f"no --patient given and none bundled for schema '{schema.stem}'")
    return schema, patient


def read_turn_script(path: Path, states: Collection[str]) -> list[Action]:
    """Caller turns, one a line; blank lines and '#' comments skipped; '!force STATE' forces;
    '!call NAME {json args} [{json result}]' calls a function as the LLM would."""
    from engine.files import RECORD_MAX_BYTES, InputFileError, read_bounded_bytes

    try:
        lines = read_bounded_bytes(path, RECORD_MAX_BYTES).decode("utf-8").splitlines()
    except (InputFileError, UnicodeDecodeError) as error:
        raise TurnScriptError([Problem(str(path), 0, 0, "", f"cannot read the turns: {error}")]) from error
    actions: list[Action] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "!call":
            try:
                actions.append(function_call_action(line.strip().removeprefix("!call")))
            except ValueError as error:
                problems.append(Problem(str(path), number, 1, "", f"!call: {error}"))
        elif words[0] != "!force":
            actions.append(Action("say", " ".join(words)))
        elif len(words) == 2 and words[1] in states:
            actions.append(Action("force", words[1]))
        else:
            problems.append(Problem(str(path), number, 1, "", _bad_force(words[1:], states)))
    if problems:
        raise TurnScriptError(problems)
    return actions


def function_call_action(text: str) -> Action:
    """`NAME {json args} [{json result}]` as a call action (ValueError when it is not one)."""
    name, arguments, result = parse_function_call(text)
    return Action("call", name, arguments, result)


def _bad_force(words: list[str], states: Collection[str]) -> str:
    if len(words) != 1:
        return "expected '!force STATE'"
    return f"unknown state '{words[0]}' (states: {', '.join(states)})"


def forces_by_turn(force_at: list[tuple[int, str]], states: Collection[str]) -> dict[int, list[str]]:
    forces: dict[int, list[str]] = {}
    for turn, state in force_at:
        if state not in states:
            raise UnknownStateError(f"--force-at {turn}:{state}: unknown state (states: {', '.join(states)})")
        forces.setdefault(turn, []).append(state)
    return forces


# ----- where the caller turns come from -------------------------------------------------------


class ScriptTurns:
    source = "script"

    def __init__(self, actions: list[Action]) -> None:
        self._actions = iter(actions)
        self.quit = False

    async def next(self) -> Action | None:
        return next(self._actions, None)


class TerminalTurns:
    """Lines from stdin ('/force STATE', '/quit'); EOF or the end of the call ends them.

    A daemon thread reads the raw file descriptor, so a pending read never holds up the exit.
    """

    source = "typed"

    def __init__(self, call: HealthcareAIPipeline) -> None:
        self._call = call
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.quit = False
        if sys.stdin.isatty():
            print("Type the caller's turns; '/force STATE' forces a transition; '/call NAME {json args} "
                  "[{json result}]' calls a function as the LLM; '/quit' or Ctrl-D ends.", file=sys.stderr)
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._pump, args=(loop, sys.stdin.fileno()), daemon=True,
                         name="caller-turns").start()

    async def next(self) -> Action | None:
        while (line := await self._next_line()) is not None:
            if (action := self._parse(line)) is not None:
                self.quit = action.kind == "quit"
                return action
        return None

    def _parse(self, line: str) -> Action | None:
        words = line.split()
        if not words:
            return None
        if words[0] == "/quit":
            return Action("quit")
        if words[0] == "/force" and len(words) == 2:
            return Action("force", words[1])
        if words[0] == "/call":
            try:
                return function_call_action(line.strip().removeprefix("/call"))
            except ValueError as error:
                print(f"/call: {error}", file=sys.stderr)
                return None
        if words[0].startswith("/"):
            print("commands: '/force STATE', '/call NAME {json args} [{json result}]', '/quit'",
                  file=sys.stderr)
            return None
        return Action("say", " ".join(words))

    async def _next_line(self) -> str | None:
        line = asyncio.ensure_future(self._lines.get())
        ended = asyncio.ensure_future(self._call.wait_until_ended())
        done, pending = await asyncio.wait({line, ended}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return line.result() if line in done else None

    def _pump(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        pending = b""
        try:
            while chunk := os.read(fd, 4096):
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    if not self._put(loop, raw.decode("utf-8", "replace")):
                        return
        except OSError:
            pass  # stdin closed under us: same as EOF
        if pending:
            self._put(loop, pending.decode("utf-8", "replace"))
        self._put(loop, None)

    def _put(self, loop: asyncio.AbstractEventLoop, line: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(self._lines.put_nowait, line)
        except RuntimeError:  # the loop has closed: the command is over
            return False
        return True


# ----- playing the call -----------------------------------------------------------------------


async def play(call: HealthcareAIPipeline, turns: ScriptTurns | TerminalTurns,
               forces: dict[int, list[str]]) -> int:
    """Feed the turns (and the --force-at moves) to the call; returns the caller turns taken."""
    taken = 0
    try:
        await _force_all(call, forces.pop(0, []))
        while not driving.over(call) and (action := await turns.next()) is not None and action.kind != "quit":
            if action.kind == "force":
                await _force_all(call, [action.value])
                continue
            if action.kind == "call":
                with contextlib.suppress(UnknownFunctionError):  # the call emitted the error
                    await driving.call_function(call, action.value, action.arguments, action.result)
                continue
            await driving.take_turn(call, action.value, source=turns.source)
            taken += 1
            await _force_all(call, forces.pop(taken, []))
    except CallLifecycleError:
        pass  # the call ended while a turn was on its way
    return taken


async def _force_all(call: HealthcareAIPipeline, states: list[str]) -> None:
    for state in states:
        if driving.over(call):
            return
        with contextlib.suppress(UnknownStateError):  # the call emitted the error; the transcript shows it
            await driving.force(call, state)


def _exit_code(call: HealthcareAIPipeline) -> int:
    from engine.lifecycle import CallStatus

    errors = [e.message for e in call.events.history if isinstance(e, ev.CallError)
              and (e.fatal or e.source not in BENIGN_ERROR_SOURCES)]
    if call.status is CallStatus.FAILED:
        errors.insert(0, call.end_reason)
    if errors:
        redactor = redactor_for(call.session_id, call.patient_data, call.precomputed.values)
        print(safe_line(f"error: call {call.session_id} failed: {errors[0]}", redactor), file=sys.stderr)
        return 1
    return 0


def _warn_unapplied(forces: dict[int, list[str]], taken: int) -> None:
    for turn, states in sorted(forces.items()):
        for state in states:
            print(f"note: --force-at {turn}:{state} not applied (the call took {taken} caller turns)",
                  file=sys.stderr)


# ----- what `call` prints and writes ----------------------------------------------------------


class Transcript:
    """Event-stream subscriber that prints the call as it happens."""

    def __init__(self, *, echo_caller: bool = True, show_functions: bool = False) -> None:
        self.echo_caller = echo_caller
        self.show_functions = show_functions  # a plain flow's function calls, with arguments and results

    def __call__(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.FunctionCalled) and not self.show_functions:
            return
        line = transcript_line(event)
        if line is not None and (self.echo_caller or not isinstance(event, ev.UserTurn)):
            out(line)


def transcript_line(event: ev.CallEvent) -> str | None:
    match event:
        case ev.CallStarted():
            return (f"== call {event.call_id}: {event.schema} for {event.patient_id} "
                    f"({event.responder}, {event.mode})")
        case ev.UserTurn():
            return f"caller: {event.text}"
        case ev.FunctionCalled():
            arguments = json.dumps(event.arguments, default=str)
            return f"() {event.name}({arguments}) -> {json.dumps(event.result, default=str)}"
        case ev.BotTurn():
            return f"bot: {event.text}"
        case ev.Transition(forced=True):
            return f"!! forced {event.source} -> {event.target} ({event.ms:.1f} ms)"
        case ev.Transition():
            return f"-> transition {event.source} -> {event.target} on {event.intent} ({event.ms:.1f} ms)"
        case ev.CallError():
            return f"!! error ({event.source}): {REDACTOR.scrub(event.message)}"
        case ev.CallEnded():
            return f"== call {event.status}: {REDACTOR.scrub(event.reason)}"
    return None


def out(line: str) -> None:
    """Print to stdout, control characters escaped; once stdout is closed (`| head`), drop the rest
    quietly: the call goes on."""
    try:
        print(printable(line), flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def note(written: Path, line: str) -> None:
    """Say what was written: on stdout, unless the file itself went to stdout (`-`)."""
    if str(written) == "-":
        print(printable(line), file=sys.stderr)
    else:
        out(line)


def _write_outputs(store: CallStore, call: HealthcareAIPipeline, args: argparse.Namespace) -> None:
    from engine.export import write_json, write_latency_csv

    if args.report:
        write_json(args.report, store.report(call.session_id, include_phi=args.include_phi),
                   private=args.include_phi)
        note(args.report, f"report: {args.report}")
    if args.csv:
        rows = write_latency_csv(args.csv, call.events.history, schema=call.schema_name,
                                 include_phi=args.include_phi)
        note(args.csv, f"latency csv: {args.csv} ({rows} rows)")


def _print_summary(store: CallStore, call: HealthcareAIPipeline) -> None:
    report = store.report(call.session_id)
    out(f"{'latency (ms)':<16}{'count':>6}{'p50':>10}{'p95':>10}{'max':>10}")
    for stage, figures in report["stages"].items():
        out(f"  {stage:<14}{figures['count']:>6}{figures['p50']:>10.3f}{figures['p95']:>10.3f}"
              f"{figures['max']:>10.3f}")
    out(f"transitions: {report['state_transitions']}, schema overhead (max per turn): "
          f"{report['schema_overhead_estimate_ms']:.3f} ms, total: {report['total_call_time_ms']:.1f} ms")
    out(f"recorded as call {call.session_id} in {store.path}")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="call-history folder (default: $VOICE_CONSOLE_DATA_DIR or the user data dir)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_call(sub)
