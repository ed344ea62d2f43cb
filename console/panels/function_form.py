"""The function form: pick one of the node's functions, fill its parameters (and, with no handler, its
result), and call it as the LLM would. The operator plays the LLM."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from console.panels import FunctionChoice, ParameterSpec

SPIN_LIMIT = 1_000_000_000
LEFT_OUT = "—"  # an optional boolean's or number's empty choice: the argument is left out
EMPTY_NUMBER = -SPIN_LIMIT - 1  # an optional number's spin box minimum, shown as LEFT_OUT
Reader = Callable[[], Any]  # a field's value; None when it is left empty
PLACEHOLDERS = {"date": "a date, e.g. 1970-05-04 or May 4, 1970", "time": "a time, e.g. 2:30 pm",
                "phone": "a phone number", "name": "a name"}


class FunctionForm(QWidget):
    """A combo of the node's functions and a form for the chosen one; `callRequested` on Call."""

    callRequested = Signal(str, object, object)  # name, arguments, result (None: the handler's)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.functions: dict[str, FunctionChoice] = {}
        self.fields: dict[str, QWidget] = {}  # the shown parameters' editors, by parameter
        self.result_fields: dict[str, QComboBox] = {}  # the shown result fields' editors, by field
        self._readers: dict[str, Reader] = {}
        self._required: set[str] = set()
        self.free_arguments: QLineEdit | None = None  # a JSON object, for parameters not known
        self._ready = False
        self._build()

    def _build(self) -> None:
        self.picker = QComboBox()
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setMinimumContentsLength(12)
        self.picker.currentTextChanged.connect(self._show_function)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.description.setStyleSheet("color: #546e7a;")
        self._form = QFormLayout()
        self._form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.call_button = QPushButton("Call")
        self.call_button.setToolTip("Call the function as the LLM would, with these arguments")
        self.call_button.clicked.connect(self.request_call)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c62828;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.picker)
        layout.addWidget(self.description)
        layout.addLayout(self._form)
        layout.addWidget(self.problem)
        layout.addWidget(self.call_button)

    def set_functions(self, functions: list[FunctionChoice]) -> None:
        self.functions = {function.name: function for function in functions}
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItems(list(self.functions))
        self.picker.blockSignals(False)
        self._show_function(self.picker.currentText())

    def set_ready(self, ready: bool) -> None:
        """Whether a call can be made now (a call is running and nothing is being sent)."""
        self._ready = ready
        self.call_button.setEnabled(ready and bool(self.functions))

    # ----- the chosen function's form -----------------------------------------------------

    def _show_function(self, name: str) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        self.fields, self.result_fields, self._readers, self._required = {}, {}, {}, set()
        self.free_arguments = None
        self.problem.clear()
        function = self.functions.get(name)
        self.description.setText(function.description if function else "This node offers no functions.")
        if function is not None:
            for parameter in function.parameters:
                self._add_parameter(parameter)
            if not function.parameters and not function.has_handler:  # a flow's, known by name only
                self._add_free_arguments()
            if not function.has_handler:
                for field, cases in function.result_cases.items():
                    self._add_result_field(field, cases)
        self.set_ready(self._ready)

    def _add_parameter(self, parameter: ParameterSpec) -> None:
        editor, reader = _editor(parameter)
        editor.setToolTip(parameter.description or parameter.type)
        label = f"{parameter.name}{' *' if parameter.required else ''}"
        self._form.addRow(label, editor)
        self.fields[parameter.name] = editor
        self._readers[parameter.name] = reader
        if parameter.required:
            self._required.add(parameter.name)

    def _add_free_arguments(self) -> None:
        editor = QLineEdit()
        editor.setPlaceholderText('optional, as JSON: {"member_id": "A-100"}')
        editor.setToolTip("This function's parameters are not known (no handlers module): give its "
                          "arguments as a JSON object, or none")
        self._form.addRow("arguments", editor)
        self.free_arguments = editor

    def _add_result_field(self, field: str, cases: list[str]) -> None:
        editor = QComboBox()
        editor.setEditable(True)  # a case value, or any other (the branch's default)
        editor.addItems(cases)
        editor.setToolTip(f"The result's '{field}': no handler computes it, so you give it")
        self._form.addRow(f"result: {field}", editor)
        self.result_fields[field] = editor

    def label_of(self, parameter: str) -> str:
        """The shown parameter's form label (its name, with " *" when it is required)."""
        label = self._form.labelForField(self.fields[parameter])
        return label.text() if isinstance(label, QLabel) else ""

    # ----- calling ------------------------------------------------------------------------

    def arguments(self) -> dict[str, Any]:
        """The filled parameters, those left empty left out; ValueError for free arguments that are not
        a JSON object."""
        values = {name: read() for name, read in self._readers.items()}
        filled = {name: value for name, value in values.items() if value is not None}
        text = self.free_arguments.text().strip() if self.free_arguments is not None else ""
        if not text:
            return filled
        try:
            given = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"the arguments are not valid JSON: {error.msg}") from error
        if not isinstance(given, dict):
            raise ValueError("the arguments must be a JSON object, such as {\"member_id\": \"A-100\"}")
        return {**given, **filled}

    def result(self) -> dict[str, Any] | None:
        """The result the operator gave, or None when the function's handler computes it."""
        function = self.functions.get(self.picker.currentText())
        if function is None or function.has_handler:
            return None
        return {field: editor.currentText().strip() for field, editor in self.result_fields.items()}

    def request_call(self) -> None:
        name = self.picker.currentText()
        if not name:
            return
        try:
            arguments = self.arguments()
        except ValueError as error:
            self.problem.setText(str(error))
            return
        missing = sorted(self._required - set(arguments))
        if missing:
            self.problem.setText(f"Fill in {', '.join(missing)} first (marked *).")
            return
        self.problem.clear()
        self.callRequested.emit(name, arguments, self.result())


def _editor(parameter: ParameterSpec) -> tuple[QWidget, Reader]:
    """An editor for the parameter's type, and how to read its value (an optional one can stay empty)."""
    if parameter.type == "boolean":
        return _boolean_editor(parameter.required)
    if parameter.type == "integer":
        return _number_editor(QSpinBox(), parameter.required)
    if parameter.type == "number":
        number = QDoubleSpinBox()
        number.setDecimals(3)
        return _number_editor(number, parameter.required)
    if parameter.type in ("enum", "item"):
        return _choice_editor(parameter)
    line = QLineEdit()
    line.setPlaceholderText(PLACEHOLDERS.get(parameter.type, parameter.description or parameter.type))
    return line, lambda: line.text().strip() or None


def _boolean_editor(required: bool) -> tuple[QWidget, Reader]:
    if required:
        box = QCheckBox()
        return box, box.isChecked
    combo = QComboBox()  # left out, true or false
    for text, value in ((LEFT_OUT, None), ("true", True), ("false", False)):
        combo.addItem(text, value)
    return combo, combo.currentData


def _number_editor(spin: QSpinBox | QDoubleSpinBox, required: bool) -> tuple[QWidget, Reader]:
    if required:
        spin.setRange(-SPIN_LIMIT, SPIN_LIMIT)
        return spin, spin.value
    spin.setRange(EMPTY_NUMBER, SPIN_LIMIT)  # the minimum shows LEFT_OUT: an empty field
    spin.setSpecialValueText(LEFT_OUT)
    spin.setValue(EMPTY_NUMBER)
    return spin, lambda: None if spin.value() == spin.minimum() else spin.value()


def _choice_editor(parameter: ParameterSpec) -> tuple[QWidget, Reader]:
    combo = QComboBox()
    if not parameter.required:
        combo.addItem("")  # left out
    combo.addItems(parameter.choices)
    return combo, lambda: combo.currentText() or None
