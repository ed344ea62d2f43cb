"""Replay as a timeline: the panels follow the cursor, by event or by turn, forward and back, or playing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.main_window import MainWindow

if TYPE_CHECKING:
    from tests.console.conftest import Aio


def replay_a_call(window: MainWindow, aio: Aio) -> None:
    controller = window.controller
    window.setup.start()
    aio.until(lambda: controller.call_state == "running")
    aio.run(controller.step("yes, this is she"))
    aio.run(controller.step("I need to reschedule"))
    aio.run(controller.stop())
    aio.until(lambda: controller.call_state == "ended" and window.history.call_ids())
    window.history.select_call(window.history.call_ids()[0])
    window.history.open_button.click()
    assert controller.call_state == "replay"


def test_the_panels_follow_the_cursor_by_turn_and_by_event(window: MainWindow, aio: Aio) -> None:
    replay_a_call(window, aio)
    cursor, timeline = window.controller.replay, window.timeline
    assert cursor.position == cursor.total > 0 and timeline.slider.value() == cursor.total
    assert window.graph.node_style("reschedule_time") == "current"
    full_samples = len(window.latency.samples())
    cursor.step_turn(-1)  # to just before the second caller turn
    assert "I need to reschedule" not in window.transcript.text()
    assert "yes, this is she" in window.transcript.text()
    assert window.graph.node_style("reminder") == "current"
    assert window.prompt.view is not None and window.prompt.view["state"] == "reminder"
    assert len(window.latency.samples()) < full_samples
    cursor.step_turn(-1)
    assert "Caller" not in window.transcript.text() and window.graph.node_style("greeting") == "current"
    timeline.buttons["event_back"].click()
    before = cursor.position
    timeline.buttons["event_forward"].click()
    assert cursor.position == before + 1
    timeline.buttons["turn_forward"].click()
    assert "yes, this is she" in window.transcript.text() and window.graph.node_style("reminder") == "current"
    timeline.slider.setValue(0)
    assert cursor.position == 0 and window.transcript.text() == ""
    assert timeline.position_label.full_text().startswith(f"event 0/{cursor.total}")


def test_play_runs_the_call_to_its_end(window: MainWindow, aio: Aio) -> None:
    replay_a_call(window, aio)
    cursor, timeline = window.controller.replay, window.timeline
    timeline.speed_box.setCurrentIndex(timeline.speed_box.count() - 1)
    timeline.toggle_play()  # at the end: starts again from the beginning
    assert timeline.playing and cursor.position == 0
    aio.until(lambda: not timeline.playing)
    assert cursor.position == cursor.total
    assert "I need to reschedule" in window.transcript.text()


def test_a_new_call_leaves_the_timeline(window: MainWindow, aio: Aio) -> None:
    replay_a_call(window, aio)
    window.setup.start()
    aio.until(lambda: window.controller.call_state == "running")
    assert window.controller.replay.total == 0 and not window.timeline.slider.isEnabled()
    aio.until(lambda: " Bot " in window.transcript.text())
    window.menu_actions["replay_event_back"].trigger()  # no replay: the live call's panels stay
    window.menu_actions["replay_play"].trigger()
    assert " Bot " in window.transcript.text() and not window.timeline.playing
