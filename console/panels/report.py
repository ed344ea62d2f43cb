"""Performance report of the current or last call; the controller throttles its updates.

On top, per turn, a stacked bar of its parts with the worst turn and its biggest part called out;
below, p50/p95/p99 per stage and the report's own keys as a tree.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.panels.latency import format_ms
from console.panels.turn_bars import PART_NAMES, Sample, TurnBars, worst_turn
from console.widgets import ElidedLabel, Panel

if TYPE_CHECKING:
    from console.controllers import CallController

STAGE_COLUMNS = ("stage", "n", "p50 ms", "p95 ms", "p99 ms", "max ms")
SUMMARY_KEYS = {"count", "mean", "p50", "p95", "p99", "max"}
EXPANDED_BY_DEFAULT = {("stages",), ("turn_breakdown",), ("schema_overhead_per_turn",)}


class ReportPanel(Panel):
    def __init__(self, controller: CallController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: dict[str, Any] = {}
        self._samples: list[Sample] = []
        self.worst_label = ElidedLabel("No turns yet")
        self.worst_label.setStyleSheet("font-weight: bold; color: #37474f;")
        self.bars = TurnBars()
        bars_scroll = QScrollArea()
        bars_scroll.setWidgetResizable(True)
        bars_scroll.setWidget(self.bars)
        self.stage_table = QTableWidget(0, len(STAGE_COLUMNS))
        self.stage_table.setHorizontalHeaderLabels(list(STAGE_COLUMNS))
        self.stage_table.verticalHeader().hide()
        self.stage_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stage_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.stage_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Metric", "Value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self._expanded: set[tuple[str, ...]] = set(EXPANDED_BY_DEFAULT)
        self._stale = False  # a report came while the panel was hidden; the tree shows an older one
        self.tree.itemExpanded.connect(lambda item: self._expanded.add(_path(item)))
        self.tree.itemCollapsed.connect(lambda item: self._expanded.discard(_path(item)))
        figures = QSplitter(Qt.Orientation.Horizontal)
        figures.addWidget(self.stage_table)
        figures.addWidget(self.tree)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.worst_label)
        top_layout.addWidget(bars_scroll, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(figures)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        controller.reportChanged.connect(self.show_report)
        controller.timelineReset.connect(self.clear)
        controller.latencySample.connect(self._add_sample)
        controller.latencyReplayed.connect(self._load_samples)

    def _add_sample(self, turn: int, stage: str, ms: float, crossed: bool) -> None:
        self._samples.append((turn, stage, ms, crossed))  # drawn with the next report

    def _load_samples(self, samples: list[Sample]) -> None:
        self._samples = list(samples)

    def clear(self) -> None:
        self.report = {}
        self._samples = []
        self._stale = False
        self.tree.clear()
        self.stage_table.setRowCount(0)
        self.bars.set_samples([])
        self.worst_label.set_full_text("No turns yet")

    def show_report(self, report: dict[str, Any]) -> None:
        """Show a report; while the panel is hidden (a tab behind another) the tree is filled when shown."""
        self.report = report
        if self.isVisible():
            self._fill()
        else:
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:
        if self._stale:
            self._fill()
        super().showEvent(event)

    def _fill(self) -> None:
        self._stale = False
        self._fill_figures()
        report = self.report
        self.tree.setUpdatesEnabled(False)
        self.tree.clear()
        for key, value in _ordered(report):
            self._add(self.tree.invisibleRootItem(), key, value)
        self.tree.setUpdatesEnabled(True)

    def _fill_figures(self) -> None:
        self.bars.set_samples(self._samples)
        worst = worst_turn(self.bars.parts)
        self.worst_label.set_full_text(
            f"Worst turn: {worst[0]}, {format_ms(worst[3])} ms; its biggest part: "
            f"{PART_NAMES[worst[1]]}, {format_ms(worst[2])} ms" if worst else "No turns yet")
        stages = self.report.get("stages", {})
        self.stage_table.setRowCount(len(stages))
        for row, (stage, stats) in enumerate(stages.items()):
            cells = [stage, str(stats.get("count", 0))] + [format_ms(float(stats.get(key, 0.0)))
                                                            for key in ("p50", "p95", "p99", "max")]
            for column, text in enumerate(cells):
                self.stage_table.setItem(row, column, QTableWidgetItem(text))

    def value_of(self, *path: str) -> str:
        """The shown value at a path of keys (for tests and read-outs)."""
        if self._stale:
            self._fill()
        parent = self.tree.invisibleRootItem()
        item = None
        for key in path:
            children = (parent.child(i) for i in range(parent.childCount()))
            item = next((child for child in children
                         if child is not None and child.data(0, _KEY_ROLE) == key), None)
            if item is None:
                raise KeyError(path)
            parent = item
        return item.text(1) if item else ""

    def _add(self, parent: QTreeWidgetItem, key: str, value: Any) -> None:
        item = QTreeWidgetItem(parent, [_label(key), ""])
        item.setData(0, _KEY_ROLE, key)
        if isinstance(value, dict) and value.keys() >= SUMMARY_KEYS:
            item.setText(1, _summary(value))
        elif isinstance(value, dict):
            for child_key, child in _ordered(value):
                self._add(item, child_key, child)
        elif key == "transition_details":
            item.setText(1, f"{len(value)}")
            for detail in value:
                QTreeWidgetItem(item, [f"turn {detail.get('turn', '?')}", _transition(detail)])
        elif isinstance(value, list):
            item.setText(1, " → ".join(map(str, value)))
        else:
            item.setText(1, _scalar(value))
        item.setExpanded(_path(item) in self._expanded)


_KEY_ROLE = Qt.ItemDataRole.UserRole + 1


def _ordered(mapping: dict[str, Any]) -> list[tuple[str, Any]]:
    """Plain values first, then sections, each in the report's own order."""
    return sorted(mapping.items(), key=lambda pair: isinstance(pair[1], (dict, list)))


def _path(item: QTreeWidgetItem) -> tuple[str, ...]:
    keys = []
    node: QTreeWidgetItem | None = item
    while node is not None:
        keys.append(str(node.data(0, _KEY_ROLE)))
        node = node.parent()
    return tuple(reversed(keys))


def _label(key: str) -> str:
    return re.sub(r"_ms$", " (ms)", key).replace("_", " ")


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _summary(stats: dict[str, float]) -> str:
    if not stats["count"]:
        return "no samples"
    return (f"n={stats['count']}  mean {stats['mean']:.2f}  p50 {stats['p50']:.2f}  p95 {stats['p95']:.2f}  "
            f"p99 {stats['p99']:.2f}  max {stats['max']:.2f} ms")


def _transition(detail: dict[str, Any]) -> str:
    how = "FORCED" if detail.get("forced") else detail.get("intent") or ""
    return f"{detail.get('from')} → {detail.get('to')}  ({how}, {detail.get('ms', 0):.2f} ms)"
