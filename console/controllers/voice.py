"""VoiceAdapter: the console's thin adapter to `engine.voice`: devices, voice calls, Speak, playback
and the microphone's level.

Unavailable, with the reason, when the voice engine does not import or finds no device.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, QTimer, Signal

from console.panels import CallSetup, Choice
from engine.errors import EngineError

LEVEL_INTERVAL_MS = 50


class VoiceAdapter(QObject):
    inputLevel = Signal(float)  # the microphone's level, 0..1, while metering

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._piper: Any = None
        self._level: Any = None
        self._found: list[Any] | None = None
        self.recordings_root: Path | None = None  # where recorded calls go (None: <data dir>/calls)
        self._stop_playing = threading.Event()
        self._stop_speaking = threading.Event()
        self._level_timer = QTimer(self)
        self._level_timer.setInterval(LEVEL_INTERVAL_MS)
        self._level_timer.timeout.connect(self._emit_level)
        try:
            from engine.voice import devices
        except ImportError as error:
            self._devices_module: Any = None
            self.reason = f"the voice engine is not installed ({error.name or error})"
        else:
            self._devices_module = devices
            self.reason = ""

    def devices(self) -> tuple[list[Choice], list[Choice]]:
        """(label, name) of the audio input and output devices."""
        if self._devices_module is None:
            return [], []
        if self._found is None:
            try:
                self._found = self._devices_module.list_devices()
            except EngineError as error:
                self.reason, self._found = str(error), []
        from engine.voice.playback import device_label

        found = self._found
        return ([(device_label(d, d.is_default_input), d.name) for d in found if d.max_input_channels > 0],
                [(device_label(d, d.is_default_output), d.name) for d in found if d.max_output_channels > 0])

    def status(self) -> tuple[bool, str]:
        """Whether voice calls can be made, and why not."""
        if self._devices_module is None:
            return False, self.reason
        inputs, _outputs = self.devices()
        return (True, "") if inputs else (False, self.reason or "no audio input device was found")

    def tts_status(self) -> tuple[bool, str]:
        """Whether lines can be spoken and recordings played, and why not."""
        if self._devices_module is None:
            return False, self.reason
        _inputs, outputs = self.devices()
        return (True, "") if outputs else (False, self.reason or "no audio output device was found")

    async def build(self, setup: CallSetup) -> Any:
        """A checked `VoiceSession` for one call; the slow checks and loading run in a thread."""
        available, reason = self.status()
        if not available:
            raise EngineError(f"voice mode is unavailable: {reason}")
        from engine.voice.config import VoiceConfig
        from engine.voice.session import VoiceSession

        session = VoiceSession(VoiceConfig(input_device=setup.get("input_device") or None,
                                           output_device=setup.get("output_device") or None,
                                           record=bool(setup.get("record")),
                                           recordings_root=self.recordings_root))
        await asyncio.to_thread(self._prepare, session)
        return session

    @staticmethod
    def _prepare(session: Any) -> None:
        """Check devices and model files, and load the shared Whisper model, off the event loop."""
        from engine.voice import models

        session.preflight()
        if session.config.stt == "whisper" and session.config.stt_factory is None:
            # the same cache key as the STT service's own call, so the call reuses this model
            models.shared_whisper_model(str(models.whisper_model_dir()), "cpu", "int8")

    async def speak(self, text: str, output_device: str = "") -> None:
        """Say `text` in the bundled Piper voice (synthesis and playback run in a thread)."""
        available, reason = self.tts_status()
        if not available:
            raise EngineError(f"text to speech is unavailable: {reason}")
        self._stop_speaking.clear()
        await asyncio.to_thread(self._speak_now, text, output_device)

    def stop_speaking(self) -> None:
        """Stop a line being spoken (its thread stops after its current sentence or block)."""
        self._stop_speaking.set()

    def _speak_now(self, text: str, output_device: str) -> None:
        from piper import PiperVoice

        from engine.voice import models
        from engine.voice.playback import speak_with

        self._piper = self._piper or PiperVoice.load(models.piper_voice_file())
        speak_with(self._piper, text, output_device, self._stop_speaking)

    async def play(self, path: str, output_device: str = "", start_s: float = 0.0) -> None:
        """Play a WAV file through the chosen speaker from `start_s` seconds in (in a thread)."""
        available, reason = self.tts_status()
        if not available:
            raise EngineError(f"audio playback is unavailable: {reason}")
        from engine.voice.playback import play_wav_file

        self._stop_playing.clear()
        await asyncio.to_thread(play_wav_file, path, output_device, self._stop_playing, start_s)

    def stop_playback(self) -> None:
        """Stop playing (the audio thread stops after its current block)."""
        self._stop_playing.set()

    def monitor_input(self, device: str | None) -> None:
        """Meter the microphone on `inputLevel` (None: stop). The audio thread only stores the level;
        a timer here reads it, so no Qt signal crosses threads (PySide6 can crash on that: PYSIDE-3124)."""
        self._stop_monitor()
        if device is None or self._devices_module is None:
            return
        from engine.voice.playback import LevelMonitor

        try:
            self._level = LevelMonitor(device)
        except (EngineError, OSError) as error:
            logger.warning(f"no input level: {error}")
            return
        self._level_timer.start()

    def _emit_level(self) -> None:
        self.inputLevel.emit(self._level.level if self._level is not None else 0.0)

    def _stop_monitor(self) -> None:
        self._level_timer.stop()
        if self._level is not None:
            self._level.close()
            self._level = None

    def close(self) -> None:
        """Release audio devices and models."""
        self._stop_monitor()
        self.stop_playback()
        self.stop_speaking()
        self._piper = None
