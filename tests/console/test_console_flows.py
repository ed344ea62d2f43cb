"""A plain Pipecat flow in the real window, offscreen: opened from File ▸ Open, its handlers imported only
after the operator agreed, its state filling the prompts, and the operator playing the LLM through the
step panel's function form."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QPushButton

from cli.cmd_core import gui_files
from cli.main import build_parser
from console.controllers import flow_files
from console.main_window import MainWindow
from console.panels import CallSetup
from console.panels.flow_box import IMPORT_TITLE, NONE_CHOSEN, import_question
from engine.paths import DEFAULT_SCHEMA, default_patient_for
from engine.schema.yaml_loader import load_yaml

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs

FLOWS = Path(__file__).resolve().parent / "data" / "flows"
FLOW, HANDLERS, STATE = (FLOWS / name for name in ("front_desk.yaml", "front_desk_handlers.py",
                                                   "front_desk_state.json"))
MakeWindow = Callable[..., MainWindow]


def handlers_imported() -> bool:
    return any(getattr(module, "__file__", None) == str(HANDLERS) for module in list(sys.modules.values()))


def open_flow(window: MainWindow, dialogs: ScriptedDialogs, with_state: bool = True) -> None:
    """Open the flow from File ▸ Open (and choose its state file)."""
    dialogs.files.append(str(FLOW))
    window.menu_actions["open_schema"].trigger()
    assert window.setup.schema_path == str(FLOW)
    if with_state:
        dialogs.files.append(str(STATE))
        window.setup.flow_box.choose_state()
        assert window.setup.problems == []


def call(window: MainWindow, aio: Aio, qtbot: Any, function: str, result: dict[str, str] | None = None,
         **typed: str) -> None:
    """Pick `function` in the function form, type its arguments and result fields, and press Call."""
    form = window.step.function_form
    aio.until(lambda: function in form.functions and form.call_button.isEnabled())
    form.picker.setCurrentText(function)
    for parameter, text in typed.items():
        editor = form.fields[parameter]
        assert isinstance(editor, QLineEdit)
        qtbot.keyClicks(editor, text)
    for field, value in (result or {}).items():
        form.result_fields[field].setCurrentText(value)
    qtbot.mouseClick(form.call_button, Qt.MouseButton.LeftButton)


def test_a_flow_opens_without_a_patient_and_shows_its_branches(window: MainWindow,
                                                                 dialogs: ScriptedDialogs) -> None:
    open_flow(window, dialogs, with_state=False)
    setup, graph = window.setup, window.graph
    assert setup.flow_box.isVisible() and not setup.patient_box.isVisible()
    assert any("clinic" in problem for problem in setup.problems)  # its placeholders need a state
    assert not setup.start_button.isEnabled()
    dialogs.files.append(str(STATE))
    setup.flow_box.choose_state()
    assert setup.problems == [] and setup.start_button.isEnabled()
    assert "flow is ready" in setup.ready_label.text()
    assert {"greeting", "check_member", "book", "renew", "goodbye"} <= set(graph.states())
    labels = {graph.edge_label(edge) for edge in graph.drawn_edges()}
    assert {"check_member: active", "check_member: lapsed", "check_member: default"} <= labels
    assert not handlers_imported()


def test_handlers_are_imported_only_after_the_operator_agrees(window: MainWindow,
                                                              dialogs: ScriptedDialogs) -> None:
    open_flow(window, dialogs)
    box = window.setup.flow_box
    dialogs.confirm_answer = False
    dialogs.files.append(str(HANDLERS))
    box.choose_handlers()
    assert dialogs.questions == [import_question(str(HANDLERS))] and box.handlers == ""
    assert not handlers_imported()
    dialogs.confirm_answer = True
    dialogs.files.append(str(HANDLERS))
    box.choose_handlers()
    assert box.handlers == str(HANDLERS) and handlers_imported()
    assert window.setup.problems == []
    assert IMPORT_TITLE.endswith("?")


def test_the_state_file_fills_the_prompts_placeholders(window: MainWindow, dialogs: ScriptedDialogs) -> None:
    open_flow(window, dialogs)
    dialogs.files.append(str(STATE))
    window.setup.flow_box.choose_state()
    window.prompt.show_state("greeting")
    prompt = window.prompt.prompt_text.toPlainText()
    assert "Lakeside Clinic" in prompt and "{{" not in prompt


def test_without_handlers_the_operator_gives_the_result_that_picks_the_branch(
        window: MainWindow, aio: Aio, qtbot: Any, dialogs: ScriptedDialogs) -> None:
    open_flow(window, dialogs)
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    call(window, aio, qtbot, "wants_visit")
    aio.until(lambda: window.controller.current_state == "check_member")
    form = window.step.function_form
    aio.until(lambda: "check_member" in form.functions)
    form.picker.setCurrentText("check_member")
    status = form.result_fields["status"]
    assert [status.itemText(i) for i in range(status.count())] == ["active", "lapsed"]
    call(window, aio, qtbot, "check_member", result={"status": "lapsed"})
    aio.until(lambda: window.controller.current_state == "renew"
              and window.graph.node_style("renew") == "current")
    assert window.graph.edge_style("check_member", "renew") == "taken"
    assert not dialogs.errors, dialogs.errors


def test_with_handlers_the_function_runs_and_its_result_picks_the_branch(
        make_window: MakeWindow, aio: Aio, qtbot: Any, dialogs: ScriptedDialogs) -> None:
    window = make_window(str(FLOW), "", handlers=str(HANDLERS), state=str(STATE))
    assert dialogs.questions == [import_question(str(HANDLERS))]
    assert window.setup.flow_box.handlers == str(HANDLERS) and window.setup.problems == []
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    call(window, aio, qtbot, "wants_visit")
    aio.until(lambda: window.controller.current_state == "check_member")
    form = window.step.function_form
    aio.until(lambda: "check_member" in form.functions)
    form.picker.setCurrentText("check_member")
    assert form.label_of("member_id") == "member_id *" and form.result_fields == {}
    call(window, aio, qtbot, "check_member", member_id="A-100")
    aio.until(lambda: window.controller.current_state == "book"
              and "ƒ check_member" in window.transcript.text())
    assert '"member_id": "A-100"' in window.transcript.text()
    assert not dialogs.errors, dialogs.errors


def test_gui_handlers_and_state_reach_the_window_which_asks_before_importing(
        make_window: MakeWindow, dialogs: ScriptedDialogs, qtbot: Any, tmp_path: Path) -> None:
    handlers = tmp_path / "gui_handlers.py"  # a module no other test has imported
    handlers.write_text(HANDLERS.read_text())
    args = build_parser().parse_args(["gui", str(FLOW), "--handlers", str(handlers), "--state", str(STATE)])
    schema, patient, handlers_file, state_file = (str(path or "") for path in gui_files(args))
    assert all(getattr(module, "__file__", None) != str(handlers) for module in list(sys.modules.values()))
    window = make_window(schema, patient, handlers=handlers_file, state=state_file)
    box = window.setup.flow_box
    assert dialogs.questions == [import_question(str(handlers))]
    assert (box.handlers_label.full_text(), box.state_label.full_text()) == (handlers.name, STATE.name)
    assert window.setup.problems == []
    clear_handlers = next(button for button in box.findChildren(QPushButton) if button.text() == "×")
    qtbot.mouseClick(clear_handlers, Qt.MouseButton.LeftButton)
    assert box.handlers == "" and box.handlers_label.full_text() == NONE_CHOSEN
    assert window.setup.setup()["handlers"] == ""


def test_a_call_takes_the_flow_files_from_its_setup(window: MainWindow, aio: Aio) -> None:
    started: list[dict[str, str]] = []
    window.controller.callStarted.connect(lambda _at, info: started.append(info))
    setup = CallSetup(schema=str(FLOW), patient="", responder="scripted", mode="text", state=str(STATE))
    assert aio.run(window.controller.start(setup))
    aio.until(lambda: started)
    assert started[0]["patient_id"] == STATE.stem  # filed under its state file: the setup's state was used


def test_a_refresh_reads_the_flow_kind_from_the_loaded_schema_not_the_file_again(
        window: MainWindow, dialogs: ScriptedDialogs, monkeypatch: pytest.MonkeyPatch) -> None:
    open_flow(window, dialogs)
    parsed: list[str] = []

    def counted_load_yaml(path: Any) -> Any:
        parsed.append(str(path))
        return load_yaml(path)

    monkeypatch.setattr(flow_files, "load_yaml", counted_load_yaml)
    window.setup.show_call("front_desk", "")  # the same flow again: a refresh that loads from the cache
    assert window.setup.flow_box.isVisible() and not window.setup.patient_box.isVisible()
    assert parsed == []
    patient = default_patient_for(DEFAULT_SCHEMA.stem)
    window.setup.restore(str(DEFAULT_SCHEMA), str(patient))  # a schema: its loaded form says it is no flow
    assert not window.setup.flow_box.isVisible() and window.setup.patient_box.isVisible()
    assert parsed == []
