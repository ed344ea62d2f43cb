"""Step: type a caller turn into the live call, click one of the current node's intents, or call one of
its functions as the LLM would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from console.panels import IntentChoice, NodeView
from console.panels.function_form import FunctionForm
from console.slots import async_slot
from console.widgets import Panel

if TYPE_CHECKING:
    from console.controllers import CallController

INTENT_COLUMNS = 1


class StepPanel(Panel):
    def __init__(self, controller: CallController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._sending = False
        self._send_when_settled = False  # Return was pressed while a turn settled
        self.intent_buttons: dict[str, QPushButton] = {}  # the current node's, by intent
        self._pool: list[QPushButton] = []
        self._build()
        controller.nodeEntered.connect(self._on_node_entered)
        controller.callStateChanged.connect(self._update_enabled)
        controller.timelineReset.connect(self._clear_intents)
        self._update_enabled()

    def _build(self) -> None:
        self.box = QLineEdit()
        self.box.setPlaceholderText("What the caller says… (Ctrl+L)")
        self.send_button = QPushButton("Send")
        self.box.returnPressed.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.intents_label = QLabel("Intents")
        self.intents_label.setStyleSheet("color: #546e7a; font-weight: bold;")
        self._grid = QGridLayout()
        self._grid.setSpacing(4)
        self.functions_label = QLabel("Functions")
        self.functions_label.setStyleSheet(self.intents_label.styleSheet())
        self.function_form = FunctionForm()
        self.function_form.callRequested.connect(self.call_function)
        row = QHBoxLayout()
        row.addWidget(self.box, 1)
        row.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(_scrolling(self._choices()), 1)

    def _choices(self) -> QWidget:
        """The intents and the function form, which scroll inside the panel rather than grow it."""
        choices = QWidget()
        layout = QVBoxLayout(choices)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.intents_label)
        layout.addLayout(self._grid)
        layout.addWidget(self.functions_label)
        layout.addWidget(self.function_form)
        layout.addStretch(1)
        return choices

    def focus_box(self) -> None:
        self.box.setFocus()
        self.box.selectAll()

    # ----- intents -------------------------------------------------------------------------

    def _on_node_entered(self, _at: float, view: NodeView) -> None:
        if view["current"]:
            self.show_intents(view["state"], view["intents"])
            self.intents_label.setVisible(bool(view["intents"]) or not view["functions"])
            self.function_form.set_functions(view["functions"])
            self.functions_label.setText(f"Functions of {view['state']}" if view["functions"]
                                         else "Functions")

    def show_intents(self, state: str, intents: list[IntentChoice]) -> None:
        """Show the node's intents on pooled buttons: reusing them avoids a relayout per node."""
        self.intents_label.setText(f"Intents of {state}" if intents else f"{state} has no transitions")
        self.intent_buttons = {}
        for index, choice in enumerate(intents):
            button = self._pooled_button(index)
            self._describe(button, choice)
            button.show()
            self.intent_buttons[choice.intent] = button
        for button in self._pool[len(intents):]:
            button.hide()
        self._update_enabled()

    def _pooled_button(self, index: int) -> QPushButton:
        while len(self._pool) <= index:
            button = QPushButton()
            # Ignored: a long example never widens the dock
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            button.setStyleSheet("text-align: left; padding: 3px 6px;")
            button.clicked.connect(lambda _checked=False, b=button: self.send_example(b.property("example")))
            position = len(self._pool)
            self._grid.addWidget(button, position // INTENT_COLUMNS, position % INTENT_COLUMNS)
            self._pool.append(button)
        return self._pool[index]

    @staticmethod
    def _describe(button: QPushButton, choice: IntentChoice) -> None:
        first = choice.examples[0] if choice.examples else choice.intent
        button.setText(f"{choice.intent}\n“{_shorten(first)}”")
        button.setProperty("example", first)
        leads_to = f"→ {choice.target}" + (" (ends the call)" if choice.ends_call else "")
        examples = "\n".join(f"• {example}" for example in choice.examples)
        button.setToolTip(f"{leads_to}\nSends the first example. Examples:\n{examples}")

    def _clear_intents(self) -> None:
        for button in self._pool:
            button.hide()
        self.intent_buttons = {}
        self.intents_label.setText("Intents")
        self.function_form.set_functions([])
        self.functions_label.setText("Functions")

    # ----- sending -------------------------------------------------------------------------

    def send(self) -> None:
        """Send the box's text. Pressed while the previous turn settles, it is sent once that turn
        has (the button reads "Queued"); it comes back into the box if the turn could not be sent."""
        text = self.box.text().strip()
        if not text or self._controller.call_state != "running":
            return
        if self._sending:
            self._send_when_settled = True
            self._update_enabled()
            return
        self.box.clear()
        self._begin_sending()
        self._send_typed(text)

    @async_slot(str)
    async def _send_typed(self, text: str) -> None:
        sent = False
        try:
            sent = await self._controller.step(text, "typed")
        finally:
            if not sent:
                self._send_when_settled = False
                if not self.box.text():
                    self.box.setText(text)
            self._end_sending()

    @async_slot(str)
    async def send_example(self, text: str) -> None:
        await self._sent(lambda: self._controller.step(text, "intent"))

    @async_slot(str, object, object)
    async def call_function(self, name: str, arguments: dict[str, Any],
                            result: dict[str, Any] | None) -> bool:
        """Call the node's function `name` as the LLM would (from the function form)."""
        return await self._sent(lambda: self._controller.call_function(name, arguments, result))

    async def _sent(self, send: Callable[[], Awaitable[bool]]) -> bool:
        """Send one thing at a time into the running call; False if it was not sent."""
        if self._sending or self._controller.call_state != "running":
            return False
        self._begin_sending()
        try:
            return await send()
        finally:
            self._end_sending()

    def _begin_sending(self) -> None:
        self._sending = True
        self._update_enabled()

    def _end_sending(self) -> None:
        self._sending = False
        self._update_enabled()
        if self._send_when_settled:
            self._send_when_settled = False
            self.send()

    def _update_enabled(self) -> None:
        ready = self._controller.call_state == "running" and not self._sending
        self._send_when_settled &= self._controller.call_state == "running"
        self.send_button.setEnabled(ready)
        self.send_button.setText("Queued" if self._send_when_settled else "Send")
        for button in self.intent_buttons.values():
            button.setEnabled(ready)
        self.function_form.set_ready(ready)


def _scrolling(content: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(content)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def _shorten(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
