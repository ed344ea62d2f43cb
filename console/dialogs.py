"""The console's dialogs in one injectable object; tests pass a scripted subclass.

`error` never blocks (it may be raised from inside a coroutine, where a nested
event loop would re-enter asyncio); the questions block, so call them only from
plain (non-async) slots.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget


class Dialogs:
    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent
        self._error_box: QMessageBox | None = None
        self._info_box: QMessageBox | None = None

    def error(self, title: str, message: str) -> None:
        """Show an error without waiting; a second error while one is shown joins it."""
        box = self._error_box
        if box is not None and box.isVisible():
            box.setText(f"{box.text()}\n\n{message}")
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                          self.parent)
        box.setModal(False)
        box.open()
        self._error_box = box

    def inform(self, title: str, text: str) -> None:
        """Show information without waiting (e.g. Help ▸ Keyboard shortcuts)."""
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok,
                          self.parent)
        box.setModal(False)
        box.open()
        self._info_box = box

    def confirm(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self.parent, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def choose(self, title: str, label: str, items: list[str], current: str = "") -> str | None:
        index = items.index(current) if current in items else 0
        choice, ok = QInputDialog.getItem(self.parent, title, label, items, index, False)
        return choice if ok and choice else None

    def open_file(self, title: str, directory: str, name_filter: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, title, directory, name_filter)
        return path or None

    def save_file(self, title: str, suggested: str, name_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.parent, title, suggested, name_filter)
        return path or None
