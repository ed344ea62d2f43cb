"""The latency panel: buffered samples, timer-driven redraws, stacked bars, trends, rolling percentiles."""

from __future__ import annotations

import pytest

from console.panels.latency import DEFAULT_BUDGETS, LatencyPanel, percentile
from console.panels.plot_axes import MIN_TICK_GAP_PX, nice_step


@pytest.fixture
def panel(qtbot) -> LatencyPanel:
    widget = LatencyPanel()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def _wait_for_redraw(qtbot, panel: LatencyPanel, after: int) -> None:
    qtbot.waitUntil(lambda: panel.redraw_count > after, timeout=2000)


def test_nearest_rank_percentile() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(v) for v in range(1, 11)], 50) == 5.0
    assert percentile([float(v) for v in range(1, 11)], 95) == 10.0
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0


def test_stages_stack_per_turn(panel: LatencyPanel, qtbot) -> None:
    before = panel.redraw_count
    samples = [(1, "classify", 1.0), (1, "render", 0.5), (1, "stt", 200.0), (1, "llm", 600.0),
               (1, "tts", 150.0),
               (2, "classify", 2.0), (2, "classify", 1.0), (2, "transition", 3.0), (2, "llm", 400.0)]
    for turn, stage, ms in samples:
        panel.add_sample(turn, stage, ms)
    _wait_for_redraw(qtbot, panel, before)
    assert panel.bar_data("classify") == ([1.0, 2.0], [0.0, 0.0], [1.0, 3.0])
    assert panel.bar_data("render") == ([1.0, 2.0], [1.0, 3.0], [0.5, 0.0])
    assert panel.bar_data("transition") == ([1.0, 2.0], [1.5, 3.0], [0.0, 3.0])
    assert panel.bar_data("stt") == ([1.0, 2.0], [1.5, 6.0], [200.0, 0.0])
    assert panel.bar_data("llm") == ([1.0, 2.0], [201.5, 6.0], [600.0, 400.0])
    assert panel.bar_data("tts") == ([1.0, 2.0], [801.5, 406.0], [150.0, 0.0])


def test_turn_latencies_are_drawn_over_turns(panel: LatencyPanel, qtbot) -> None:
    before = panel.redraw_count
    panel.add_sample(1, "voice_to_voice", 1200.0)
    panel.add_sample(2, "voice_to_voice", 900.0, crossed_transition=True)
    panel.add_sample(1, "turn", 700.0)
    _wait_for_redraw(qtbot, panel, before)
    assert panel.curve_data("voice_to_voice") == ([1.0, 2.0], [1200.0, 900.0])
    assert panel.curve_data("turn") == ([1.0], [700.0])


def test_table_holds_rolling_nearest_rank_percentiles(panel: LatencyPanel, qtbot) -> None:
    before = panel.redraw_count
    for value in range(1, 101):
        panel.add_sample(value, "llm", float(value))
    panel.add_sample(1, "classify", 0.25)
    _wait_for_redraw(qtbot, panel, before)
    # the window keeps the last 50 samples (51..100): p50 is the 25th, p95 the 48th of them
    assert panel.percentiles("llm") == (75.0, 98.0)
    rows = panel.table_rows()
    assert rows["llm"] == ("50", "75.0", "98.0")
    assert rows["classify"] == ("1", "0.25", "0.25")
    assert "stt" not in rows


def test_schema_overhead_row_sums_schema_stages_per_turn(panel: LatencyPanel, qtbot) -> None:
    before = panel.redraw_count
    for turn in range(1, 5):
        panel.add_sample(turn, "classify", 1.0)
        panel.add_sample(turn, "render", 2.0)
    panel.add_sample(4, "transition", 30.0)
    _wait_for_redraw(qtbot, panel, before)
    assert panel.table_rows()["schema_overhead"] == ("4", "3.00", "33.0")


def test_p95_over_its_budget_is_red(panel: LatencyPanel, qtbot) -> None:
    before = panel.redraw_count
    panel.add_sample(1, "transition", 25.0)
    panel.add_sample(1, "render", 1.0)
    _wait_for_redraw(qtbot, panel, before)
    colours = {panel.table.item(row, 0).text(): panel.table.item(row, 3).foreground().color().name()
               for row in range(panel.table.rowCount())}
    assert colours["transition"] == "#c62828"
    assert colours["render"] != "#c62828"


def test_samples_are_only_drawn_on_timer_ticks(panel: LatencyPanel, qtbot) -> None:
    panel.add_sample(1, "llm", 500.0)
    _wait_for_redraw(qtbot, panel, 0)
    drawn = panel.redraw_count
    for turn in range(2, 40):
        panel.add_sample(turn, "llm", 500.0 + turn)
        panel.add_sample(turn, "voice_to_voice", 1000.0 + turn)
    assert panel.redraw_count == drawn
    assert panel.bar_data("llm")[0] == [1.0]
    _wait_for_redraw(qtbot, panel, drawn)
    assert panel.redraw_count == drawn + 1
    assert len(panel.bar_data("llm")[0]) == 39


def test_idle_ticks_do_not_redraw(panel: LatencyPanel, qtbot) -> None:
    panel.add_sample(1, "llm", 500.0)
    _wait_for_redraw(qtbot, panel, 0)
    drawn, ticks = panel.redraw_count, panel.tick_count
    qtbot.waitUntil(lambda: panel.tick_count >= ticks + 3)
    assert panel.redraw_count == drawn


def test_the_timer_runs_only_while_shown(panel: LatencyPanel) -> None:
    assert panel.is_refreshing()
    panel.hide()
    assert not panel.is_refreshing()
    panel.show()
    assert panel.is_refreshing()
    panel.shutdown()
    assert not panel.is_refreshing()
    panel.hide()
    panel.show()
    assert not panel.is_refreshing()


def test_reset_and_load_samples(panel: LatencyPanel, qtbot) -> None:
    panel.add_sample(1, "llm", 500.0)
    past = [(1, "stt", 210.0, False), (1, "llm", 640.0, False), (2, "voice_to_voice", 1100.0, True)]
    panel.load_samples(past)
    assert panel.samples() == past
    before = panel.redraw_count
    _wait_for_redraw(qtbot, panel, before)
    assert panel.bar_data("llm") == ([1.0], [210.0], [640.0])
    assert panel.curve_data("voice_to_voice") == ([2.0], [1100.0])
    panel.reset()
    assert panel.samples() == []
    _wait_for_redraw(qtbot, panel, panel.redraw_count)
    assert panel.bar_data("llm") == ([], [], [])
    assert panel.table.rowCount() == 0


def test_budget_lines_default_and_configurable(qtbot) -> None:
    default = LatencyPanel()
    qtbot.addWidget(default)
    assert default.budget_lines() == DEFAULT_BUDGETS == {"schema_overhead": 50.0, "transition": 20.0}
    custom = LatencyPanel(budgets={"schema_overhead": 80.0, "transition": 10.0})
    qtbot.addWidget(custom)
    assert custom.budget_lines() == {"schema_overhead": 80.0, "transition": 10.0}


def test_schema_only_hides_the_voice_stages(panel: LatencyPanel, qtbot) -> None:
    panel.add_sample(1, "llm", 800.0)
    panel.add_sample(1, "classify", 2.0)
    panel.set_schema_only(True)
    _wait_for_redraw(qtbot, panel, 0)
    view_top = panel._stages_plot.viewRange()[1][1]
    assert 50.0 <= view_top < 100.0


def test_y_tick_labels_never_crowd_on_a_short_panel(qtbot) -> None:
    widget = LatencyPanel()
    qtbot.addWidget(widget)
    widget.resize(420, 190)  # shorter than the latency dock at 1280x800
    widget.show()
    qtbot.waitExposed(widget)
    before = widget.redraw_count
    for turn, ms in enumerate((12.0, 95.0, 160.0, 40.0), 1):
        widget.add_sample(turn, "transition", ms)
        widget.add_sample(turn, "turn", ms * 2)
    _wait_for_redraw(qtbot, widget, before)
    for name, axis in widget.left_axes().items():
        qtbot.waitUntil(lambda a=axis: a.range[1] > 1.0 and a.height() > 0, timeout=2000)
        shown = axis.major_ticks()
        low, high = axis.range
        assert len(shown) >= 2, f"{name}: {shown}"
        gap_px = (shown[1] - shown[0]) / (high - low) * axis.height()
        assert gap_px >= MIN_TICK_GAP_PX, f"{name}: labels {gap_px:.1f} px apart"
    widget.shutdown()
    widget.hide()  # no paint may be pending when pytest-qt deletes the shown widget (a segfault seen once)


def test_nice_steps_cut_a_span_into_at_most_so_many_parts() -> None:
    assert nice_step(200.0, 4) == 50.0
    assert nice_step(200.0, 1) == 200.0
    assert nice_step(1.0, 3) == 0.5
    assert nice_step(160.0, 10) == 20.0
