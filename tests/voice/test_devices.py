"""Choosing audio devices, and what a voice call does without any."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pulseaudio import VirtualAudioServer
from cli.main import main
from engine import events as ev
from engine.calls import create_call
from engine.errors import AudioDeviceError, EngineError
from engine.lifecycle import CallStatus
from engine.voice import VoiceConfig, VoiceSession, list_devices, resolve_device
from engine.voice.devices import AudioDevice
from tests.voice.helpers import PATIENT, SCHEMA

pytestmark = pytest.mark.voice


def test_the_virtual_devices_are_listed_and_chosen_by_index_or_name(
        virtual_audio: VirtualAudioServer) -> None:
    devices = list_devices()
    names = [d.name for d in devices]
    assert "pulse" in names and "default" in names
    pulse = next(d for d in devices if d.name == "pulse")
    assert resolve_device(pulse.index, "input", devices) == pulse
    assert resolve_device(str(pulse.index), "output", devices) == pulse
    assert resolve_device("PULSE", "input", devices) == pulse
    assert resolve_device(None, "output", devices).is_default_output


def test_an_unknown_or_ambiguous_device_is_refused_with_the_choices() -> None:
    devices = [AudioDevice(0, "USB Headset: Audio (hw:1,0)", "ALSA", 1, 2, 48000.0),
               AudioDevice(1, "USB Speaker (hw:2,0)", "ALSA", 0, 2, 48000.0)]
    assert resolve_device("headset", "input", devices).index == 0
    with pytest.raises(AudioDeviceError, match=r"no input device: no input device has index 1"):
        resolve_device(1, "input", devices)
    with pytest.raises(AudioDeviceError, match=r"no output device: 'USB' matches several devices"):
        resolve_device("USB", "output", devices)
    with pytest.raises(AudioDeviceError, match=r"no input device: no input device is named 'mic'.*\[0\] USB"):
        resolve_device("mic", "input", devices)
    with pytest.raises(AudioDeviceError, match=r"no input device: PortAudio finds no audio input device"):
        resolve_device(None, "input", devices[1:])


async def test_without_audio_devices_the_call_fails_to_start_and_text_still_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-server-here")
    voice_call = create_call(SCHEMA, PATIENT, voice=VoiceSession())
    with pytest.raises(EngineError, match=r"the call could not start: no input device: "):
        await voice_call.start()
    assert voice_call.status is CallStatus.FAILED
    error = next(e for e in voice_call.events.history if isinstance(e, ev.CallError))
    assert "no input device" in error.message and error.fatal

    text_call = create_call(SCHEMA, PATIENT)
    await text_call.start()
    await text_call.step("yes it is")
    assert text_call.conversation.current == "confirm"
    await text_call.stop()


def test_the_cli_lists_devices(virtual_audio: VirtualAudioServer, capsys: pytest.CaptureFixture) -> None:
    assert main(["devices"]) == 0
    printed = capsys.readouterr().out
    assert "] pulse (ALSA; in " in printed and "default input" in printed


def test_the_cli_runs_a_headless_voice_call(virtual_audio: VirtualAudioServer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    code = main(["voice-call", str(SCHEMA), "--patient", str(PATIENT), "--input-device", "pulse",
                 "--output-device", "pulse", "--record", "--max-seconds", "5", "--data-dir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "bot: Hello Ann, this is River Clinic. Is now a good time to talk?" in printed
    assert "== call ended: the call ran for --max-seconds" in printed
    assert f"recording (bot): {tmp_path}/calls/" in printed and "line cache: 2 hits, 0 misses" in printed


def test_an_unknown_stt_is_a_clear_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["voice-call", str(SCHEMA), "--patient", str(PATIENT), "--stt", "vosk"]) == 1
    assert "unknown STT 'vosk' (choose from: whisper, openai)" in capsys.readouterr().err


def test_a_voice_config_rejects_an_unknown_turn_detector() -> None:
    from engine.errors import VoiceConfigError
    from engine.voice import TurnTuning

    with pytest.raises(VoiceConfigError, match="unknown turn detection 'magic'"):
        VoiceConfig(turn=TurnTuning(turn="magic"))


async def test_a_device_gone_between_the_check_and_the_start_ends_the_call(
        virtual_audio: VirtualAudioServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipecat only logs a device that fails to open; the session ends the call instead."""
    session = VoiceSession()
    session.preflight()  # devices found and opened
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/gone")
    call = create_call(SCHEMA, PATIENT, voice=session)
    await call.start()
    assert await call.wait_until_ended(10)
    reason = call.end_reason
    assert reason.startswith("audio device lost: the microphone could not be opened"), reason
    assert isinstance(call.events.history[-1], ev.CallEnded)
