"""The real main window, offscreen: calls on every bundled schema, driven as an operator would.

See conftest.py for how the qasync loop and pytest-qt share Qt's event loop.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QKeySequence

from bench.console_lag import bench_event_loop_lag
from bench.voice import SpeakerRecorder
from console.app import _shut_down_now
from console.controllers import CallController, VoiceAdapter
from console.main_window import MainWindow
from console.panels.setup import OPEN_FILE
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.schema.compiled import CompiledSchema, load_schema
from engine.voice.config import SAMPLE_RATE
from tests.fakes.openai_server import FakeOpenAI, http_error
from tests.voice.helpers import write_tone_wav

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
MakeWindow = Callable[..., MainWindow]


def bundled_schemas_with_patients() -> list[tuple[Path, Path | None]]:
    """Each bundled schema with its first patient (None if it has none: its test fails)."""
    cases: list[tuple[Path, Path | None]] = []
    for schema in sorted((ROOT / "schemas").glob("*.yaml")):
        patients = sorted((ROOT / "resources" / "patients").glob(f"{schema.stem}__*.json"))
        cases.append((schema, patients[0] if patients else None))
    return cases


def test_every_bundled_schema_is_called_here() -> None:
    assert bundled_schemas_with_patients(), "no bundled schema was found"


def moving_intent(compiled: CompiledSchema, state: str) -> tuple[str, str] | None:
    """(example, target) of an intent whose first example the classifier maps to it, preferring
    targets that do not end the call."""
    found = []
    for intent in compiled.intents_of(state):
        example = compiled.schema.intents[intent].examples[0]
        if compiled.classifier.classify(example, compiled.intents_of(state)).intent == intent:
            targets = compiled.targets_of(state, intent)
            if len(targets) == 1:  # a branch's target depends on the result
                found.append((compiled.is_ending(targets[0]), example, targets[0]))
    return min(found)[1:] if found else None


def bot_lines(window: MainWindow) -> int:
    return window.transcript.text().count(" Bot ")


@pytest.mark.parametrize(("schema", "patient"), bundled_schemas_with_patients(),
                         ids=lambda p: p.stem if p else "no-patient")
def test_a_text_call_on_each_bundled_schema(make_window: MakeWindow, aio: Aio, dialogs: ScriptedDialogs,
                                            qtbot: Any, tmp_path: Path, schema: Path,
                                            patient: Path | None) -> None:
    assert patient is not None, f"{schema.name} has no patient in resources/patients"
    compiled = load_schema(schema)
    window = make_window(str(schema), str(patient))
    controller, graph, transcript = window.controller, window.graph, window.transcript
    assert window.setup.problems == [] and window.setup.start_button.isEnabled()
    initial = compiled.schema.initial_node

    qtbot.mouseClick(window.setup.start_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: controller.call_state == "running" and bot_lines(window) >= 1)
    assert window.windowTitle() == f"{compiled.name} — running — Voice console"
    assert window.prompt.view["state"] == initial and window.prompt.view["current"]
    opening = compiled.renderer.render(initial, "say", _precomputed(compiled, patient))
    assert window.prompt.say_text.toPlainText() == opening
    assert f"Bot {compiled.lexicon.restore(opening)}" in transcript.text()  # the written words
    assert window.prompt.say_text.highlighted_values(), "the opening line shows no patient value"
    assert graph.node_style(initial) == "current"

    example, moved_to = moving_intent(compiled, initial)
    qtbot.keyClicks(window.step.box, example)
    qtbot.keyClick(window.step.box, Qt.Key.Key_Return)
    aio.until(lambda: controller.current_state == moved_to and bot_lines(window) >= 2)
    assert window.step.box.text() == ""
    assert f"Caller {example} (typed)" in transcript.text()
    assert f"→ {initial} → {moved_to}" in transcript.text()
    assert graph.node_style(moved_to) == "current" and graph.node_style(initial) == "visited"
    assert graph.edge_style(initial, moved_to) == "taken"
    assert window.prompt.view["state"] == moved_to
    assert set(window.step.intent_buttons) == set(compiled.intents_of(moved_to))

    forced_to = next(name for name, spec in compiled.schema.nodes.items()
                     if name not in (initial, moved_to) and not spec.ending and spec.decide is None)
    node_at = graph.node_view_position(forced_to)
    qtbot.mouseDClick(graph.view.viewport(), Qt.MouseButton.LeftButton, pos=node_at)
    aio.until(lambda: controller.current_state == forced_to and "FORCED" in transcript.text())
    assert dialogs.questions == [f"Force the call into '{forced_to}'?"]
    assert graph.node_style(forced_to) == "current" and graph.edge_style(moved_to, forced_to) == "forced"
    assert f"FORCED {moved_to} → {forced_to}" in transcript.text()
    aio.until(lambda: window.prompt.view["state"] == forced_to and window.prompt.view["current"])
    aio.until(lambda: len(window.latency.samples()) >= 5
              and window.report.report.get("state_transitions") == 2)

    dialogs.files.append(str(tmp_path / "latency.csv"))
    window.menu_actions["export"].trigger()
    with open(tmp_path / "latency.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {row["schema"] for row in rows} == {compiled.name}
    assert {"precompute", "render", "turn", "transition"} <= {row["stage"] for row in rows}
    assert any(row["forced"] == "true" for row in rows)
    assert "Exported" in window.status.message.text()

    qtbot.mouseClick(window.setup.stop_button, Qt.MouseButton.LeftButton)
    aio.until(lambda: controller.call_state == "ended")
    assert window.windowTitle() == f"{compiled.name} — ended — Voice console"
    assert "Call ended stopped by the operator" in transcript.text()
    assert not dialogs.errors


def _precomputed(compiled: CompiledSchema, patient: Path) -> Any:
    return DataPrecomputer(compiled).precompute_all(load_patient(patient).validated(compiled))


def test_intent_buttons_send_the_first_example(window: MainWindow, aio: Aio) -> None:
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running" and window.step.intent_buttons)
    button = window.step.intent_buttons["is_patient"]
    assert "“yes, this is she”" in button.text()
    assert "→ reminder" in button.toolTip() and "speaking" in button.toolTip()
    button.click()
    aio.until(lambda: "→ greeting → reminder" in window.transcript.text())
    assert "Caller yes, this is she (intent)" in window.transcript.text()
    assert window.controller.current_state == "reminder"


def test_a_turn_typed_while_the_last_one_settles_is_sent_once_it_has(window: MainWindow, aio: Aio) -> None:
    step, transcript = window.step, window.transcript
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running" and step.send_button.isEnabled())
    step.box.setText("yes, this is she")
    step.send_button.click()
    assert not step.send_button.isEnabled() and step.box.text() == ""  # the first turn is on its way
    step.box.setText("I need to reschedule")
    step.box.returnPressed.emit()
    assert step.send_button.text() == "Queued" and step.box.text() == "I need to reschedule"
    aio.until(lambda: "→ reminder → reschedule_time" in transcript.text(), timeout=60)
    text = transcript.text()
    assert text.index("Caller yes, this is she (typed)") < text.index("→ greeting → reminder") \
        < text.index("Caller I need to reschedule (typed)")
    assert window.controller.current_state == "reschedule_time"
    aio.until(step.send_button.isEnabled, timeout=60)
    assert step.send_button.text() == "Send" and step.box.text() == ""


def test_the_force_dialog_moves_the_call(window: MainWindow, aio: Aio, dialogs: ScriptedDialogs) -> None:
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    dialogs.choices.append("callback_time")
    window.menu_actions["force"].trigger()
    aio.until(lambda: "FORCED" in window.transcript.text())  # the panels show what the events said
    assert window.controller.current_state == "callback_time"
    assert window.graph.node_style("callback_time") == "current"
    assert window.graph.edge_style("greeting", "callback_time") == "forced"
    assert "FORCED greeting → callback_time" in window.transcript.text()


def test_an_invalid_patient_lists_every_problem_and_blocks_start(window: MainWindow, dialogs: ScriptedDialogs,
                                                                 tmp_path: Path) -> None:
    record = json.loads((ROOT / "resources/patients/appointment_reminder__alex_morgan.json").read_text())
    record["data"] |= {"appointment_date": "next week", "clinic_phone": "12", "visit_type": "party"}
    bad = tmp_path / "bad_patient.json"
    bad.write_text(json.dumps(record, indent=2))
    dialogs.files.append(str(bad))
    box = window.setup.patient_box
    box.setCurrentIndex(box.findData(OPEN_FILE))
    box.activated.emit(box.currentIndex())
    problems = [window.setup.problem_list.item(i).text() for i in range(window.setup.problem_list.count())]
    assert len(problems) == 3 and window.setup.problem_list.isVisible()
    for field in ("appointment_date", "clinic_phone", "visit_type"):
        assert any(field in line and line.startswith("bad_patient.json:") for line in problems)
    assert not window.setup.start_button.isEnabled()
    window.menu_actions["start"].trigger()
    assert window.controller.call_state == "ready"


def test_a_bad_schema_file_shows_its_problems(window: MainWindow, dialogs: ScriptedDialogs) -> None:
    dialogs.files.append(str(DATA / "bad_schemas" / "initial_state_unknown.yaml"))
    window.menu_actions["open_schema"].trigger()
    assert window.setup.schema_path.endswith("initial_state_unknown.yaml")
    assert window.setup.problems and not window.setup.start_button.isEnabled()
    assert window.graph.states() == []
    assert window.windowTitle() == "no schema — ready — Voice console"


def test_voice_mode_is_disabled_with_the_reason(make_window: MakeWindow) -> None:
    class NoVoice(VoiceAdapter):
        def __init__(self) -> None:
            super().__init__()
            self._devices_module, self.reason = None, "the voice engine is not installed (engine.voice)"

    window = make_window(controller=CallController(voice=NoVoice()))
    setup = window.setup
    voice_item = setup.mode_box.model().item(setup.mode_box.findData("voice"))
    assert not voice_item.isEnabled() and "not installed" in voice_item.toolTip()
    assert setup.voice_label.isVisible() and "not installed" in setup.voice_label.text()
    assert not setup.input_box.isVisible() and not setup.level_meter.isVisible()
    assert setup.setup()["mode"] == "text"
    assert not window.prompt.play_button.isEnabled()
    tooltip = window.prompt.play_button.toolTip()
    assert "Text to speech is unavailable: the voice engine is not installed" in tooltip


def test_choices_persist_in_the_injected_settings(make_window: MakeWindow, settings: QSettings,
                                                  tmp_path: Path) -> None:
    first = make_window()
    schema = str(ROOT / "schemas" / "medication_adherence.yaml")
    setup = first.setup
    setup.schema_box.setCurrentIndex(setup.schema_box.findData(schema))
    setup.schema_box.activated.emit(setup.schema_box.currentIndex())
    setup.responder_box.setCurrentIndex(setup.responder_box.findData("openai"))
    setup.url_edit.setText("http://127.0.0.1:9/v1")
    setup.url_edit.editingFinished.emit()
    chosen_patient = setup.patient_path
    first.close()
    second = make_window(window_settings=QSettings(settings.fileName(), QSettings.Format.IniFormat))
    restored = second.setup.setup()
    assert (restored["schema"], restored["patient"]) == (schema, chosen_patient)
    assert (restored["responder"], restored["llm_url"]) == ("openai", "http://127.0.0.1:9/v1")
    assert second.setup.url_edit.isEnabled()
    assert Path(settings.fileName()).parent == tmp_path


def test_a_past_call_replays_into_the_panels(window: MainWindow, aio: Aio) -> None:
    controller = window.controller
    window.setup.start()
    aio.until(lambda: controller.call_state == "running")
    aio.run(controller.step("yes, this is she"))
    aio.run(controller.force("wrong_person"))
    aio.until(lambda: controller.call_state == "ended")
    aio.until(lambda: window.history.call_ids())
    call_id = window.history.call_ids()[0]
    live_transcript = window.transcript.text()
    window.transcript.view.clear()
    window.history.select_call(call_id)
    window.history.open_button.click()
    assert controller.call_state == "replay"
    assert window.windowTitle() == "appointment_reminder — replay — Voice console"
    assert "Caller yes, this is she" in window.transcript.text()
    assert window.transcript.text().count(" Bot ") == live_transcript.count(" Bot ")
    assert window.graph.node_style("wrong_person") == "current"
    assert window.graph.edge_style("reminder", "wrong_person") == "forced"
    assert window.latency.samples() and window.report.report["session_id"] == call_id
    assert window.prompt.view["state"] == "wrong_person"


def test_errors_go_to_the_status_line_and_a_dialog(window: MainWindow, dialogs: ScriptedDialogs) -> None:
    window.menu_actions["force"].setEnabled(True)
    window.menu_actions["force"].trigger()
    assert dialogs.errors == [("Cannot force a transition", "No call is running: start one first.")]
    assert "Cannot force a transition" in window.status.message.text()
    assert "c62828" in window.status.message.styleSheet()


def test_the_window_keeps_working_after_an_llm_fault(window: MainWindow, aio: Aio,
                                                     dialogs: ScriptedDialogs) -> None:
    controller, setup = window.controller, window.setup
    with FakeOpenAI() as fake:
        fake.script(*[http_error(500)] * 3)  # enough even if the client retries
        setup.responder_box.setCurrentIndex(setup.responder_box.findData("openai"))
        setup.url_edit.setText(fake.base_url)
        setup.model_edit.setText("fake")
        setup.start()
        aio.until(lambda: dialogs.errors)
        assert dialogs.errors[0][0] == "Call error" and "500" in dialogs.errors[0][1]
        assert "Call error" in window.status.message.text() and "c62828" in window.status.message.styleSheet()
        aio.until(lambda: "Error" in window.transcript.text())
        aio.run(controller.stop())
    assert controller.call_state == "ended"
    setup.responder_box.setCurrentIndex(setup.responder_box.findData("scripted"))
    setup.start()
    aio.until(lambda: controller.call_state == "running" and "Riverside" in window.transcript.text())


def test_the_window_keeps_working_after_an_audio_fault(window: MainWindow, aio: Aio,
                                                       dialogs: ScriptedDialogs) -> None:
    """What the voice engine does when a device vanishes mid-call: a fatal audio error, then the call
    stops."""
    controller = window.controller
    window.setup.start()
    aio.until(lambda: controller.call_state == "running")
    call = controller._call
    call.on_pipeline_error("audio device lost: the microphone stopped delivering audio", "audio", True)
    aio.run(call.stop(reason="audio device lost"))
    aio.until(lambda: controller.call_state == "ended")
    assert dialogs.errors == [
        ("Call error", "audio: audio device lost: the microphone stopped delivering audio")]
    assert "Error (fatal) audio device lost" in window.transcript.text()
    window.setup.start()
    aio.until(lambda: controller.call_state == "running" and window.transcript.text().count(" Bot ") == 1)


def test_menus_have_the_shortcuts(window: MainWindow, qtbot: Any) -> None:
    expected = {"start": "Ctrl+R", "stop": "Ctrl+.", "step": "Ctrl+L", "force": "Ctrl+F", "export": "Ctrl+E",
                "open_schema": "Ctrl+O", "quit": "Ctrl+Q"}
    for key, shortcut in expected.items():
        assert window.menu_actions[key].shortcut() == QKeySequence(shortcut), key
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.menu_actions["step"].trigger()
    qtbot.waitUntil(window.step.box.hasFocus)


def test_the_prompt_panel_toggles_template_and_field_tags(window: MainWindow) -> None:
    window.graph.stateSelected.emit("reminder")
    prompt = window.prompt
    assert prompt.view["state"] == "reminder" and not prompt.view["current"]
    assert "selected node" in prompt.title.text()
    fields = [field for _text, field, _tip in prompt.say_text.highlighted_values()]
    assert fields[:2] == ["patient_first_name", "visit_type"]
    tip = dict((field, tip) for _text, field, tip in prompt.say_text.highlighted_values())["appointment_date"]
    assert "raw value: 2026-12-03" in tip and "spoken: Thursday, December third" in tip
    prompt.tags_toggle.setChecked(True)
    assert "⟨patient_first_name⟩" in prompt.say_text.toPlainText()
    prompt.source_toggle.setChecked(True)
    assert "{{ patient_first_name }}" in prompt.say_text.toPlainText()
    assert "template" in prompt.title.text()


def test_about_to_quit_ends_the_live_call_first(window: MainWindow, aio: Aio) -> None:
    """On aboutToQuit Qt's loop has stopped while asyncio's is still current: the handler drives shutdown."""
    controller = window.controller
    window.setup.start()
    aio.until(lambda: controller.call_state == "running")
    _shut_down_now(controller)
    assert controller.call_state == "ended"
    assert not aio.pending_tasks()



def test_the_screenshot_command_renders_the_window_mid_call(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, "-m", "cli.main", "screenshot", str(out), "--steps", "1",
                           "--size", "1200x800"], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-3000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    assert "wrote" in done.stdout


def test_the_event_loop_lag_bench_reports_percentiles(aio: Aio) -> None:
    try:
        result = aio.run(bench_event_loop_lag(1.0), timeout=90)
    finally:
        gc.unfreeze()  # the bench freezes start-up objects, as the app does; not in a test process
    assert result["samples"] > 20 and result["steps"] >= 1 and result["calls"] >= 1
    assert 0 <= result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["goal_p99_ms"] == 16.0
    assert result["meets_goal"] is (result["p99_ms"] <= result["goal_p99_ms"])





@pytest.mark.voice
def test_with_audio_devices_the_meter_reads_the_microphone_and_play_speaks(
        virtual_audio: Any, make_window: MakeWindow, aio: Aio, tmp_path: Path) -> None:
    window = make_window()
    setup, play = window.setup, window.prompt.play_button
    assert setup.mode_box.model().item(setup.mode_box.findData("voice")).isEnabled()
    assert setup.input_box.count() and setup.output_box.count() and setup.level_meter.isVisible()
    assert play.isEnabled(), play.toolTip()

    feeding = virtual_audio.play_to_microphone(write_tone_wav(tmp_path / "tone.wav", seconds=1.5))
    aio.until(lambda: setup.level_meter.value() > 10, timeout=10)
    feeding.wait(timeout=10)

    speaker = SpeakerRecorder(virtual_audio)  # drains parecord: a full pipe would drop the audio
    play.click()
    aio.until(lambda: not play.isEnabled(), timeout=5)
    aio.until(play.isEnabled, timeout=30)
    speaker.stop()
    loudest = int(abs(speaker.samples().astype(int)).max(initial=0))
    assert loudest > 1000, "the line was not heard on the speaker"
    assert not window.controller.busy


LONG_LINE = " ".join(f"This is sentence number {n} of a long line that the operator plays."
                     for n in range(1, 13))


@pytest.mark.voice
def test_closing_the_console_stops_a_line_being_spoken(virtual_audio: Any, make_window: MakeWindow,
                                                       aio: Aio) -> None:
    """About 45 s of speech: shutdown must silence it, not leave its thread playing to the end."""
    controller = make_window().controller
    speaker = SpeakerRecorder(virtual_audio)
    controller.spawn(controller.speak(LONG_LINE), "play")
    aio.until(lambda: loud_samples(speaker) > SAMPLE_RATE, timeout=60)  # a second of it heard
    aio.run(controller.shutdown(), timeout=10)
    assert not controller.busy and not aio.pending_tasks()
    aio.until(lambda: quiet_seconds_at_end(speaker) > 1.5, timeout=10)  # the line would run on for 30 s
    speaker.stop()


def loud_samples(speaker: SpeakerRecorder) -> int:
    return int((abs(speaker.samples().astype(int)) > 1000).sum())


def quiet_seconds_at_end(speaker: SpeakerRecorder) -> float:
    samples = abs(speaker.samples().astype(int))
    loud = (samples > 1000).nonzero()[0]
    return (len(samples) - (int(loud[-1]) if len(loud) else 0)) / SAMPLE_RATE


@pytest.mark.voice
def test_a_voice_call_starts_and_takes_typed_steps(virtual_audio: Any, make_window: MakeWindow, aio: Aio,
                                                   dialogs: ScriptedDialogs) -> None:
    window = make_window()
    controller, setup = window.controller, window.setup
    setup.mode_box.setCurrentIndex(setup.mode_box.findData("voice"))
    setup.start()
    aio.until(lambda: controller.call_state == "running", timeout=60)
    assert setup.level_meter.value() == 0  # metering stops while the call holds the microphone
    aio.until(lambda: " Bot " in window.transcript.text(), timeout=30)
    window.step.box.setText("yes, this is she")
    window.step.box.returnPressed.emit()
    aio.until(lambda: controller.current_state == "reminder", timeout=30)
    assert "voice" in window.transcript.text().splitlines()[0]
    aio.run(controller.stop())
    assert controller.call_state == "ended" and not dialogs.errors, dialogs.errors
