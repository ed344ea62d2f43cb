"""Finding things: the shortcuts are listed under Help, the tests can be stepped from the keyboard, the
graph has a Fit button and says how to zoom, file dialogs start where the files are, Play says why not."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from console.main_window import MainWindow
from console.panels.setup import OPEN_FILE
from tests.console.test_tests_in_console import SCHEMA, STEPPED

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_shortcut(window: MainWindow, dialogs: ScriptedDialogs) -> None:
    window.menu_actions["shortcuts"].trigger()
    assert len(dialogs.informed) == 1
    title, text = dialogs.informed[0]
    assert title == "Keyboard shortcuts"
    for line in ("F9   Step through the selected case", "F10   Next turn", "Ctrl+R   Start",
                 "Ctrl+0   Fit the graph"):
        assert line in text
    assert "wheel zooms" in text


def test_step_through_and_next_turn_from_the_keyboard(window: MainWindow, aio: Aio) -> None:
    runner = window.controller.tests
    ready: list[str] = []
    runner.testStepReady.connect(lambda _number, _total, step: ready.append(step))
    window.tests.select([(SCHEMA, STEPPED)])
    window.menu_actions["step_through"].trigger()
    aio.until(lambda: runner.waiting_for_step and ready)
    assert window.tests.next_step_label.full_text() == 'Next (1/3): say "Yes, speaking."'  # before it is sent
    assert "Caller " not in window.transcript.text()
    window.menu_actions["next_turn"].trigger()
    aio.until(lambda: len(ready) == 2 and runner.waiting_for_step)
    assert "Caller Yes, speaking." in window.transcript.text()
    assert window.tests.next_step_label.full_text().startswith("Next (2/3): ")
    aio.run(window.controller.stop())
    aio.until(lambda: not window.controller.is_testing)


def test_the_graph_has_a_fit_button_and_a_zoom_hint(window: MainWindow) -> None:
    graph = window.graph
    graph.fit()
    fitted = graph.zoom_level()
    graph.zoom_in()
    assert graph.zoom_level() > fitted
    graph.fit_button.click()
    assert abs(graph.zoom_level() - fitted) < 1e-6
    assert "wheel: zoom" in graph.findChild(type(window.status.message)).full_text()


def test_file_dialogs_start_in_the_schema_and_patient_folders(window: MainWindow,
                                                              dialogs: ScriptedDialogs) -> None:
    setup = window.setup
    setup.open_schema_file()
    setup.patient_box.setCurrentIndex(setup.patient_box.findData(OPEN_FILE))
    setup.patient_box.activated.emit(setup.patient_box.currentIndex())
    folders = [Path(folder) for folder in dialogs.opened_in]
    assert folders == [ROOT / "schemas", ROOT / "resources" / "patients"]


def test_play_says_why_it_is_unavailable_inline(window: MainWindow) -> None:
    available, reason = window.controller.voice.tts_status()
    prompt = window.prompt
    assert prompt.play_reason.isVisible() == (not available)
    if not available:
        assert reason in prompt.play_reason.full_text()
