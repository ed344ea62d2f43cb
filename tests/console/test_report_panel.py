"""The performance report: per-turn stacked bars on an axis chosen by the data, the worst turn and its
biggest part, p50/p95/p99 per stage and the report's own keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.main_window import MainWindow
from console.panels.turn_bars import TurnBars, turn_parts, worst_turn

if TYPE_CHECKING:
    from tests.console.conftest import Aio

SAMPLES = [(0, "precompute", 0.3, False),
           (1, "classify", 0.1, False), (1, "transition", 2.5, True), (1, "render", 0.2, False),
           (2, "classify", 0.1, False), (2, "transition", 3.0, True), (2, "llm", 20.0, False),
           (2, "turn", 25.0, True)]


def test_turn_parts_sum_each_turns_parts_and_leave_totals_out() -> None:
    parts = turn_parts(SAMPLES)
    assert parts[1] == {"classify": 0.1, "transition": 2.5, "render": 0.2}
    assert parts[2].keys() == {"classify", "transition", "llm", "pipeline"}
    assert abs(parts[2]["pipeline"] - (25.0 - 23.1)) < 1e-9  # the turn's whole time less its parts
    assert worst_turn(parts) == (2, "llm", 20.0, 25.0)
    assert worst_turn({}) is None


def test_a_few_ms_part_is_readable_on_an_axis_chosen_by_the_data(qtbot: object) -> None:
    bars = TurnBars()
    bars.resize(600, 200)
    bars.set_samples(SAMPLES)
    assert bars.axis_ms == 50.0  # the slowest turn (25 ms) rounded up, not a fixed budget
    small = [sample for sample in SAMPLES if sample[0] == 1]
    bars.set_samples(small)
    assert bars.axis_ms == 5.0
    assert bars.bar_width_of(1, "transition") > 0.4 * (bars.width() - 120)


def test_the_report_shows_the_worst_turn_and_stage_percentiles(window: MainWindow, aio: Aio) -> None:
    controller = window.controller
    window.setup.start()
    aio.until(lambda: controller.call_state == "running")
    aio.run(controller.step("yes, this is she"))
    aio.run(controller.step("I need to reschedule"))
    window.docks["report"].raise_()
    report = window.report
    aio.until(lambda: report.report.get("state_transitions") == 2 and len(report.bars.parts) == 2)
    assert window.report.worst_label.full_text().startswith("Worst turn: ")
    table = window.report.stage_table
    stages = [table.item(row, 0).text() for row in range(table.rowCount())]
    assert "transition" in stages and "classify" in stages
    headers = [table.horizontalHeaderItem(column).text() for column in range(table.columnCount())]
    assert headers == ["stage", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    assert window.report.value_of("state_transitions") == "2"
