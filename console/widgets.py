"""Small widgets the panels share."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QHelpEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QTextBrowser, QToolTip, QWidget


class ElidedLabel(QLabel):
    """One line of text cut with "…" to the width it is given; it never asks for more width.

    The whole text is its tooltip and `full_text()`.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text if text else "")
        self._elide()

    def full_text(self) -> str:
        return self._full

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        line = self._full.splitlines()[0] if self._full else ""
        self.setText(self.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, max(self.width(), 0)))


class Panel(QWidget):
    """A dock's content. Its size hint is its minimum size, which the window fixes: what the panel shows
    never changes either, so content never resizes the dock (it elides, wraps or scrolls inside)."""

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSizeHint(self) -> QSize:
        return self.minimumSize()


def show_format_tooltip(view: QTextBrowser, event: QEvent) -> bool:
    """Show the tooltip of the text under the mouse (set on its char format); True if `event` asked."""
    if event.type() != QEvent.Type.ToolTip or not isinstance(event, QHelpEvent):
        return False
    tip = view.cursorForPosition(event.pos()).charFormat().toolTip()
    if tip:
        QToolTip.showText(event.globalPos(), tip, view)
    else:
        QToolTip.hideText()
    return True
