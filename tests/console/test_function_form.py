"""The step panel's function form: the operator plays the LLM, calling the node's functions with typed
arguments (and, with no handler, giving the result), in the real window offscreen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from console.main_window import MainWindow
from console.panels import FunctionChoice, ParameterSpec
from console.panels.function_form import LEFT_OUT, FunctionForm

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "schemas" / "lab_results_callback.yaml"
MARIA = ROOT / "resources" / "patients" / "lab_results_callback__maria_santos.json"  # born 1970-05-04
ADHERENCE = ROOT / "schemas" / "medication_adherence.yaml"
BO_LI = ROOT / "resources" / "patients" / "medication_adherence__bo_li.json"
MakeWindow = Callable[..., MainWindow]

EVERY_TYPE = FunctionChoice(
    name="note_visit", description="Note a visit.", has_handler=False,
    result_cases={"outcome": ["booked", "declined"]},
    parameters=[ParameterSpec("kind", "enum", "", True, ["new", "follow-up"]),
                ParameterSpec("urgent", "boolean", "", False, []),
                ParameterSpec("count", "integer", "", False, []),
                ParameterSpec("weight", "number", "", False, []),
                ParameterSpec("day", "date", "", True, []),
                ParameterSpec("medicine", "item", "", False, ["metformin", "lisinopril"]),
                ParameterSpec("notes", "string", "", False, [])])


def test_each_parameter_type_gets_its_editor_and_its_value(qtbot: Any) -> None:
    form = FunctionForm()
    qtbot.addWidget(form)
    form.set_functions([EVERY_TYPE])
    form.set_ready(True)
    editors = form.fields
    assert isinstance(editors["kind"], QComboBox) and isinstance(editors["urgent"], QComboBox)
    assert isinstance(editors["count"], QSpinBox) and isinstance(editors["weight"], QDoubleSpinBox)
    assert isinstance(editors["day"], QLineEdit) and isinstance(editors["notes"], QLineEdit)
    medicine = editors["medicine"]
    assert isinstance(medicine, QComboBox)
    assert [medicine.itemText(i) for i in range(medicine.count())] == ["", "metformin", "lisinopril"]
    assert list(form.result_fields) == ["outcome"]

    with qtbot.assertNotEmitted(form.callRequested):
        form.call_button.click()  # `day` is required and empty
    assert "day" in form.problem.text()

    editors["kind"].setCurrentText("follow-up")  # type: ignore[attr-defined]  # a QComboBox, checked above
    editors["urgent"].setCurrentText("true")  # type: ignore[attr-defined]  # a QComboBox, checked above
    editors["count"].setValue(3)  # type: ignore[attr-defined]  # a QSpinBox, checked above
    qtbot.keyClicks(editors["day"], "May 4, 1970")
    form.result_fields["outcome"].setCurrentText("declined")
    with qtbot.waitSignal(form.callRequested) as called:
        form.call_button.click()
    arguments = {"kind": "follow-up", "urgent": True, "count": 3, "day": "May 4, 1970"}  # no weight given
    assert called.args == ["note_visit", arguments, {"outcome": "declined"}]


def test_optional_booleans_and_numbers_are_left_out_until_given(qtbot: Any) -> None:
    required_flag = ParameterSpec("confirmed", "boolean", "", True, [])
    form = FunctionForm()
    qtbot.addWidget(form)
    form.set_functions([EVERY_TYPE._replace(parameters=[*EVERY_TYPE.parameters, required_flag])])
    form.set_ready(True)
    urgent, count, weight = (form.fields[name] for name in ("urgent", "count", "weight"))
    assert isinstance(urgent, QComboBox) and isinstance(count, QSpinBox)
    assert isinstance(weight, QDoubleSpinBox) and isinstance(form.fields["confirmed"], QCheckBox)
    assert [urgent.itemText(i) for i in range(urgent.count())] == [LEFT_OUT, "true", "false"]
    assert count.text() == weight.text() == LEFT_OUT
    qtbot.keyClicks(form.fields["day"], "May 4, 1970")
    with qtbot.waitSignal(form.callRequested) as called:
        form.call_button.click()
    assert called.args[1] == {"kind": "new", "day": "May 4, 1970", "confirmed": False}
    urgent.setCurrentText("false")
    count.setValue(0)
    weight.setValue(0.5)
    with qtbot.waitSignal(form.callRequested) as called:
        form.call_button.click()
    assert called.args[1] == {"kind": "new", "urgent": False, "count": 0, "weight": 0.5, "day": "May 4, 1970",
                              "confirmed": False}


def test_a_function_with_a_handler_asks_for_no_result(qtbot: Any) -> None:
    form = FunctionForm()
    qtbot.addWidget(form)
    form.set_functions([EVERY_TYPE._replace(has_handler=True)])
    assert form.result_fields == {} and form.result() is None


def _running_in_verify_identity(make_window: MakeWindow, aio: Aio, qtbot: Any) -> MainWindow:
    window = make_window(str(LAB), str(MARIA))
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running" and window.step.intent_buttons)
    window.step.intent_buttons["is_patient"].click()
    aio.until(lambda: window.controller.current_state == "verify_identity"
              and window.step.function_form.functions and window.step.function_form.call_button.isEnabled())
    return window


def _call(window: MainWindow, qtbot: Any, function: str, **typed: str) -> None:
    form = window.step.function_form
    form.picker.setCurrentText(function)
    assert form.picker.currentText() == function
    for parameter, text in typed.items():
        editor = form.fields[parameter]
        assert isinstance(editor, QLineEdit)
        qtbot.keyClicks(editor, text)
    qtbot.mouseClick(form.call_button, Qt.MouseButton.LeftButton)


def verify_tool(window: MainWindow) -> str:
    """The verify_identity node's function that takes a date of birth."""
    form = window.step.function_form
    return next(name for name, function in form.functions.items()
                if any(p.name == "date_of_birth" and p.type == "date" for p in function.parameters))


def test_a_spoken_date_of_birth_verifies_and_the_branch_moves_the_call(make_window: MakeWindow, aio: Aio,
                                                                         qtbot: Any,
                                                                         dialogs: ScriptedDialogs) -> None:
    window = _running_in_verify_identity(make_window, aio, qtbot)
    tool = verify_tool(window)
    function = window.step.function_form.functions[tool]
    assert next(p for p in function.parameters if p.name == "date_of_birth").required
    window.step.function_form.picker.setCurrentText(tool)
    assert window.step.function_form.label_of("date_of_birth") == "date_of_birth *"
    _call(window, qtbot, tool, date_of_birth="May fourth, nineteen seventy")
    aio.until(lambda: window.controller.current_state == "deliver_normal"
              and "→ result_decision → deliver_normal" in window.transcript.text())
    assert "→ verify_identity → result_decision" in window.transcript.text()
    assert window.graph.node_style("deliver_normal") == "current"
    assert not dialogs.errors


def test_a_wrong_date_of_birth_stays_in_verify_identity(make_window: MakeWindow, aio: Aio,
                                                         qtbot: Any) -> None:
    window = _running_in_verify_identity(make_window, aio, qtbot)
    bot_lines = window.transcript.text().count(" Bot ")
    _call(window, qtbot, verify_tool(window), date_of_birth="January 1, 1990")
    aio.until(lambda: window.transcript.text().count(" Bot ") > bot_lines)
    assert window.controller.current_state == "verify_identity"
    assert "deliver_" not in window.transcript.text()


def test_an_item_parameter_offers_the_records_medicines(make_window: MakeWindow, aio: Aio,
                                                        qtbot: Any) -> None:
    window = make_window(str(ADHERENCE), str(BO_LI))
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    aio.run(window.controller.force("refills"))
    form = window.step.function_form
    aio.until(lambda: window.controller.current_state == "refills" and form.functions)
    tool = next(name for name, function in form.functions.items()
                if any(p.type == "item" for p in function.parameters))
    form.picker.setCurrentText(tool)
    medicine = next(p for p in form.functions[tool].parameters if p.type == "item")
    editor = form.fields[medicine.name]
    assert isinstance(editor, QComboBox)
    assert medicine.choices and [editor.itemText(i) for i in range(editor.count())][-len(medicine.choices):] \
        == medicine.choices
    editor.setCurrentText(medicine.choices[0])
    qtbot.mouseClick(form.call_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: window.controller.current_state == "pharmacist_questions"
              and "ƒ request_refill" in window.transcript.text())
    assert "ƒ request_refill" in window.transcript.text()
    assert medicine.choices[0] in window.transcript.text()


def test_a_function_known_only_by_name_takes_its_arguments_as_json(qtbot: Any) -> None:
    form = FunctionForm()
    qtbot.addWidget(form)
    form.set_functions([FunctionChoice("lookup_balance", "", [], {}, has_handler=False)])
    form.set_ready(True)
    free = form.free_arguments
    assert free is not None
    qtbot.keyClicks(free, "[1, 2]")
    with qtbot.assertNotEmitted(form.callRequested):
        form.call_button.click()
    assert "JSON object" in form.problem.text()
    free.setText('{"invoice": "INV-7"}')
    with qtbot.waitSignal(form.callRequested) as called:
        form.call_button.click()
    assert called.args == ["lookup_balance", {"invoice": "INV-7"}, {}]
    form.set_functions([EVERY_TYPE])
    assert form.free_arguments is None  # its parameters are known
