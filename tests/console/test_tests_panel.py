"""The Tests panel: cases grouped by schema, run and step requests, results, details and coverage."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from console.panels.tests import TestsPanel

CASES = [
    ("appointment_reminder", "confirms on the first ask"),
    ("appointment_reminder", "wrong person"),
    ("medication_adherence", "fainting escalates to a nurse"),
]


@pytest.fixture
def panel(qtbot) -> TestsPanel:
    widget = TestsPanel()
    qtbot.addWidget(widget)
    widget.set_cases(CASES)
    return widget


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_cases_are_grouped_by_schema(panel: TestsPanel) -> None:
    assert panel.tree.topLevelItemCount() == 2
    reminder = panel.tree.topLevelItem(0)
    assert (reminder.text(0), reminder.childCount()) == ("appointment_reminder", 2)
    assert panel.cases() == CASES
    assert not panel.run_selected_button.isEnabled() and panel.run_all_button.isEnabled()
    assert not panel.step_button.isEnabled() and not panel.next_button.isEnabled()


def test_run_all_and_run_selected_request_their_cases(qtbot, panel: TestsPanel) -> None:
    with qtbot.waitSignal(panel.runRequested) as everything:
        click(qtbot, panel.run_all_button)
    assert everything.args == [CASES]

    panel.tree.topLevelItem(1).setSelected(True)  # a schema stands for all its cases
    panel.tree.topLevelItem(0).child(1).setSelected(True)
    assert panel.run_selected_button.isEnabled()
    with qtbot.waitSignal(panel.runRequested) as selected:
        click(qtbot, panel.run_selected_button)
    assert selected.args == [[CASES[1], CASES[2]]]


def test_results_show_verdict_time_summary_and_detail(panel: TestsPanel) -> None:
    panel.set_running(*CASES[0])
    assert panel.result_of(*CASES[0]) == ("running…", "")
    panel.set_result(*CASES[0], passed=True, detail="", ms=12.34)
    panel.set_result(*CASES[1], passed=False, detail="step 1: state: expected 'x'\ntranscript:", ms=5.0)
    assert panel.result_of(*CASES[0]) == ("PASS", "12.3 ms")
    assert panel.result_of(*CASES[1]) == ("FAIL", "5.0 ms")
    assert panel.summary_of("appointment_reminder") == "1/2 passed, 1 failed"

    panel.select([CASES[1]])
    assert panel.detail.toPlainText().startswith("step 1: state: expected 'x'")
    panel.set_result("unknown_schema", "nothing", passed=True, detail="", ms=1.0)  # ignored
    panel.set_coverage("appointment_reminder: states 13/13, transitions 20/22")
    assert panel.coverage_label.text() == "appointment_reminder: states 13/13, transitions 20/22"


def test_step_through_one_case_turn_by_turn(qtbot, panel: TestsPanel) -> None:
    panel.select([CASES[2]])
    assert panel.step_button.isEnabled()
    with qtbot.waitSignal(panel.stepRequested) as stepped:
        click(qtbot, panel.step_button)
    assert stepped.args == [CASES[2]] and panel.stepping == CASES[2]
    assert panel.next_button.isEnabled()
    assert not panel.run_all_button.isEnabled() and not panel.step_button.isEnabled()

    panel.set_running(*CASES[2])
    assert panel.result_of(*CASES[2])[0] == "stepping…"
    with qtbot.waitSignals([panel.nextStepRequested, panel.nextStepRequested]):
        click(qtbot, panel.next_button)
        click(qtbot, panel.next_button)

    panel.set_result(*CASES[2], passed=True, detail="", ms=8.0)
    assert panel.stepping is None and not panel.next_button.isEnabled()
    assert panel.run_all_button.isEnabled() and panel.step_button.isEnabled()


def test_step_needs_exactly_one_case_and_double_click_runs_one(qtbot, panel: TestsPanel) -> None:
    panel.select(CASES[:2])
    assert not panel.step_button.isEnabled()
    item = panel.tree.topLevelItem(0).child(0)
    with qtbot.waitSignal(panel.runRequested) as ran:
        panel.tree.itemDoubleClicked.emit(item, 0)
    assert ran.args == [[CASES[0]]]


def test_new_cases_clear_results_and_stepping(qtbot, panel: TestsPanel) -> None:
    panel.set_result(*CASES[0], passed=False, detail="boom", ms=1.0)
    panel.select([CASES[0]])
    click(qtbot, panel.step_button)
    panel.set_cases(CASES[:1])
    assert panel.result_of(*CASES[0]) == ("", "")
    assert panel.stepping is None and not panel.next_button.isEnabled()
    assert panel.detail.toPlainText() == ""
