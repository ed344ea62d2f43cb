"""Latency of a call: stacked stage bars per turn, turn latency over turns, rolling p50/p95.

Samples only go into buffers; a timer redraws (at most every `refresh_ms`) when something changed.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QHideEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGraphicsItem,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.panels.plot_axes import SparseAxis
from console.widgets import Panel

Sample = tuple[int, str, float, bool]  # (turn, stage, ms, crossed_transition)

STACK_ORDER = ("classify", "render", "transition", "stt", "llm", "tts")  # bottom to top
SCHEMA_STAGES = ("classify", "render", "transition")
TREND_STAGES = ("voice_to_voice", "turn")
SCHEMA_OVERHEAD = "schema_overhead"  # derived row: classify + render + transition per turn
TABLE_ORDER = ("stt", "llm", "tts", "render", "transition", "classify", SCHEMA_OVERHEAD, "turn",
               "voice_to_voice")
DEFAULT_BUDGETS = {SCHEMA_OVERHEAD: 50.0, "transition": 20.0}
BUDGET_NAMES = {SCHEMA_OVERHEAD: "schema overhead budget", "transition": "transition budget"}

STAGE_COLOURS = {
    "classify": "#6d4c41", "render": "#f9a825", "transition": "#e64a19",
    "stt": "#1e88e5", "llm": "#8e24aa", "tts": "#00897b",
    "voice_to_voice": "#1565c0", "turn": "#6a1b9a",
}
BUDGET_COLOURS = {SCHEMA_OVERHEAD: "#c62828", "transition": "#ef6c00"}
CROSSED_COLOUR = "#ef6c00"
OVER_BUDGET = QColor("#c62828")
BAR_WIDTH = 0.6
TABLE_MAX_WIDTH = 250
NO_TURNS: Mapping[int, float] = MappingProxyType({})
TREND_DELAY_MS = 30  # the turn plot is redrawn this long after the stage bars


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def format_ms(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 5 x 10^k at or above `value` (1.0 for nothing): an axis top that changes rarely."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if value <= step * scale * (1 + 1e-9):
            return step * scale
    return 10.0 * scale


def turn_span(turns: list[int] | np.ndarray) -> tuple[float, float]:
    """The x range for turns: from the first turn to the last, rounded up to a multiple of 10 (so the
    turn axis, and its cached pixmap, change once every ten turns rather than at every turn)."""
    if len(turns) == 0:
        return 0.5, 10.5
    first, last = float(min(turns)), float(max(turns))
    return first - 0.5, max(first + 9.0, math.ceil(last / 10.0) * 10.0) + 0.5


class _PlotView(pg.GraphicsLayoutWidget):  # type: ignore[misc]  # pyqtgraph ships no type hints
    """A plot widget that lays its plot out again `settle_ms` after the last of a burst of resizes.

    Laying out a plot redraws its axes' text (tens of ms for both plots); when a neighbouring dock
    changes size several times in one pass of the event loop, only the final size is laid out, and the
    two plots of the panel settle at different times so that no single tick pays for both.
    """

    def __init__(self, settle_ms: int) -> None:
        super().__init__()
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(settle_ms)
        self._settle.timeout.connect(self._lay_out)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self.isVisible():
            self._settle.start()
        else:
            self._lay_out()

    def _lay_out(self) -> None:
        pg.GraphicsLayoutWidget.resizeEvent(self, None)


def _plot(title: str, settle_ms: int,
          with_legend: bool = True) -> tuple[pg.GraphicsLayoutWidget, pg.PlotItem, pg.LegendItem | None]:
    """A white plot, with its legend (if any) in a row of its own above it, so the legend hides no data."""
    widget = _PlotView(settle_ms)
    widget.setBackground("w")
    widget.ci.layout.setContentsMargins(2, 2, 2, 2)
    widget.ci.layout.setSpacing(0)
    legend = None
    if with_legend:
        legend = pg.LegendItem(colCount=4, labelTextSize="8pt", labelTextColor="#37474f", horSpacing=12)
        widget.addItem(legend, row=0, col=0)
    plot = widget.addPlot(row=1, col=0, axisItems={"left": SparseAxis("left")})
    plot.setTitle(title, color="#263238", size="9pt")
    plot.showGrid(y=True, alpha=0.25)
    plot.setMenuEnabled(False)
    # The panel sets the ranges itself, to "nice" bounds that change rarely: autoranging on every
    # redraw would move the axes (and redraw their text) at every turn.
    plot.disableAutoRange()
    plot.setXRange(*turn_span([]), padding=0)
    plot.setYRange(0, 1, padding=0)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen("#90a4ae")
        axis.setTextPen("#37474f")
    texts = [plot.getAxis("left"), plot.getAxis("bottom"), plot.titleLabel, *([legend] if legend else [])]
    for item in texts:
        # Text is the costly part of a repaint; keep it as a pixmap until it changes.
        item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    widget.setMinimumHeight(140)
    return widget, plot, legend


class LatencyPanel(Panel):
    """Per-turn stage latency (stacked bars + budget lines), turn latency, rolling p50/p95 table.

    API (plain data only):
        add_sample(turn, stage, ms, crossed_transition=False): buffer one sample (no drawing).
        load_samples([(turn, stage, ms, crossed_transition), ...]): replace everything (replay).
        reset(): forget every sample.
        shutdown(): stop the refresh timer for good (call when the window closes).
        samples(): the buffered samples, in arrival order.

    The refresh timer runs while the panel is visible; each tick redraws only if samples changed
    since the last redraw (`tick_count` counts ticks, `redraw_count` redraws).
    """

    def __init__(self, parent: QWidget | None = None, budgets: dict[str, float] | None = None,
                 window: int = 50, refresh_ms: int = 100) -> None:
        super().__init__(parent)
        self.budgets = dict(DEFAULT_BUDGETS if budgets is None else budgets)
        self.window_size = window
        self.redraw_count = 0
        self.tick_count = 0
        self._shut_down = False
        self._timer = QTimer(self)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self.refresh)
        self._trends_timer = QTimer(self)
        self._trends_timer.setSingleShot(True)
        self._trends_timer.setInterval(TREND_DELAY_MS)
        self._trends_timer.timeout.connect(self._finish_redraw)
        self._build()
        self.reset()

    # --- widgets

    def _build(self) -> None:
        # The stages' colours are keyed in the table beside the plots: a legend row would squeeze the bars
        self._stages_view, stages_plot, _ = _plot("Stages per turn, stacked (ms)", 15, with_legend=False)
        self._turns_view, turns_plot, turns_legend = _plot("Turn latency by turn (ms)", settle_ms=45)
        assert turns_legend is not None
        self._stages_plot = stages_plot
        self._turns_plot = turns_plot
        self._ranges: dict[str, tuple[float, float, float, float]] = {}
        self._bars = self._add_bars(stages_plot)
        self._curves, self._crossed = self._add_curves(turns_plot, turns_legend)
        self._budget_lines = self._add_budget_lines(stages_plot)
        self._schema_only = QCheckBox("Schema stages only")
        self._schema_only.setToolTip("Hide stt, llm and tts to compare classify + render + transition "
                                     "with the budgets")
        self._schema_only.toggled.connect(self.set_schema_only)
        self.table = self._make_table()
        self.table.setMaximumWidth(TABLE_MAX_WIDTH)  # the plots get the rest
        side = QVBoxLayout()
        side.addWidget(self.table)
        side.addWidget(self._schema_only)
        plots = QVBoxLayout()
        plots.addWidget(self._stages_view, 3)
        plots.addWidget(self._turns_view, 2)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(plots, 1)
        layout.addLayout(side)

    @staticmethod
    def _add_bars(plot: pg.PlotItem) -> dict[str, pg.BarGraphItem]:
        bars = {}
        for stage in STACK_ORDER:
            colour = STAGE_COLOURS[stage]
            bars[stage] = pg.BarGraphItem(x=[], height=[], y0=[], width=BAR_WIDTH, brush=colour,
                                          pen=pg.mkPen("w", width=0.5))
            plot.addItem(bars[stage])
        return bars

    @staticmethod
    def _add_curves(plot: pg.PlotItem, legend: pg.LegendItem) -> tuple[dict[str, pg.PlotDataItem],
                                                                       pg.PlotDataItem]:
        curves = {}
        for stage, symbol in zip(TREND_STAGES, ("o", "s"), strict=True):
            colour = STAGE_COLOURS[stage]
            curves[stage] = plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol=symbol, symbolSize=6,
                                      symbolBrush=colour, symbolPen=None)
            legend.addItem(curves[stage], stage)
        crossed = plot.plot([], [], pen=None, symbol="d", symbolSize=11, symbolBrush=None,
                            symbolPen=pg.mkPen(CROSSED_COLOUR, width=1.6))
        legend.addItem(crossed, "crossed a transition")
        for item in (*curves.values(), crossed):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        return curves, crossed

    def _add_budget_lines(self, plot: pg.PlotItem) -> dict[str, pg.InfiniteLine]:
        lines = {}
        for index, (name, ms) in enumerate(sorted(self.budgets.items(), key=lambda item: -item[1])):
            colour = BUDGET_COLOURS.get(name, "#455a64")
            text = f"{BUDGET_NAMES.get(name, name.replace('_', ' ') + ' budget')} {ms:g} ms"
            right = index % 2 == 1
            lines[name] = pg.InfiniteLine(
                pos=ms, angle=0, movable=False, pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine),
                label=text, labelOpts={"position": 0.98 if right else 0.02, "color": colour,
                                       "anchors": [(1, 1), (1, 1)] if right else [(0, 1), (0, 1)],
                                       "fill": (255, 255, 255, 225)})
            plot.addItem(lines[name], ignoreBounds=False)
        return lines

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, 4)
        table.setHorizontalHeaderLabels(["stage", "n", "p50 ms", "p95 ms"])
        table.setToolTip(f"Rolling over each stage's last {self.window_size} samples (nearest rank); "
                         "schema_overhead is classify + render + transition per turn. Red: p95 over budget.")
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.setMinimumWidth(250)
        table.setMaximumWidth(300)
        return table

    def set_schema_only(self, schema_only: bool) -> None:
        """Show only classify, render and transition bars (zooms in on the budgets)."""
        self._schema_only.setChecked(schema_only)
        for stage, bars in self._bars.items():
            bars.setVisible(not schema_only or stage in SCHEMA_STAGES)
        self._fit_stage_range()

    # --- data in

    def add_sample(self, turn: int, stage: str, ms: float, crossed_transition: bool = False) -> None:
        """Buffer one sample; the next timer tick draws it."""
        self._samples.append((turn, stage, ms, crossed_transition))
        self._windows[stage].append(ms)
        if stage in STACK_ORDER:
            self._per_turn[stage][turn] += ms
        elif stage in TREND_STAGES:
            self._trend[stage][turn] = ms
            if crossed_transition:
                self._crossed_turns.add(turn)
        self._dirty = True

    def load_samples(self, samples: list[tuple[int, str, float, bool]]) -> None:
        """Replace everything with a past call's samples."""
        self.reset()
        for turn, stage, ms, crossed in samples:
            self.add_sample(turn, stage, ms, crossed)

    def reset(self) -> None:
        self._samples: list[Sample] = []
        self._windows: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=self.window_size))
        self._per_turn: defaultdict[str, defaultdict[int, float]] = defaultdict(lambda: defaultdict(float))
        self._trend: defaultdict[str, dict[int, float]] = defaultdict(dict)
        self._crossed_turns: set[int] = set()
        self._dirty = True

    def samples(self) -> list[Sample]:
        return list(self._samples)

    # --- timer

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shut_down:
            self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def shutdown(self) -> None:
        """Stop refreshing for good."""
        self._shut_down = True
        self._timer.stop()
        self._trends_timer.stop()

    def is_refreshing(self) -> bool:
        return self._timer.isActive()

    # --- drawing

    def refresh(self) -> None:
        """Redraw if samples changed since the last redraw (the timer calls this).

        The stage bars and the table are drawn now, the turn plot `TREND_DELAY_MS` later: each plot
        repaints in a pass of the event loop of its own (a repaint that moves the axes costs several ms).
        """
        self.tick_count += 1
        if not self._dirty or self._trends_timer.isActive():
            return
        self._dirty = False
        self._draw_bars()
        self._fill_table()
        self._trends_timer.start()

    def _finish_redraw(self) -> None:
        self._draw_trends()
        self.redraw_count += 1

    def _fit_stage_range(self, turns: list[int] | None = None, tops: np.ndarray | None = None) -> None:
        """All bars and the budget lines, up to a nice bound; in schema-only mode the budgets and the
        schema bars, with room for labels."""
        if turns is None:
            turns = self._stage_turns()
        if self._schema_only.isChecked():
            tallest = max((sum(self._stage_ms(stage).get(turn, 0.0) for stage in SCHEMA_STAGES)
                           for turn in self._schema_turns()), default=0.0)
            top = max(tallest, *self.budgets.values(), 1.0) * 1.2
        else:
            if tops is None:
                tops = self._stack_tops(turns)
            tallest = float(tops.max()) if len(tops) else 0.0
            top = nice_ceiling(max(tallest, *self.budgets.values()) * 1.05)
        self._set_range("stages", self._stages_plot, turns, top)

    def _set_range(self, name: str, plot: pg.PlotItem, turns: list[int], top: float) -> None:
        """Set the plot's range only when it changes (a new range redraws the axes)."""
        wanted = (*turn_span(turns), 0.0, top)
        if self._ranges.get(name) == wanted:
            return
        self._ranges[name] = wanted
        plot.setRange(xRange=wanted[:2], yRange=wanted[2:], padding=0)

    def _stage_turns(self) -> list[int]:
        return sorted({turn for stage in STACK_ORDER for turn in self._stage_ms(stage)})

    def _stack_tops(self, turns: list[int]) -> np.ndarray:
        """The height of each turn's stack of every stage."""
        tops = np.zeros(len(turns))
        for stage in STACK_ORDER:
            per_turn = self._stage_ms(stage)
            tops += np.array([per_turn.get(turn, 0.0) for turn in turns], dtype=float)
        return tops

    def _stage_ms(self, stage: str) -> Mapping[int, float]:
        """A stage's ms by turn (empty for a stage with no sample)."""
        return self._per_turn.get(stage, NO_TURNS)

    def _schema_turns(self) -> list[int]:
        return sorted({turn for stage in SCHEMA_STAGES for turn in self._stage_ms(stage)})

    def _draw_bars(self) -> None:
        turns = self._stage_turns()
        x = np.array(turns, dtype=float)
        base = np.zeros(len(turns))
        for stage in STACK_ORDER:
            per_turn = self._stage_ms(stage)
            heights = np.array([per_turn.get(turn, 0.0) for turn in turns], dtype=float)
            self._bars[stage].setOpts(x=x, height=heights, y0=base.copy(), width=BAR_WIDTH)
            base += heights
        self._fit_stage_range(turns, base)

    def _draw_trends(self) -> None:
        every_turn: set[int] = set()
        tallest = 0.0
        for stage, curve in self._curves.items():
            series = self._trend.get(stage, {})
            turns = sorted(series)
            every_turn.update(turns)
            tallest = max(tallest, *series.values(), 0.0)
            curve.setData(np.array(turns, dtype=float), np.array([series[t] for t in turns], dtype=float))
        self._set_range("turns", self._turns_plot, sorted(every_turn), nice_ceiling(tallest * 1.05))
        crossed = [(turn, value) for turn in sorted(self._crossed_turns)
                   if (value := self._crossed_value(turn)) is not None]
        self._crossed.setData(np.array([t for t, _ in crossed], dtype=float),
                              np.array([v for _, v in crossed], dtype=float))

    def _crossed_value(self, turn: int) -> float | None:
        for stage in TREND_STAGES:
            if turn in self._trend.get(stage, {}):
                return self._trend[stage][turn]
        return None

    def _fill_table(self) -> None:
        rows = [(stage, values) for stage in self._table_stages() if (values := self._window_values(stage))]
        self.table.setRowCount(len(rows))
        for row, (stage, values) in enumerate(rows):
            p50, p95 = percentile(values, 50), percentile(values, 95)
            cells = [stage, str(len(values)), format_ms(p50), format_ms(p95)]
            for column, text in enumerate(cells):
                self._cell(row, column).setText(text)
            colour = STAGE_COLOURS.get(stage)  # the key to the stacked bars' colours
            self._cell(row, 0).setData(Qt.ItemDataRole.DecorationRole, QColor(colour) if colour else None)
            over = stage in self.budgets and p95 > self.budgets[stage]
            self._cell(row, 3).setForeground(OVER_BUDGET if over else self._cell(row, 0).foreground())

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        """The table's item at (row, column), made once and then updated in place."""
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            if column:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        return item

    def _table_stages(self) -> list[str]:
        extra = sorted(set(self._windows) - set(TABLE_ORDER))
        return [*TABLE_ORDER, *extra]

    def _window_values(self, stage: str) -> list[float]:
        if stage == SCHEMA_OVERHEAD:
            turns = self._schema_turns()[-self.window_size:]
            return [sum(self._stage_ms(s).get(t, 0.0) for s in SCHEMA_STAGES) for t in turns]
        return list(self._windows.get(stage, ()))

    # --- read-outs (for tests and the main window)

    def percentiles(self, stage: str) -> tuple[float, float]:
        """(p50, p95) of the stage's rolling window, as the table shows after the next redraw."""
        values = self._window_values(stage)
        return percentile(values, 50), percentile(values, 95)

    def left_axes(self) -> dict[str, SparseAxis]:
        """The y axes of the stages and turns plots."""
        return {"stages": self._stages_plot.getAxis("left"), "turns": self._turns_plot.getAxis("left")}

    def bar_data(self, stage: str) -> tuple[list[float], list[float], list[float]]:
        """What the stage's bars show: (turns, bottoms, heights)."""
        opts = self._bars[stage].opts
        turns, bottoms, heights = ([float(v) for v in opts[key]] for key in ("x", "y0", "height"))
        return turns, bottoms, heights

    def curve_data(self, stage: str) -> tuple[list[float], list[float]]:
        """What a trend curve ("voice_to_voice" or "turn") shows: (turns, ms)."""
        x, y = self._curves[stage].getOriginalDataset()
        return ([] if x is None else [float(v) for v in x]), ([] if y is None else [float(v) for v in y])

    def table_rows(self) -> dict[str, tuple[str, str, str]]:
        """The table's text: stage -> (n, p50, p95)."""
        rows = {}
        for row in range(self.table.rowCount()):
            items = [self.table.item(row, column) for column in range(4)]
            cells = [item.text() if item is not None else "" for item in items]
            rows[cells[0]] = (cells[1], cells[2], cells[3])
        return rows

    def budget_lines(self) -> dict[str, float]:
        """Budget name -> the y position of its dashed line."""
        return {name: float(line.value()) for name, line in self._budget_lines.items()}
