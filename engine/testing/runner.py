"""Running test cases through the real call pipeline, in text mode.

Each case is one call (`call_for_record`): the runner waits for the opening line, then
plays the steps, checking each step's expectation against the events that step caused.
The first step that fails ends the case. Nothing here prints: results are plain data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import driving
from engine import events as ev
from engine.calls import call_for_record
from engine.errors import EngineError, UnknownFunctionError
from engine.pipeline import HealthcareAIPipeline
from engine.responders.factory import ResponderConfig
from engine.testing.script import SCRIPT_SUFFIX, Expectation, FunctionExpectation, Step, TestCase, TestScript

Edge = tuple[str, str, str]  # (source, label, target): see CompiledSchema.edges
Pause = Callable[[], Awaitable[None]]
OnCall = Callable[[HealthcareAIPipeline], None]


# ----- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    field: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.actual}"


@dataclass(frozen=True)
class Failure:
    """The first step whose expectation did not hold, with the transcript up to it."""

    step: int  # 1-based
    line: int
    action: str
    mismatches: tuple[Mismatch, ...]
    transcript: tuple[str, ...]

    @property
    def message(self) -> str:
        return f"step {self.step} (line {self.line}) {self.action}: " + "; ".join(map(str, self.mismatches))

    @property
    def detail(self) -> str:
        lines = [f"step {self.step} (line {self.line}): {self.action}", *_mismatch_lines(self.mismatches)]
        lines += ["transcript:", *(f"  {line}" for line in self.transcript)]
        return "\n".join(lines)


def _mismatch_lines(mismatches: tuple[Mismatch, ...]) -> list[str]:
    lines: list[str] = []
    for mismatch in mismatches:
        lines += [f"  {mismatch.field}:", f"    expected: {mismatch.expected}",
                  f"    actual:   {mismatch.actual}"]
    return lines


@dataclass(frozen=True)
class CaseResult:
    schema: str
    case: str
    passed: bool
    ms: float
    visited: tuple[str, ...] = ()
    edges: tuple[Edge, ...] = ()  # transitions taken on an intent (forced moves are not counted)
    transcript: tuple[str, ...] = ()
    failure: Failure | None = None
    error: str = ""  # the call itself could not run

    @property
    def message(self) -> str:
        if self.error:
            return self.error
        return self.failure.message if self.failure else ""

    @property
    def detail(self) -> str:
        if self.error:
            return "\n".join([self.error, "transcript:", *(f"  {line}" for line in self.transcript)])
        return self.failure.detail if self.failure else ""


@dataclass(frozen=True)
class ScriptResult:
    path: Path
    schema: str
    cases: tuple[CaseResult, ...]
    ms: float

    @property
    def passed(self) -> bool:
        return all(case.passed for case in self.cases)

    @property
    def failed(self) -> list[CaseResult]:
        return [case for case in self.cases if not case.passed]


# ----- discovery --------------------------------------------------------------------------------


def discover_scripts(paths: Iterable[Path | str]) -> list[Path]:
    """Scripts for each path: a `.test.yaml` file is itself; a schema `x.yaml` has `tests/x.test.yaml`
    beside it; a folder holds scripts anywhere below it. Raises FileNotFoundError naming what is missing."""
    found: list[Path] = []
    for given in map(Path, paths):
        for script in _scripts_for(given):
            if script not in found:
                found.append(script)
    return found


def _scripts_for(path: Path) -> list[Path]:
    if path.is_dir():
        scripts = sorted(path.rglob(f"*{SCRIPT_SUFFIX}"))
        if not scripts:
            raise FileNotFoundError(f"{path}: no test scripts (*{SCRIPT_SUFFIX}) in this folder")
        return scripts
    if path.name.endswith(SCRIPT_SUFFIX):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such test script")
        return [path]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such schema, test script or folder")
    script = path.parent / "tests" / f"{path.stem}{SCRIPT_SUFFIX}"
    if not script.is_file():
        raise FileNotFoundError(f"{path}: schema has no test script (expected {script})")
    return [script]


# ----- running ----------------------------------------------------------------------------------


async def run_script(
    script: TestScript,
    *,
    responder: ResponderConfig | None = None,
    cases: Iterable[str] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
    concurrency: int = 1,
    budgets: bool = True,
) -> ScriptResult:
    """Run the script's cases (or only those named in `cases`), `concurrency` calls at a time;
    without `budgets`, the steps' `within_ms` latency budgets are not checked (behaviour only)."""
    started = time.perf_counter()
    wanted = set(cases) if cases is not None else None
    chosen = [c for c in script.cases if wanted is None or c.name in wanted]
    limit = asyncio.Semaphore(max(1, concurrency))

    async def run_one(case: TestCase) -> CaseResult:
        async with limit:
            result = await run_case(script, case, responder=responder, budgets=budgets)
        if on_result is not None:
            on_result(result)
        return result

    results = await asyncio.gather(*(run_one(case) for case in chosen))
    elapsed_ms = (time.perf_counter() - started) * 1000
    return ScriptResult(script.path, script.schema_name, tuple(results), elapsed_ms)


async def run_case(
    script: TestScript,
    case: TestCase,
    *,
    responder: ResponderConfig | None = None,
    on_call: OnCall | None = None,
    pause: Pause | None = None,
    budgets: bool = True,
) -> CaseResult:
    """Play one case as a real text call. `on_call(call)` runs before the call starts (to subscribe to
    its events); `pause()` is awaited before each step (to step through the case turn by turn)."""
    started = time.perf_counter()
    call = call_for_record(script.schema, case.record, case.patient_id, responder=responder)
    if on_call is not None:
        on_call(call)
    failure: Failure | None = None
    error = ""
    try:
        await driving.start_call(call)
        failure = await _play(call, case, pause, budgets)
    except EngineError as exc:
        error = f"the call failed: {exc}"
    finally:
        await driving.finish(call, "the test case is over")
    return _result(script, case, call, failure, error, started)


def _result(script: TestScript, case: TestCase, call: HealthcareAIPipeline, failure: Failure | None,
            error: str, started: float) -> CaseResult:
    conversation = call.conversation
    edges = tuple((t.source, t.intent, t.target) for t in conversation.transitions
                  if not t.forced and t.intent is not None)
    return CaseResult(
        schema=script.schema_name, case=case.name, passed=failure is None and not error,
        ms=(time.perf_counter() - started) * 1000, visited=tuple(dict.fromkeys(conversation.visited)),
        edges=edges, transcript=tuple(transcript(call.events.history)), failure=failure, error=error,
    )


async def _play(call: HealthcareAIPipeline, case: TestCase, pause: Pause | None,
                budgets: bool) -> Failure | None:
    last = list(call.events.history)  # the opening
    for number, step in enumerate(case.steps, 1):
        if pause is not None:
            await pause()
        if step.action != "check":
            if driving.over(call):
                stopped = f"the call ended in '{call.conversation.current}'"
                return _failure(call, number, step, [Mismatch("call", "still running", stopped)])
            last = await _act(call, step)
        mismatches = check(step.expect, call, last, budgets=budgets)
        if mismatches:
            return _failure(call, number, step, mismatches)
    return None


async def _act(call: HealthcareAIPipeline, step: Step) -> list[ev.CallEvent]:
    """Play a `say`, `call` or `force` step; the events it caused."""
    if step.action == "say":
        return await driving.take_turn(call, step.text, source="script")
    if step.action == "call":
        mark = len(call.events.history)
        try:
            return await driving.call_function(call, step.text, step.arguments, step.result)
        except UnknownFunctionError:  # the call emitted the error: the step's checks see it
            return call.events.history[mark:]
    return await driving.force(call, step.text)


def _failure(call: HealthcareAIPipeline, number: int, step: Step, mismatches: list[Mismatch]) -> Failure:
    lines = tuple(transcript(call.events.history))
    return Failure(number, step.line, step.describe(), tuple(mismatches), lines)


# ----- checking one step ------------------------------------------------------------------------


def check(expect: Expectation, call: HealthcareAIPipeline, events: list[ev.CallEvent], *,
          budgets: bool = True) -> list[Mismatch]:
    """Every way the call, after a step that caused `events`, differs from `expect`."""
    mismatches: list[Mismatch] = []
    conversation = call.conversation
    if expect.state is not None and conversation.current != expect.state:
        mismatches.append(Mismatch("state", repr(expect.state), repr(conversation.current)))
    transitions = [e for e in events if isinstance(e, ev.Transition)]
    if expect.intent is not None:
        mismatches += _check_intent(expect.intent, transitions, conversation.current)
    if expect.function is not None:
        mismatches += _check_function(expect.function, events)
    node = next((e for e in reversed(call.events.history) if isinstance(e, ev.NodeEntered)), None)
    mismatches += _check_texts("prompt_contains", expect.prompt_contains, node.prompt if node else "")
    mismatches += _check_texts("say_contains", expect.say_contains, node.say if node else "")
    said = " ".join(e.text for e in events if isinstance(e, ev.BotTurn))
    mismatches += _check_texts("bot_says", expect.bot_says, said or "(the bot said nothing)")
    mismatches += _check_absent("bot_avoids", expect.bot_avoids, said)
    if expect.forced is not None:
        mismatches += _check_forced(expect.forced, transitions)
    if expect.ended is not None and call.ended != expect.ended:
        actual = f"ended ({call.end_reason})" if call.ended else f"still running in '{conversation.current}'"
        mismatches.append(Mismatch("ended", str(expect.ended).lower(), actual))
    for stage, bound in (expect.within_ms if budgets else {}).items():
        mismatches += _check_latency(stage, bound, events)
    return mismatches


def _check_intent(intent: str, transitions: list[ev.Transition], current: str) -> list[Mismatch]:
    taken = [t.intent for t in transitions if not t.forced]
    if intent in taken:
        return []
    actual = ", ".join(repr(t) for t in taken) if taken else f"no transition on an intent (in '{current}')"
    return [Mismatch("intent", repr(intent), actual)]


def _check_function(wanted: FunctionExpectation, events: list[ev.CallEvent]) -> list[Mismatch]:
    calls = [e for e in events if isinstance(e, ev.FunctionCalled)]
    for called in calls:
        if called.name == wanted.name and _holds(wanted.arguments, called.arguments) \
                and _holds(wanted.result, called.result):
            return []
    expected = _function_text(wanted.name, wanted.arguments, wanted.result)
    actual = "; ".join(_function_text(c.name, c.arguments, c.result if wanted.result else {})
                       for c in calls) or "no function called"
    return [Mismatch("function", expected, actual)]


_MISSING = object()


def _holds(wanted: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    return all(actual.get(key, _MISSING) == value for key, value in wanted.items())


def _function_text(name: str, arguments: Mapping[str, Any], result: Mapping[str, Any] | None = None) -> str:
    text = f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"
    if result:
        text += " -> " + ", ".join(f"{k}={v!r}" for k, v in result.items() if k not in ("status", "function"))
    return text


def _check_texts(field_name: str, wanted: tuple[str, ...], actual: str) -> list[Mismatch]:
    """Each wanted text must appear in `actual`, ignoring case and runs of spaces."""
    haystack = _folded(actual)
    missing = [text for text in wanted if _folded(text) not in haystack]
    return [Mismatch(field_name, f"text containing {text!r}", repr(actual)) for text in missing]


def _check_absent(field_name: str, unwanted: tuple[str, ...], actual: str) -> list[Mismatch]:
    haystack = _folded(actual)
    found = [text for text in unwanted if _folded(text) in haystack]
    return [Mismatch(field_name, f"no {text!r}", repr(actual)) for text in found]


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def _check_forced(forced: bool, transitions: list[ev.Transition]) -> list[Mismatch]:
    if not transitions:
        return [Mismatch("forced", str(forced).lower(), "no transition in this step")]
    last = transitions[-1]
    if last.forced == forced:
        return []
    how = "forced" if last.forced else f"on intent '{last.intent}'"
    actual = f"{str(last.forced).lower()} ({last.source} -> {last.target} {how})"
    return [Mismatch("forced", str(forced).lower(), actual)]


def _check_latency(stage: str, bound: float, events: list[ev.CallEvent]) -> list[Mismatch]:
    samples = [e.ms for e in events if isinstance(e, ev.Latency) and e.stage == stage]
    if not samples:
        return [Mismatch(f"within_ms.{stage}", f"at most {bound:g} ms", "no sample in this step")]
    worst = max(samples)
    if worst <= bound:
        return []
    return [Mismatch(f"within_ms.{stage}", f"at most {bound:g} ms", f"{worst:.3f} ms")]


# ----- transcript -------------------------------------------------------------------------------


def transcript(events: Iterable[ev.CallEvent]) -> list[str]:
    """The call as short lines: who said what, moves, function calls and errors."""
    return [line for event in events if (line := transcript_line(event)) is not None]


def transcript_line(event: ev.CallEvent) -> str | None:
    match event:
        case ev.UserTurn():
            return f"caller: {event.text}"
        case ev.BotTurn():
            return f"bot: {event.text}"
        case ev.Transition(forced=True):
            return f"-> forced {event.source} -> {event.target}"
        case ev.Transition():
            return f"-> {event.source} -> {event.target} on {event.intent}"
        case ev.FunctionCalled() if "function" in event.result:  # a declared function, not a bare transition
            return f"   {_function_text(event.name, event.arguments)}"
        case ev.CallError():
            return f"!! error ({event.source}): {event.message}"
        case ev.CallEnded():
            return f"== call {event.status}: {event.reason}"
    return None
