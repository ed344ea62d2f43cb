"""How the console's controllers tell the operator things: notices on the status line, failures on the
status line and in a dialog, every text with the shown call's patient values redacted.

CallController is a Reporter; the panels and the other controllers call `call.notify`, `call.say_failed`,
`call.report_failure` and `call.safe`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, QTimer, Signal

from engine.describe import describe
from engine.errors import EngineError
from engine.logs import REDACTOR, Redactor, safe_line


class Reporter(QObject):
    """Notices on `messageShown`, failures on `failed`; `_redactor` holds the shown call's values."""

    messageShown = Signal(str)  # a status-line notice
    failed = Signal(str, str)  # title, message: shown on the status line and in a dialog

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._redactor: Redactor = REDACTOR  # the shown call's patient values, kept after it ends

    def report_failure(self, title: str, error: BaseException) -> None:
        """Say on `failed` what went wrong (unexpected errors are logged with their traceback)."""
        if not isinstance(error, EngineError):
            logger.opt(exception=error).error(title)
        self.say_failed(title, "\n".join(describe(error)))

    def notify(self, text: str) -> None:
        """The one way a notice reaches the status line."""
        self.messageShown.emit(self.safe(text))

    def say_failed(self, title: str, message: str) -> None:
        """The one way a failure reaches the status line and a dialog."""
        self.failed.emit(self.safe(title), self.safe(message))

    def safe(self, text: str) -> str:
        """`text` as the console may show it: the shown call's patient values redacted (and any
        live call's), control characters escaped. Transcript and prompts show values on purpose."""
        return safe_line(REDACTOR.scrub(text), self._redactor)


def single_shot(parent: QObject, interval_ms: int, slot: Callable[[], Any]) -> QTimer:
    """A single-shot timer owned by `parent` that calls `slot`."""
    timer = QTimer(parent, singleShot=True, interval=interval_ms)
    timer.timeout.connect(slot)
    return timer
