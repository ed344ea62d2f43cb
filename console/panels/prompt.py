"""Prompt: the scripted line and task prompt of the current node, or of a node picked in the graph.

Values that come from the patient record are highlighted; hovering one shows its
field and raw value, and "Field tags" writes the field names inline. "Template"
shows the Jinja source instead of the rendered text. Play speaks the line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.panels import NodeView, SchemaInfo, Segment
from console.slots import async_slot
from console.widgets import ElidedLabel, Panel, show_format_tooltip

if TYPE_CHECKING:
    from console.controllers import CallController, VoiceAdapter

VALUE_BACKGROUND = QColor("#fff3bf")
TAG_COLOUR = QColor("#8d6e63")
CODE_COLOUR = QColor("#6a1b9a")
FIELD_PROPERTY = QTextCharFormat.Property.UserProperty + 1
_JINJA = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)


class SegmentText(QTextBrowser):
    """Read-only text built from segments; a highlighted value's tooltip names its field."""

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setPlaceholderText(placeholder)

    def show_segments(self, segments: list[Segment], tags: bool) -> None:
        self.clear()
        cursor = QTextCursor(self.document())
        for text, field, raw in segments:
            if not field:
                cursor.insertText(text, QTextCharFormat())
                continue
            cursor.insertText(text, _value_format(field, raw, text))
            if tags:
                cursor.insertText(f" ⟨{field}⟩", _tag_format())

    def show_source(self, source: str) -> None:
        self.clear()
        cursor = QTextCursor(self.document())
        code = QTextCharFormat()
        code.setForeground(CODE_COLOUR)
        for part in _JINJA.split(source.strip()):
            cursor.insertText(part, code if _JINJA.fullmatch(part) else QTextCharFormat())

    def highlighted_values(self) -> list[tuple[str, str, str]]:
        """(text, field, tooltip) of every highlighted value, in order."""
        found = []
        block = self.document().begin()
        while block.isValid():
            iterator = block.begin()
            while not iterator.atEnd():
                fragment = iterator.fragment()
                fmt = fragment.charFormat()
                if fmt.hasProperty(FIELD_PROPERTY):
                    found.append((fragment.text(), str(fmt.property(FIELD_PROPERTY)), fmt.toolTip()))
                iterator += 1
            block = block.next()
        return found

    def viewportEvent(self, event: QEvent) -> bool:
        return show_format_tooltip(self, event) or super().viewportEvent(event)


def _value_format(field: str, raw: str, spoken: str) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setBackground(VALUE_BACKGROUND)
    fmt.setProperty(FIELD_PROPERTY, field)
    raw_line = f"\nraw value: {raw}" if raw and raw != spoken else ""
    fmt.setToolTip(f"field: {field}{raw_line}\nspoken: {spoken}")
    return fmt


def _tag_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(TAG_COLOUR)
    fmt.setFontPointSize(8)
    return fmt


class PromptPanel(Panel):
    def __init__(self, controller: CallController, voice: VoiceAdapter,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller, self._voice = controller, voice
        self.view: NodeView | None = None
        self._build()
        controller.nodeEntered.connect(self._on_node_entered)
        controller.schemaChanged.connect(self._on_schema_changed)
        controller.previewChanged.connect(self.refresh)

    def _build(self) -> None:
        self.title = QLabel("No node")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source_toggle = QCheckBox("Template")
        self.source_toggle.setToolTip("Show the Jinja template source instead of the rendered text")
        self.tags_toggle = QCheckBox("Field tags")
        self.tags_toggle.setToolTip("Write each highlighted value's field name after it")
        self.play_button = QPushButton("▶ Play")
        self.play_reason = ElidedLabel()
        self.play_reason.setStyleSheet("color: #6d4c41;")
        self.say_text = SegmentText("The node's scripted line")
        self.prompt_text = SegmentText("The node's task prompt")
        for toggle in (self.source_toggle, self.tags_toggle):
            toggle.toggled.connect(self._render)
        self.play_button.clicked.connect(self.play)
        header = QHBoxLayout()
        header.addStretch(1)
        for widget in (self.source_toggle, self.tags_toggle, self.play_button):
            header.addWidget(widget)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(_titled("Scripted line", self.say_text))
        splitter.addWidget(_titled("Prompt", self.prompt_text))
        splitter.setSizes([120, 240])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addLayout(header)
        layout.addWidget(self.play_reason)
        layout.addWidget(splitter, 1)
        self._update_play()

    # ----- what to show --------------------------------------------------------------------

    def show_state(self, state: str) -> None:
        """Show any node of the schema (e.g. one selected in the graph)."""
        view = self._controller.node_view(state)
        if view is not None:
            self.show_view(view)

    def show_view(self, view: NodeView) -> None:
        self.view = view
        self._render()

    def refresh(self) -> None:
        if self.view is not None:
            self.show_state(self.view["state"])

    def _on_node_entered(self, _at: float, view: NodeView) -> None:
        self.show_view(view)

    def _on_schema_changed(self, info: SchemaInfo | None) -> None:
        self.view = None
        if info:
            self.show_state(info["initial"])
        else:
            self._render()

    def _render(self) -> None:
        view = self.view
        if view is None:
            self.title.setText("No node")
            self.say_text.clear()
            self.prompt_text.clear()
        elif self.source_toggle.isChecked():
            self._render_title(view, "template")
            self.say_text.show_source(view["say_source"])
            self.prompt_text.show_source(view["prompt_source"])
        else:
            self._render_title(view, "rendered")
            tags = self.tags_toggle.isChecked()
            self.say_text.show_segments(view["say"], tags)
            self.prompt_text.show_segments(view["prompt"], tags)
        self._update_play()

    def _render_title(self, view: NodeView, how: str) -> None:
        where = "current node" if view["current"] else "selected node"
        self.title.setText(f"<b>{view['state']}</b> <span style='color:#78909c'>· {where} · {how}</span>")

    # ----- speaking ------------------------------------------------------------------------

    @property
    def line(self) -> str:
        return "".join(text for text, _field, _raw in self.view["say"]) if self.view else ""

    def _update_play(self) -> None:
        available, reason = self._voice.tts_status()
        self.play_button.setEnabled(available and bool(self.line))
        self.play_button.setToolTip("Speak the scripted line through text to speech" if available
                                    else f"Text to speech is unavailable: {reason}")
        self.play_reason.set_full_text("" if available else f"Play is unavailable: {reason}")
        self.play_reason.setVisible(not available)

    @async_slot()
    async def play(self) -> None:
        if not self.line:
            return
        self.play_button.setEnabled(False)
        try:
            await self._controller.speak(self.line)
        finally:
            self._update_play()


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(title)
    label.setStyleSheet("color: #546e7a; font-weight: bold;")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box
