"""The Tests dock in the real main window, offscreen: run the bundled schema test cases, step through
one, and see the coverage overlay on the state graph.

See conftest.py for how the qasync loop and pytest-qt share Qt's event loop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt

from console.main_window import MainWindow
from engine.paths import SCHEMA_TESTS_DIR
from engine.testing import load_test_script

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs

SCHEMA = "appointment_reminder"
STEPPED = "reschedule then give a time"  # three caller turns: reminder, reschedule_time, reschedule_requested


def bundled_cases() -> list[tuple[str, str]]:
    script = load_test_script(Path(SCHEMA_TESTS_DIR) / f"{SCHEMA}.test.yaml")
    return [(script.schema_name, case.name) for case in script.cases]


def finished(window: MainWindow, cases: list[tuple[str, str]]) -> bool:
    return (not window.controller.is_testing
            and all(window.tests.result_of(*case)[0] in ("PASS", "FAIL") for case in cases))


def test_the_tests_dock_lists_the_bundled_cases(window: MainWindow) -> None:
    assert window.controller.schema_name == SCHEMA
    assert "tests" in window.docks and window.docks["tests"].widget() is window.tests
    assert window.tests.cases() == bundled_cases()
    assert window.tests.run_all_button.isEnabled()
    assert window.tests.coverage_label.text() == "Coverage: not run yet"


def test_run_all_passes_and_covers_the_whole_graph(window: MainWindow, aio: Aio, qtbot: Any,
                                                   dialogs: ScriptedDialogs) -> None:
    cases = bundled_cases()
    window.menu_actions["budgets"].setChecked(False)  # behaviour: the budgets measure the machine
    qtbot.mouseClick(window.tests.run_all_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: window.controller.is_testing)
    assert window.windowTitle() == f"{SCHEMA} — testing — Voice console"
    assert not window.setup.start_button.isEnabled()
    aio.until(lambda: finished(window, cases), timeout=120)

    assert not dialogs.errors
    assert [window.tests.result_of(*case)[0] for case in cases] == ["PASS"] * len(cases)
    assert window.tests.summary_of(SCHEMA) == f"{len(cases)}/{len(cases)} passed"
    assert window.graph.legend_shows_coverage()
    assert window.graph.unreached_states() == set() and window.graph.untested_edges() == set()
    assert "(100%)" in window.tests.coverage_label.text()
    assert window.controller.call_state == "ended" and window.setup.start_button.isEnabled()
    assert "Bot " in window.transcript.text()  # the last case's call is shown as a live call's is

    window.tests.select([cases[0]])
    qtbot.mouseClick(window.tests.run_selected_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: window.controller.is_testing)
    aio.until(lambda: finished(window, cases[:1]))
    assert window.tests.result_of(*cases[0])[0] == "PASS"
    unreached = window.graph.unreached_states()
    assert unreached and "wrong_person" in unreached and "greeting" not in unreached
    assert window.graph.untested_edges()
    assert "Not reached:" in window.tests.coverage_label.text()


def test_stepping_a_case_plays_one_turn_per_next(window: MainWindow, aio: Aio, qtbot: Any,
                                                 dialogs: ScriptedDialogs) -> None:
    controller, graph, tests = window.controller, window.graph, window.tests
    ready: list[tuple[int, int, str]] = []
    controller.tests.testStepReady.connect(lambda number, total, step: ready.append((number, total, step)))
    tests.select([(SCHEMA, STEPPED)])
    assert tests.step_button.isEnabled()
    qtbot.mouseClick(tests.step_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: len(ready) == 1 and controller.tests.waiting_for_step)
    assert ready[0][:2] == (1, 3) and tests.next_button.isEnabled()
    assert tests.result_of(SCHEMA, STEPPED)[0] == "stepping…"
    aio.until(lambda: graph.node_style("greeting") == "current" and " Bot " in window.transcript.text())
    assert " Caller " not in window.transcript.text()

    expected = [("Yes, speaking.", "reminder"),
                ("Actually I need to reschedule", "reschedule_time"),
                ("Next Tuesday morning would be better.", "reschedule_requested")]
    for number, (said, state) in enumerate(expected, 1):
        qtbot.mouseClick(tests.next_button, Qt.MouseButton.LeftButton)
        if number < len(expected):
            aio.until(lambda n=number: len(ready) == n + 1 and controller.tests.waiting_for_step)
            # the runner waits on the step gate, which only the next click opens
            assert controller.tests.waiting_for_step and len(ready) == number + 1
        else:
            aio.until(lambda: not controller.is_testing)
        assert f"Caller {said}" in window.transcript.text()
        assert graph.node_style(state) == "current"
        assert window.prompt.view["state"] == state
        for later_said, _later in expected[number:]:
            assert later_said not in window.transcript.text()

    assert tests.result_of(SCHEMA, STEPPED)[0] == "PASS"
    assert tests.stepping is None and not tests.next_button.isEnabled()
    assert "reschedule_time" not in graph.unreached_states() and "voicemail" in graph.unreached_states()
    assert not dialogs.errors


def test_a_stepped_cases_time_leaves_out_the_pauses(window: MainWindow, aio: Aio, qtbot: Any) -> None:
    runner, tests = window.controller.tests, window.tests
    paused_s = 3600.0  # each wait for Next turn lasts an hour on the runner's clock
    offset = [0.0]
    runner.clock = lambda: time.perf_counter() + offset[0]
    ready: list[int] = []
    runner.testStepReady.connect(lambda number, _total, _step: ready.append(number))
    tests.select([(SCHEMA, STEPPED)])
    qtbot.mouseClick(tests.step_button, Qt.MouseButton.LeftButton)
    for number in (1, 2, 3):
        aio.until(lambda n=number: len(ready) == n and runner.waiting_for_step)
        offset[0] += paused_s
        qtbot.mouseClick(tests.next_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: not window.controller.is_testing)
    result, shown = tests.result_of(SCHEMA, STEPPED)
    assert result == "PASS"
    ms = float(shown.removesuffix(" ms"))
    assert 0 < ms < paused_s * 1000  # three hours of pauses, none of them counted


def test_tests_and_live_calls_exclude_each_other(window: MainWindow, aio: Aio,
                                                 dialogs: ScriptedDialogs) -> None:
    controller = window.controller
    window.setup.start()
    aio.until(lambda: controller.call_state == "running")
    assert not aio.run(controller.tests.run_tests(bundled_cases()[:1]))
    assert dialogs.errors[-1] == ("Cannot run test cases", "A call is running: stop it first.")
    window.tests.select([(SCHEMA, STEPPED)])
    window.tests.step_button.click()
    aio.until(lambda: len(dialogs.errors) == 2)
    aio.until(lambda: window.tests.stepping is None)
    assert dialogs.errors[-1][0] == "Cannot step through a test case"
    aio.run(controller.stop())
    aio.until(lambda: controller.call_state == "ended")

    window.tests.select([(SCHEMA, STEPPED)])
    window.tests.step_button.click()
    aio.until(lambda: controller.tests.waiting_for_step)
    assert not aio.run(controller.start(window.setup.setup()))
    assert dialogs.errors[-1][0] == "Cannot start a call"
    assert "Test cases are running" in dialogs.errors[-1][1]
    window.setup.stop_button.click()  # Stop ends the stepped case
    aio.until(lambda: not controller.is_testing)
    assert window.tests.result_of(SCHEMA, STEPPED)[0] == "FAIL"
    assert window.tests.stepping is None
