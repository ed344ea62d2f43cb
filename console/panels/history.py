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

from console.slots import async_slot
from console.widgets import Panel

if TYPE_CHECKING:
    from console.controllers import CallController, HistoryController

COLUMNS = ["Started", "Schema", "Patient", "Status", "Mode", "Call"]
LIMIT = 200


class HistoryPanel(Panel):
    def __init__(self, history: HistoryController, controller: CallController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history, self._controller = history, controller
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
        self.play_button, self.stop_play_button = QPushButton("▶ Play recording"), QPushButton("■ Stop")
        self.stop_play_button.setToolTip("Stop playing the recording")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self.open_selected)
        self.play_button.clicked.connect(self.play_selected)
        self.stop_play_button.clicked.connect(history.stop_playback)
        buttons = QHBoxLayout()
        buttons.addWidget(self.notice, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.stop_play_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        history.historyChanged.connect(self.refresh)
        history.playingChanged.connect(self._update_enabled)
        controller.callStateChanged.connect(self._update_enabled)
        self._update_enabled()

    def refresh(self) -> None:
        available, reason = self._history.status()
        self.notice.setText("" if available else reason)
        self.table.setEnabled(available)
        self.table.clear()
        for call in self._history.calls(LIMIT):
            self.table.addTopLevelItem(_row(call))
        self._update_enabled()

    def _items(self) -> list[QTreeWidgetItem]:
        found = (self.table.topLevelItem(i) for i in range(self.table.topLevelItemCount()))
        return [item for item in found if item is not None]

    def call_ids(self) -> list[str]:
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in self._items()]

    def select_call(self, call_id: str) -> None:
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole) == call_id:
                self.table.setCurrentItem(item)

    def open_selected(self) -> None:
        item = self.table.currentItem()
        if item is not None:
            self._history.replay(item.data(0, Qt.ItemDataRole.UserRole))

    def selected_call(self) -> str:
        item = self.table.currentItem()
        return "" if item is None else str(item.data(0, Qt.ItemDataRole.UserRole))

    @async_slot()
    async def play_selected(self) -> None:
        call_id = self.selected_call()
        if call_id:
            await self._history.play_recording(call_id)

    def _update_enabled(self) -> None:
        call_id, playing = self.selected_call(), self._history.playing
        self.open_button.setEnabled(bool(call_id) and not self._controller.is_live)
        recording = self._history.recording_of(call_id) if call_id else None
        self.play_button.setEnabled(recording is not None and not playing)
        self.play_button.setToolTip(
            "Play the call's recorded audio through the chosen output device" if recording
            else "No recorded audio for this call (record a voice call with “Record audio”)")
        self.stop_play_button.setEnabled(playing)


def _row(call: dict[str, Any]) -> QTreeWidgetItem:
    started = datetime.fromtimestamp(call["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
    item = QTreeWidgetItem([started, call["schema"], call["patient_id"], call["status"], call["mode"],
                            call["call_id"]])
    item.setData(0, Qt.ItemDataRole.UserRole, call["call_id"])
    return item
