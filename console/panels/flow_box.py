"""A plain Pipecat flow's handlers module and initial state, in Call setup.

Loading a flow with its handlers module imports it, which runs its code: the box names the module only
after the operator agreed in a confirmation dialog (as for `voice-console gui --handlers FILE`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QPushButton, QWidget

from console.dialogs import Dialogs
from console.widgets import ElidedLabel

IMPORT_TITLE = "Import the flow's handlers?"
NONE_CHOSEN = "none"


def import_question(path: str) -> str:
    return (f"Loading this flow imports {Path(path).name} ({path}), which runs its Python code on this "
            "computer with your permissions. Import it only if you trust it. Import it?")


class FlowBox(QWidget):
    """Handlers (.py) and State (.json) rows, each with Choose… and Clear; `changed` on every change."""

    changed = Signal()

    def __init__(self, dialogs: Dialogs, folder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dialogs, self._folder = dialogs, folder
        self.handlers = self.state = ""
        self.handlers_label, self.state_label = ElidedLabel(NONE_CHOSEN), ElidedLabel(NONE_CHOSEN)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Handlers", self._row(self.handlers_label, self.choose_handlers, "handlers"))
        form.addRow("State", self._row(self.state_label, self.choose_state, "state"))

    def _row(self, label: ElidedLabel, choose: Callable[[], None], key: str) -> QHBoxLayout:
        row = QHBoxLayout()
        choose_button, clear_button = QPushButton("…"), QPushButton("×")
        for button, tip in ((choose_button, f"Choose the flow's {key} file"), (clear_button, "None")):
            button.setFixedWidth(28)
            button.setToolTip(tip)
        choose_button.clicked.connect(choose)
        clear_button.clicked.connect(lambda _checked=False: self.set_files(
            "" if key == "handlers" else self.handlers, "" if key == "state" else self.state))
        row.addWidget(label, 1)
        row.addWidget(choose_button)
        row.addWidget(clear_button)
        return row

    def choose_handlers(self) -> None:
        path = self._dialogs.open_file("Open the flow's handlers module", self._folder, "Python (*.py)")
        if path:
            self.offer_handlers(path)

    def offer_handlers(self, path: str) -> bool:
        """Name `path` as the handlers module if the operator agrees to import it."""
        if not self._dialogs.confirm(IMPORT_TITLE, import_question(path)):
            return False
        self.set_files(path, self.state)
        return True

    def choose_state(self) -> None:
        path = self._dialogs.open_file("Open the flow's initial state", self._folder, "State (*.json)")
        if path:
            self.set_files(self.handlers, path)

    def set_files(self, handlers: str, state: str) -> None:
        self.handlers, self.state = handlers, state
        for label, chosen in ((self.handlers_label, handlers), (self.state_label, state)):
            label.set_full_text(Path(chosen).name if chosen else NONE_CHOSEN)
            label.setToolTip(chosen)
        self.changed.emit()
