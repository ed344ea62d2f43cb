"""Replay as a timeline: the panels follow the cursor, by event or by turn, forward and back, or playing."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from console.main_window import MainWindow
from tests.voice.helpers import write_tone_wav

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs


def record_the_replayed_call(window: MainWindow, seconds: float) -> str:
    """Give the replayed (newest) call a recording, and open it again so the timeline knows."""
    call_id = window.history.call_ids()[0]
    folder = Path(os.environ["VOICE_CONSOLE_DATA_DIR"]) / "calls" / call_id
    write_tone_wav(folder / "call.wav", seconds=seconds)
    window.history.open_button.click()
    assert window.controller.replay.has_audio and window.controller.replay.call_id == call_id
    return call_id


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


def test_a_replay_without_a_recording_plays_silently(window: MainWindow, aio: Aio,
                                                     dialogs: ScriptedDialogs) -> None:
    replay_a_call(window, aio)
    assert not window.controller.replay.has_audio
    window.timeline.toggle_play()
    assert window.timeline.playing and not window.timeline.with_audio
    aio.until(lambda: not window.timeline.playing, timeout=30)
    assert not window.controller.history.playing and not dialogs.errors


def test_whole_pauses_while_the_recording_plays(window: MainWindow, aio: Aio) -> None:
    replay_a_call(window, aio)
    cursor = window.controller.replay
    cursor.to(1)
    gaps = []
    while cursor.position < cursor.total:
        gaps.append((cursor.pause_before_next(), cursor.pause_before_next(whole=True)))
        cursor.step_event(1)
    assert all(short == min(whole, 2.0) for short, whole in gaps)
    assert cursor.elapsed_s == pytest.approx(sum(whole for _, whole in gaps), abs=1e-6)


@pytest.mark.voice
def test_at_1x_the_recording_plays_along_from_the_cursor(virtual_audio: Any, window: MainWindow, aio: Aio,
                                                         dialogs: ScriptedDialogs) -> None:
    replay_a_call(window, aio)
    record_the_replayed_call(window, seconds=1.5)
    timeline, history = window.timeline, window.controller.history
    timeline.speed_box.setCurrentIndex(0)
    window.controller.replay.to(0)
    speaker = virtual_audio.record_speaker()
    timeline.toggle_play()
    assert timeline.with_audio
    aio.until(lambda: history.playing, timeout=5)
    aio.until(lambda: not history.playing, timeout=30)  # the whole recording has played
    speaker.terminate()
    audio, _ = speaker.communicate(timeout=10)
    samples = struct.unpack(f"<{len(audio) // 2}h", audio[: len(audio) // 2 * 2])
    assert max(map(abs, samples), default=0) > 1000, "the recording was not heard on the speaker"
    assert not dialogs.errors, dialogs.errors


def test_faster_than_1x_the_recording_stays_silent(window: MainWindow, aio: Aio) -> None:
    replay_a_call(window, aio)
    record_the_replayed_call(window, seconds=1)
    window.timeline.speed_box.setCurrentIndex(window.timeline.speed_box.count() - 1)
    window.timeline.toggle_play()
    assert window.timeline.playing and not window.timeline.with_audio
    aio.until(lambda: not window.timeline.playing)
    assert not window.controller.history.playing


@pytest.mark.voice
def test_pausing_the_timeline_stops_the_recording(virtual_audio: Any, window: MainWindow, aio: Aio,
                                                  dialogs: ScriptedDialogs) -> None:
    replay_a_call(window, aio)
    record_the_replayed_call(window, seconds=20)
    timeline, history = window.timeline, window.controller.history
    timeline.speed_box.setCurrentIndex(0)
    window.controller.replay.to(0)
    timeline.toggle_play()
    aio.until(lambda: history.playing, timeout=5)
    timeline.toggle_play()
    aio.until(lambda: not history.playing, timeout=5)
    assert not timeline.playing and not dialogs.errors, dialogs.errors
