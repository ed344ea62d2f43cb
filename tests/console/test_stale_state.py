"""Nothing stale or misleading: a replay's setup, a schema switch, old errors, doubled prefixes, CLI
flags in GUI errors, the source of an intent turn, and written words in the transcript."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from console.main_window import MainWindow
from engine.schema.compiled import load_schema

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs

ROOT = Path(__file__).resolve().parents[2]
OTHER_SCHEMA = str(ROOT / "schemas" / "medication_adherence.yaml")
MakeWindow = Callable[..., MainWindow]


def choose_schema(window: MainWindow, path: str) -> None:
    box = window.setup.schema_box
    box.setCurrentIndex(box.findData(path))
    box.activated.emit(box.currentIndex())


def run_short_call(window: MainWindow, aio: Aio) -> None:
    controller = window.controller
    window.setup.start()
    aio.until(lambda: controller.call_state == "running" and " Bot " in window.transcript.text())
    aio.run(controller.stop())
    aio.until(lambda: controller.call_state == "ended" and window.history.call_ids())


def test_a_replay_shows_its_setup_and_a_schema_switch_leaves_it(window: MainWindow, aio: Aio) -> None:
    run_short_call(window, aio)
    call_schema, call_patient = window.setup.schema_path, window.setup.patient_path
    choose_schema(window, OTHER_SCHEMA)
    assert window.setup.schema_path == OTHER_SCHEMA
    window.history.select_call(window.history.call_ids()[0])
    window.history.open_button.click()
    assert window.controller.call_state == "replay"
    assert (window.setup.schema_path, window.setup.patient_path) == (call_schema, call_patient)
    choose_schema(window, OTHER_SCHEMA)
    assert "replay" not in window.windowTitle() and "medication_adherence" in window.windowTitle()
    initial = load_schema(OTHER_SCHEMA).schema.initial_node
    assert window.prompt.view is not None and window.prompt.view["state"] == initial
    assert window.graph.states() == window.controller.states()


def test_an_error_leaves_the_status_line_when_a_call_runs(window: MainWindow, aio: Aio) -> None:
    window.show_failure("Call error", "responder: it broke")
    assert "c62828" in window.status.message.styleSheet()
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    assert "c62828" not in window.status.message.styleSheet()
    assert window.status.message.full_text() == "The call is running"


def test_a_message_that_repeats_its_title_is_said_once(window: MainWindow) -> None:
    window.show_failure("The call could not start", "the call could not start: no input device")
    assert window.status.message.full_text() == "The call could not start: no input device"


def test_gui_errors_name_fields_not_command_line_flags(window: MainWindow, aio: Aio, dialogs: ScriptedDialogs,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VOICE_CONSOLE_LLM_URL", "OPENAI_BASE_URL", "VOICE_CONSOLE_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    setup = window.setup
    setup.responder_box.setCurrentIndex(setup.responder_box.findData("openai"))
    assert setup.url_edit.text() == "" and setup.url_edit.placeholderText().startswith("required")
    assert not aio.run(window.controller.start(setup.setup()))
    assert len(dialogs.errors) == 1
    title, message = dialogs.errors[0]
    assert title == "The call could not start" and "LLM URL" in message and "--" not in message
    assert window.controller.call_state == "failed"


def test_an_intent_turn_is_logged_as_intent(window: MainWindow, aio: Aio) -> None:
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running" and window.step.intent_buttons)
    next(iter(window.step.intent_buttons.values())).click()
    aio.until(lambda: "(intent)" in window.transcript.text())
    assert "(typed)" not in window.transcript.text()


def test_the_transcript_shows_written_words_and_hover_shows_the_spoken_form(
        window: MainWindow, aio: Aio) -> None:
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running" and " Bot " in window.transcript.text())
    text = window.transcript.text()
    assert "Riverside Clinic" in text and "River-side" not in text
    assert "spoken as:" in window.transcript.tooltip_at_text("Riverside Clinic")
    assert "River-side Clinic" in window.transcript.tooltip_at_text("Riverside Clinic")


def test_a_refused_llm_connection_ends_the_call_as_failed_with_one_message(
        window: MainWindow, aio: Aio, dialogs: ScriptedDialogs) -> None:
    setup = window.setup
    setup.responder_box.setCurrentIndex(setup.responder_box.findData("openai"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as refusing:  # bound, not listening: refused
        refusing.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{refusing.getsockname()[1]}/v1"
        setup.url_edit.setText(url)
        setup.model_edit.setText("fake")
        assert not aio.run(window.controller.start(setup.setup()))
    assert window.controller.call_state == "failed"
    message = f"the LLM server at {url} refused the connection: is it running?"
    assert dialogs.errors == [("The call could not start", f"the call could not start: {message}")]
    assert window.status.message.full_text() == f"The call could not start: {message}"
    assert "Bot " not in window.transcript.text()


def test_the_status_line_says_when_the_call_has_ended(window: MainWindow, aio: Aio) -> None:
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    assert window.status.message.full_text() == "The call is running"
    aio.run(window.controller.stop())
    aio.until(lambda: window.controller.call_state == "ended")
    assert window.status.message.full_text() == "The call ended: stopped by the operator"
