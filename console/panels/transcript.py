"""Transcript: caller and bot turns, function calls, transitions and errors, live as they stream."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from console.widgets import Panel, show_format_tooltip

if TYPE_CHECKING:
    from console.controllers import CallController

MAX_BLOCKS = 5000
COLOURS = {"caller": "#1565c0", "bot": "#2e7d32", "function": "#6a1b9a", "transition": "#455a64",
           "forced": "#e65100", "error": "#c62828", "call": "#37474f", "why": "#8d6e63"}


RELAYOUT_SETTLE_MS = 30


class _TranscriptView(QTextBrowser):
    """A text browser that re-wraps its text once a burst of resizes has settled.

    A width change re-lays out the whole transcript (a millisecond or more for a long call); when the
    neighbouring docks change size several times in one pass of the event loop, only the last width
    is laid out.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: QResizeEvent | None = None
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(RELAYOUT_SETTLE_MS)
        self._settle.timeout.connect(self._relayout)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if not self.isVisible():
            super().resizeEvent(event)
            return
        old = self._pending.oldSize() if self._pending is not None else event.oldSize()
        self._pending = QResizeEvent(event.size(), old)
        self._settle.start()

    def viewportEvent(self, event: QEvent) -> bool:
        return show_format_tooltip(self, event) or super().viewportEvent(event)

    def _relayout(self) -> None:
        event, self._pending = self._pending, None
        if event is not None:
            super().resizeEvent(QResizeEvent(self.size(), event.oldSize()))


class TranscriptPanel(Panel):
    def __init__(self, controller: CallController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = _TranscriptView()
        self.view.setOpenLinks(False)
        self.view.document().setMaximumBlockCount(MAX_BLOCKS)
        self.view.setPlaceholderText("The call's turns, function calls and transitions appear here.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.view)
        controller.timelineReset.connect(self.view.clear)
        controller.callStarted.connect(self._on_started)
        controller.callerSaid.connect(self._on_caller)
        controller.turnClassified.connect(self._on_classified)
        controller.botSaid.connect(self._on_bot)
        controller.functionCalled.connect(self._on_function)
        controller.transitionTaken.connect(self._on_transition)
        controller.callError.connect(self._on_error)
        controller.callEnded.connect(self._on_ended)

    def add(self, at: float, kind: str, who: str, text: str, note: str = "", hover: str = "") -> None:
        """Append one line: time, who (coloured), text (`hover` is its tooltip) and an optional grey note."""
        time = datetime.fromtimestamp(at).strftime("%H:%M:%S")
        note_html = f' <span style="color:#90a4ae">({html.escape(note)})</span>' if note else ""
        body = html.escape(text)
        if hover:
            body = f'<span title="{html.escape(hover, quote=True)}" style="color:#1b5e20">{body}</span>'
        self.view.append(f'<span style="color:#90a4ae">{time}</span> '
                         f'<b style="color:{COLOURS[kind]}">{html.escape(who)}</b> {body}{note_html}')

    def tooltip_at_text(self, text: str) -> str:
        """The tooltip on the first occurrence of `text` ("" if none), as hovering it would show."""
        found = self.view.document().find(text)
        return found.charFormat().toolTip() if not found.isNull() else ""

    def text(self) -> str:
        return self.view.toPlainText()

    def _on_started(self, at: float, info: dict[str, Any]) -> None:
        self.add(at, "call", "Call started", f"{info['schema']} · {info['mode']} · {info['responder']}",
                 info["call_id"])

    def _on_caller(self, at: float, text: str, source: str) -> None:
        self.add(at, "caller", "Caller", text, source)

    def _on_classified(self, at: float, why: dict[str, Any]) -> None:
        """The detail line under a caller turn: what the classifier chose and by which rule; hovering
        it lists every candidate with its score."""
        self.add(at, "why", "  ↳ why", why_line(why), hover=why_hover(why))

    def _on_bot(self, at: float, written: str, spoken: str) -> None:
        self.add(at, "bot", "Bot", written, hover=f"spoken as: {spoken}" if spoken != written else "")

    def _on_function(self, at: float, name: str, arguments: dict[str, Any], result: dict[str, Any]) -> None:
        self.add(at, "function", f"ƒ {name}", f"{_json(arguments)} → {_json(result)}")

    def _on_transition(self, at: float, source: str, target: str, intent: str, forced: bool) -> None:
        if forced:
            self.add(at, "forced", "⇢ FORCED", f"{source} → {target}")
        else:
            self.add(at, "transition", "→", f"{source} → {target}", intent)

    def _on_error(self, at: float, message: str, source: str, fatal: bool) -> None:
        self.add(at, "error", "Error" + (" (fatal)" if fatal else ""), message, source)

    def _on_ended(self, at: float, status: str, reason: str) -> None:
        self.add(at, "error" if status == "failed" else "call", f"Call {status}", reason)


def why_line(why: dict[str, Any]) -> str:
    """"cancel · semantic 0.62, lead 0.21"; "cancel · keyword 0.90 · matched “cancel”" (a lead over
    the runner-up only when there was one); "no intent · near_tie 0.57, lead 0.07 · asked: cancel or
    reschedule"."""
    chosen = why["intent"] or "no intent"
    line = f"{chosen} · {why['rule']} {why['confidence']:.2f}"
    if len(why["candidates"]) > 1:
        line += f", lead {why['margin']:.2f}"
    if why["matched"]:
        line += f" · matched “{why['matched']}”"
    if why["asked"]:
        line += f" · asked: {' or '.join(why['asked'])}"
    return line


def why_hover(why: dict[str, Any]) -> str:
    rows = [f"{intent}: {score:.3f}" for intent, score in why["candidates"]]
    return "candidates (best first)\n" + "\n".join(rows) if rows else "no candidates"


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
