"""History: past calls from the call store; opening one replays it into the other panels."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from console.controller import CallController

COLUMNS = ["Started", "Schema", "Patient", "Status", "Mode", "Call"]
LIMIT = 200


class HistoryPanel(QWidget):
    def __init__(self, controller: CallController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.table = QTreeWidget()
        self.table.setHeaderLabels(COLUMNS)
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemDoubleClicked.connect(self.open_selected)
        self.table.itemSelectionChanged.connect(self._update_enabled)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.refresh_button, self.open_button = QPushButton("Refresh"), QPushButton("Open")
        self.open_button.setToolTip("Replay the selected call into the graph, transcript, prompt and latency")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self.open_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.notice, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        controller.historyChanged.connect(self.refresh)
        controller.callStateChanged.connect(self._update_enabled)

    def refresh(self) -> None:
        available, reason = self._controller.history.status()
        self.notice.setText("" if available else reason)
        self.table.setEnabled(available)
        self.table.clear()
        for call in self._controller.history.calls(LIMIT):
            self.table.addTopLevelItem(_row(call))
        self._update_enabled()

    def call_ids(self) -> list[str]:
        return [self.table.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
                for i in range(self.table.topLevelItemCount())]

    def select_call(self, call_id: str) -> None:
        for index in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(index)
            if item.data(0, Qt.ItemDataRole.UserRole) == call_id:
                self.table.setCurrentItem(item)

    def open_selected(self) -> None:
        item = self.table.currentItem()
        if item is not None:
            self._controller.replay(item.data(0, Qt.ItemDataRole.UserRole))

    def _update_enabled(self) -> None:
        self.open_button.setEnabled(self.table.currentItem() is not None and not self._controller.is_live)


def _row(call: dict[str, Any]) -> QTreeWidgetItem:
    started = datetime.fromtimestamp(call["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
    item = QTreeWidgetItem([started, call["schema"], call["patient_id"], call["status"], call["mode"],
                            call["call_id"]])
    item.setData(0, Qt.ItemDataRole.UserRole, call["call_id"])
    return item
