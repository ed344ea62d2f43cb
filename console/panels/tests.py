"""Tests: the schema test cases, run all or some, or step through one turn by turn.

Fed plain data by the controller; it never imports the engine or Pipecat.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.widgets import ElidedLabel, Panel

CaseKey = tuple[str, str]  # (schema, case)

CASE_COLUMN, RESULT_COLUMN, TIME_COLUMN = 0, 1, 2
KEY_ROLE = Qt.ItemDataRole.UserRole
PASS_COLOUR, FAIL_COLOUR, RUNNING_COLOUR = QColor("#2e7d32"), QColor("#c62828"), QColor("#546e7a")


class TestsPanel(Panel):
    """The cases of the loaded test scripts, grouped by schema, with their results.

    Plain data in: `set_cases`, `set_running`, `set_result`, `set_coverage`, `stop_stepping`.

    Signals:
        runRequested(list): the (schema, case) pairs to run ("Run selected", "Run all", double-click).
        stepRequested(tuple): the (schema, case) to step through; the panel is then stepping, and
            "Next turn" is enabled until that case's result arrives (or `stop_stepping()`).
        nextStepRequested(): play the stepped case's next turn.
    """

    __test__ = False  # not a pytest test class

    runRequested = Signal(list)
    stepRequested = Signal(tuple)
    nextStepRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: dict[CaseKey, QTreeWidgetItem] = {}
        self._schemas: dict[str, QTreeWidgetItem] = {}
        self._details: dict[CaseKey, str] = {}
        self._stepping: CaseKey | None = None
        self._build()
        self._update_buttons()

    def _build(self) -> None:
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Case", "Result", "Time"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(CASE_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setStretchLastSection(False)
        self.tree.itemSelectionChanged.connect(self._on_selection_changed)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select a case to see why it failed.")
        self.next_step_label = ElidedLabel()
        self.next_step_label.setStyleSheet("color: #1565c0;")
        self.coverage_label = QLabel("Coverage: not run yet")
        self.coverage_label.setWordWrap(True)
        self.coverage_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_selected_button = QPushButton("Run selected")
        self.run_all_button = QPushButton("Run all")
        self.step_button = QPushButton("Step through")
        self.next_button = QPushButton("Next turn")
        self.run_selected_button.clicked.connect(self._run_selected)
        self.run_all_button.clicked.connect(self._run_all)
        self.step_button.clicked.connect(self.step_through)
        self.next_button.clicked.connect(self.next_turn)
        self.step_button.setToolTip("Play the selected case one caller turn at a time (F9)")
        self.next_button.setToolTip("Send the stepped case's next caller turn (F10)")
        self._lay_out()

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.run_selected_button, self.run_all_button, self.step_button, self.next_button):
            buttons.addWidget(button)
        buttons.addWidget(self.next_step_label, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.coverage_label)

    # ----- plain data in ---------------------------------------------------------------------------

    def set_cases(self, cases: list[tuple[str, str]]) -> None:
        """Show these (schema, case) pairs, grouped by schema in the order given; clears every result."""
        self.tree.clear()
        self._items.clear()
        self._schemas.clear()
        self._details.clear()
        self._stepping = None
        for schema, case in cases:
            item = QTreeWidgetItem(self._schema_item(schema), [case, "", ""])
            item.setData(CASE_COLUMN, KEY_ROLE, (schema, case))
            self._items[(schema, case)] = item
        self.tree.expandAll()
        self.detail.clear()
        self._update_buttons()

    def set_running(self, schema: str, case: str) -> None:
        item = self._items.get((schema, case))
        if item is None:
            return
        self._details.pop((schema, case), None)
        self._show_result(item, "stepping…" if self._stepping == (schema, case) else "running…",
                          RUNNING_COLOUR, "")
        self._show_detail_if_current(item)

    def set_result(self, schema: str, case: str, passed: bool, detail: str, ms: float) -> None:
        """A case's outcome; it also ends stepping through that case."""
        key = (schema, case)
        item = self._items.get(key)
        if item is None:
            return
        self._details[key] = detail
        self._show_result(item, "PASS" if passed else "FAIL", PASS_COLOUR if passed else FAIL_COLOUR,
                          f"{ms:.1f} ms")
        self._update_summary(schema)
        if self._stepping == key:
            self.stop_stepping()
        self._show_detail_if_current(item)

    def set_coverage(self, text: str, detail: str = "") -> None:
        """The coverage summary, and every state and transition missed as its tooltip."""
        self.coverage_label.setText(text)
        self.coverage_label.setToolTip(detail)

    def stop_stepping(self) -> None:
        self._stepping = None
        self.next_step_label.set_full_text("")
        self._update_buttons()

    # ----- what the panel shows ----------------------------------------------------------------

    @property
    def stepping(self) -> CaseKey | None:
        return self._stepping

    def cases(self) -> list[CaseKey]:
        return list(self._items)

    def selected_cases(self) -> list[CaseKey]:
        """Selected cases, plus every case of a selected schema, in the tree's order."""
        chosen: set[CaseKey] = set()
        for item in self.tree.selectedItems():
            key = item.data(CASE_COLUMN, KEY_ROLE)
            if key is not None:
                chosen.add(tuple(key))
            else:
                children = (item.child(i) for i in range(item.childCount()))
                chosen.update(tuple(child.data(CASE_COLUMN, KEY_ROLE)) for child in children
                              if child is not None)
        return [key for key in self._items if key in chosen]

    def result_of(self, schema: str, case: str) -> tuple[str, str]:
        """The (result, time) texts shown for a case."""
        item = self._items[(schema, case)]
        return item.text(RESULT_COLUMN), item.text(TIME_COLUMN)

    def summary_of(self, schema: str) -> str:
        return self._schemas[schema].text(RESULT_COLUMN)

    def select(self, keys: list[CaseKey]) -> None:
        self.tree.clearSelection()
        for key in keys:
            if (item := self._items.get(key)) is not None:
                item.setSelected(True)
                self.tree.setCurrentItem(item, CASE_COLUMN, QItemSelectionModel.SelectionFlag.Select)

    # ----- helpers -----------------------------------------------------------------------------

    def _schema_item(self, schema: str) -> QTreeWidgetItem:
        if (item := self._schemas.get(schema)) is None:
            item = QTreeWidgetItem(self.tree, [schema, "", ""])
            font = QFont(item.font(CASE_COLUMN))
            font.setBold(True)
            item.setFont(CASE_COLUMN, font)
            self._schemas[schema] = item
        return item

    @staticmethod
    def _show_result(item: QTreeWidgetItem, text: str, colour: QColor, time_text: str) -> None:
        item.setText(RESULT_COLUMN, text)
        item.setForeground(RESULT_COLUMN, QBrush(colour))
        item.setText(TIME_COLUMN, time_text)

    def _update_summary(self, schema: str) -> None:
        results = [item.text(RESULT_COLUMN) for key, item in self._items.items() if key[0] == schema]
        passed, failed = results.count("PASS"), results.count("FAIL")
        text = f"{passed}/{len(results)} passed" + (f", {failed} failed" if failed else "")
        self._show_result(self._schemas[schema], text, FAIL_COLOUR if failed else PASS_COLOUR, "")

    def _show_detail_if_current(self, item: QTreeWidgetItem) -> None:
        if self.tree.currentItem() is item:
            self._show_detail(item)

    def _on_selection_changed(self) -> None:
        self._show_detail(self.tree.currentItem())
        self._update_buttons()

    def _on_current_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        self._show_detail(current)

    def _show_detail(self, item: QTreeWidgetItem | None) -> None:
        key = item.data(CASE_COLUMN, KEY_ROLE) if item is not None else None
        self.detail.setPlainText(self._details.get(tuple(key), "") if key is not None else "")

    def _update_buttons(self) -> None:
        idle = self._stepping is None
        self.run_all_button.setEnabled(idle and bool(self._items))
        self.run_selected_button.setEnabled(idle and bool(self.selected_cases()))
        self.step_button.setEnabled(idle and len(self.selected_cases()) == 1)
        self.next_button.setEnabled(not idle)

    def _run_selected(self) -> None:
        if chosen := self.selected_cases():
            self.runRequested.emit(chosen)

    def _run_all(self) -> None:
        if self._items:
            self.runRequested.emit(list(self._items))

    def show_next_step(self, number: int, total: int, text: str) -> None:
        """The stepped case's next caller turn, before Next turn sends it."""
        self.next_step_label.set_full_text(f"Next ({number}/{total}): {text}")

    def next_turn(self) -> None:
        if self._stepping is not None:
            self.nextStepRequested.emit()

    def step_through(self) -> None:
        chosen = self.selected_cases()
        if len(chosen) != 1 or self._stepping is not None:
            return
        self._stepping = chosen[0]
        self._update_buttons()
        self.stepRequested.emit(chosen[0])

    def _on_double_click(self, item: QTreeWidgetItem, _column: int) -> None:
        key = item.data(CASE_COLUMN, KEY_ROLE)
        if key is not None and self._stepping is None:
            self.runRequested.emit([tuple(key)])
