"""Recorded calls: the setup's "Record audio" choice and playing a past call's recording from the history.

See conftest.py for how the qasync loop and pytest-qt share Qt's event loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QSettings

from bench.voice import SpeakerRecorder
from console.controllers import CallController, VoiceAdapter
from console.main_window import MainWindow
from engine.errors import AudioDeviceError
from tests.voice.helpers import write_tone_wav

if TYPE_CHECKING:
    from tests.console.conftest import Aio, ScriptedDialogs

MakeWindow = Callable[..., MainWindow]


class NoSpeaker(VoiceAdapter):
    """A voice engine that finds no audio device, as on a machine without a sound card."""

    def devices(self) -> tuple[list[Any], list[Any]]:
        return [], []




def recording_path(call_id: str) -> Path:
    return Path(os.environ["VOICE_CONSOLE_DATA_DIR"]) / "calls" / call_id / "call.wav"


def text_calls(window: MainWindow, aio: Aio, count: int) -> list[str]:
    """Run `count` short text calls through the window; their ids, newest first."""
    controller = window.controller
    for _ in range(count):
        window.setup.start()
        aio.until(lambda: controller.call_state == "running")
        aio.run(controller.step("yes, this is she"))
        aio.run(controller.stop())
        aio.until(lambda: controller.call_state == "ended")
    aio.until(lambda: len(window.history.call_ids()) >= count)
    return window.history.call_ids()


def test_record_audio_is_offered_only_in_voice_mode(make_window: MakeWindow) -> None:
    setup = make_window().setup
    assert setup.setup()["mode"] == "text"
    assert not setup.record_box.isEnabled()
    setup.record_box.setChecked(True)  # a saved choice stays, but a text call does not record
    assert setup.setup()["record"] is False


def test_record_audio_is_enabled_in_voice_mode_and_persists(make_window: MakeWindow,
                                                             settings: QSettings) -> None:
    first = make_window()
    setup = first.setup
    if not setup.voice_available:  # no microphone: let the window believe in one, for the widgets only
        model = setup.mode_box.model()
        model.item(setup.mode_box.findData("voice")).setEnabled(True)  # type: ignore[attr-defined]
        setup.voice_available = True
    setup.mode_box.setCurrentIndex(setup.mode_box.findData("voice"))
    assert setup.record_box.isEnabled()
    setup.record_box.setChecked(True)
    assert setup.setup()["record"] is True
    first.close()
    second = make_window(window_settings=QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert second.setup.record_box.isChecked()


def test_the_voice_config_records_into_the_data_folder(aio: Aio, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.voice.session

    configs: list[Any] = []

    class NoSession:
        def __init__(self, config: Any) -> None:
            configs.append(config)
            raise AudioDeviceError("no microphone in this test")

    class Available(VoiceAdapter):
        def status(self) -> tuple[bool, str]:
            return True, ""

    monkeypatch.setattr(engine.voice.session, "VoiceSession", NoSession)
    controller = CallController(voice=Available())
    try:
        schema, patient = controller.default_selection()
        controller.select(schema, patient)
        for record in (True, False):
            assert not aio.run(controller.start({"schema": schema, "patient": patient, "mode": "voice",
                                                  "record": record}))
    finally:
        aio.run(controller.shutdown())
    data = Path(os.environ["VOICE_CONSOLE_DATA_DIR"])
    assert [(c.record, c.recordings_root) for c in configs] == [(True, data / "calls"),
                                                                (False, data / "calls")]


def test_play_is_enabled_only_for_a_call_with_a_recording(make_window: MakeWindow, aio: Aio,
                                                          dialogs: ScriptedDialogs) -> None:
    window = make_window(controller=CallController(voice=NoSpeaker()))
    newer, older = text_calls(window, aio, 2)[:2]
    write_tone_wav(recording_path(older))
    history = window.history
    history.refresh()
    assert window.controller.history.recording_of(older) == str(recording_path(older))
    assert window.controller.history.recording_of(newer) is None
    history.select_call(older)
    assert history.play_button.isEnabled()
    history.select_call(newer)
    assert not history.play_button.isEnabled()
    assert not history.stop_play_button.isEnabled()

    history.select_call(older)
    history.play_button.click()
    aio.until(lambda: dialogs.errors)
    title, message = dialogs.errors[-1]
    assert title == "The recording could not be played"
    assert "audio playback is unavailable" in message and "no audio output device" in message
    aio.until(lambda: not window.controller.busy and history.play_button.isEnabled())


def test_playing_a_call_without_a_recording_fails_clearly(controller: CallController, aio: Aio) -> None:
    errors: list[tuple[str, str]] = []
    controller.failed.connect(lambda title, message: errors.append((title, message)))
    assert not aio.run(controller.history.play_recording("no-such-call"))
    assert errors == [("Cannot play the recording", "The call no-such-call has no recorded audio.")]




@pytest.mark.voice
def test_a_recording_plays_through_the_speaker(virtual_audio: Any, make_window: MakeWindow, aio: Aio,
                                               dialogs: ScriptedDialogs) -> None:
    window = make_window()
    call_id = text_calls(window, aio, 1)[0]
    write_tone_wav(recording_path(call_id), seconds=1.5)
    history = window.history
    history.refresh()
    history.select_call(call_id)
    assert history.play_button.isEnabled(), history.play_button.toolTip()
    speaker = SpeakerRecorder(virtual_audio)  # drains parecord: a full pipe would drop the audio
    history.play_button.click()
    aio.until(lambda: window.controller.history.playing, timeout=5)
    assert history.stop_play_button.isEnabled() and not history.play_button.isEnabled()
    aio.until(lambda: not window.controller.history.playing, timeout=30)
    speaker.stop()
    loudest = int(abs(speaker.samples().astype(int)).max(initial=0))
    assert loudest > 1000, "the recording was not heard on the speaker"
    assert not dialogs.errors, dialogs.errors
    assert history.play_button.isEnabled()


@pytest.mark.voice
def test_stop_ends_the_playback(virtual_audio: Any, make_window: MakeWindow, aio: Aio,
                                dialogs: ScriptedDialogs) -> None:
    window = make_window()
    call_id = text_calls(window, aio, 1)[0]
    write_tone_wav(recording_path(call_id), seconds=20)
    history = window.history
    history.refresh()
    history.select_call(call_id)
    history.play_button.click()
    aio.until(lambda: window.controller.history.playing, timeout=5)
    history.stop_play_button.click()
    aio.until(lambda: not window.controller.history.playing, timeout=5)
    assert not dialogs.errors, dialogs.errors
    assert history.play_button.isEnabled() and not history.stop_play_button.isEnabled()


@pytest.mark.voice
def test_play_right_after_stop_waits_for_the_stopped_playback_and_plays(
        virtual_audio: Any, make_window: MakeWindow, aio: Aio, dialogs: ScriptedDialogs) -> None:
    window = make_window()
    call_id = text_calls(window, aio, 1)[0]
    write_tone_wav(recording_path(call_id), seconds=20)
    history, started = window.controller.history, []
    history.playingChanged.connect(lambda playing: started.append(playing) if playing else None)
    window.controller.spawn(history.play_recording(call_id), "first-playback")
    aio.until(lambda: history.playing, timeout=5)
    history.stop_playback()  # ■ then ▶ at once, as the timeline does
    window.controller.spawn(history.play_recording(call_id), "second-playback")
    aio.until(lambda: len(started) == 2, timeout=5)
    assert history.playing
    history.stop_playback()
    aio.until(lambda: not history.playing, timeout=5)
    assert not dialogs.errors, dialogs.errors
