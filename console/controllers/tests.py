"""TestRunController: the shown schema's test cases (`engine.testing`), run or stepped through.

Each case is a real text call whose events reach the call controller's signals, so the graph,
prompt and transcript follow a test as they follow a live call. Results and coverage are
reported as plain data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from console.controllers.state import CallState
from engine.describe import describe
from engine.errors import EngineError
from engine.schema.compiled import CompiledSchema
from engine.testing import (
    CaseResult,
    TestCase,
    TestScript,
    coverage,
    coverage_text,
    discover_scripts,
    load_test_script,
    run_case,
)

if TYPE_CHECKING:
    from console.controllers.call import CallController
    from engine.pipeline import HealthcareAIPipeline

CaseKey = tuple[str, str]  # (schema, case)


class TestRunController(QObject):
    __test__ = False  # not a pytest test class

    testsChanged = Signal(object, str)  # [(schema, case)] of the shown schema, a note (why none) or ""
    testRunning = Signal(str, str)  # schema, case: the case is starting
    testResult = Signal(str, str, bool, str, float)  # schema, case, passed, detail, ms
    testStepReady = Signal(int, int, str)  # stepping: step number about to play, steps in all, the step
    coverageChanged = Signal(str, object, object)  # summary, {unreached state}, {(source, intent, target)}

    def __init__(self, call: CallController) -> None:
        super().__init__(call)
        self._call = call
        self._script: TestScript | None = None  # the shown schema's test script
        self._note = ""
        self._running: asyncio.Task[Any] | None = None
        self._next_step: asyncio.Event | None = None  # set by `next_test_step` while a step waits
        self.clock: Callable[[], float] = time.perf_counter  # seconds; a stepped case's time leaves out
        self._paused_s = 0.0  # the current case's time spent waiting for Next turn
        self._budgets = True  # check the steps' within_ms latency budgets

    def check_budgets(self, on: bool) -> None:
        """Whether test runs check the steps' `within_ms` latency budgets (off: behaviour only)."""
        self._budgets = on

    def test_cases(self) -> list[CaseKey]:
        """The (schema, case) pairs of the shown schema's test script (as on `testsChanged`)."""
        script = self._script
        return [(script.schema_name, case.name) for case in script.cases] if script else []

    @property
    def note(self) -> str:
        """Why the shown schema has no test cases ("" when it has some)."""
        return self._note

    @property
    def waiting_for_step(self) -> bool:
        """Stepping through a test case, and its next step waits for `next_test_step`."""
        return self._next_step is not None

    def load_for(self, compiled: CompiledSchema | None) -> None:
        """Load the test script of the schema now shown (announced on `testsChanged`)."""
        self._script, self._note = None, ""
        path = getattr(compiled, "path", None)
        if compiled is None or not path:
            self._note = "No schema is shown: no test cases."
        else:
            try:
                found = discover_scripts([path])
                self._script = load_test_script(found[0], compiled)
            except FileNotFoundError as error:
                self._note = f"No test cases: {error}"
            except (EngineError, OSError) as error:
                self._note = "The test script could not be loaded: " + "; ".join(describe(error))
        self.testsChanged.emit(self.test_cases(), self._note)

    async def run_tests(self, cases: list[CaseKey]) -> bool:
        """Run these (schema, case) test cases one after another, as text calls the panels follow.
        False (and `failed`) if they cannot run now or were stopped."""
        chosen = self._chosen_cases("run test cases", cases)
        return chosen is not None and await self._run_cases(chosen, stepping=False)

    async def step_test(self, case: CaseKey) -> bool:
        """Run one test case turn by turn: each step waits for `next_test_step()`."""
        chosen = self._chosen_cases("step through a test case", [(case[0], case[1])])
        return chosen is not None and await self._run_cases(chosen, stepping=True)

    def next_test_step(self) -> bool:
        """Play the stepped test case's next step; False if no step waits."""
        if self._next_step is None:
            self._call.notify("No test step is waiting: step through a test case first.")
            return False
        self._next_step.set()
        return True

    async def stop(self) -> bool:
        """Stop the running test cases and wait for them; False if none run."""
        running = self._running
        if running is None or running.done():
            return False
        running.cancel()
        await asyncio.wait({running})
        return True

    def _chosen_cases(self, action: str, keys: list[CaseKey]) -> list[TestCase] | None:
        call = self._call
        if call.is_live:
            call.say_failed(f"Cannot {action}", "Test cases are already running: wait for them or stop them."
                             if call.is_testing else "A call is running: stop it first.")
            return None
        script = self._script
        if script is None:
            call.say_failed(f"Cannot {action}", self._note or "The shown schema has no test cases.")
            return None
        by_name = {case.name: case for case in script.cases}
        unknown = [f"{schema}: {name}" for schema, name in keys
                   if schema != script.schema_name or name not in by_name]
        if unknown or not keys:
            call.say_failed(f"Cannot {action}", f"Not a test case of '{script.schema_name}': "
                             + ", ".join(unknown) if unknown else "No test case was chosen.")
            return None
        return [by_name[name] for _schema, name in keys]

    async def _run_cases(self, cases: list[TestCase], *, stepping: bool) -> bool:
        script, call = self._script, self._call
        assert script is not None
        results: list[CaseResult] = []
        current: TestCase | None = None
        started = self.clock()
        self._running = asyncio.current_task()
        call.change_state(CallState.TESTING)
        busy = "Stepping through a test case…" if stepping else f"Running {len(cases)} test case(s)…"
        finished = False
        try:
            async with call.working(busy):
                for case in cases:
                    current, started, self._paused_s = case, self.clock(), 0.0
                    self.testRunning.emit(script.schema_name, case.name)
                    result = await run_case(script, case, on_call=self._begin_test_call,
                                            pause=self._step_pause(case) if stepping else None,
                                            budgets=self._budgets)
                    call.flush()
                    results.append(result)
                    current = None
                    self.testResult.emit(result.schema, result.case, result.passed, _result_detail(result),
                                         self._case_ms(started) if stepping else result.ms)
            finished = True
        except asyncio.CancelledError:  # Stop, or the console closing
            call.notify("The test cases were stopped")
            self._end_case(script, current, started, "stopped before the case finished")
        except Exception as error:
            call.report_failure("The test cases could not run", error)
            self._end_case(script, current, started, "\n".join(describe(error)))
        finally:
            call.flush()
            self._running, self._next_step = None, None
            call.change_state(CallState.ENDED)
        if results:
            self._emit_coverage(script, results)
        if finished:
            passed = sum(result.passed for result in results)
            call.notify(f"Test cases of '{script.schema_name}': {passed}/{len(results)} passed")
        return finished

    def _begin_test_call(self, test_call: HealthcareAIPipeline) -> None:
        self._call.begin_call(test_call, recorded=False)

    def _step_pause(self, case: TestCase) -> Callable[[], Awaitable[None]]:
        played = 0

        async def pause() -> None:
            nonlocal played
            played += 1
            self._call.flush()
            gate = self._next_step = asyncio.Event()
            step = case.steps[played - 1].describe()
            self.testStepReady.emit(played, len(case.steps), step)
            self._call.notify(f"Step {played}/{len(case.steps)} of '{case.name}' next: {step}")
            waited_from = self.clock()
            try:
                await gate.wait()
            finally:
                self._next_step = None
                self._paused_s += self.clock() - waited_from

        return pause

    def _case_ms(self, started: float) -> float:
        """The case's own time since `started`: without the pauses waiting for Next turn."""
        return (self.clock() - started - self._paused_s) * 1000

    def _end_case(self, script: TestScript, case: TestCase | None, started: float, detail: str) -> None:
        if case is not None:
            self.testResult.emit(script.schema_name, case.name, False, detail, self._case_ms(started))

    def _emit_coverage(self, script: TestScript, results: list[CaseResult]) -> None:
        covered = coverage(script.schema, results)
        self.coverageChanged.emit(coverage_text(covered, len(results)), set(covered.unreached_states),
                                  set(covered.untaken_edges))


def _result_detail(result: CaseResult) -> str:
    if not result.passed:
        return result.detail or result.message or "failed"
    return "\n".join(["passed", "transcript:", *(f"  {line}" for line in result.transcript)])
