"""Recording a voice call: the caller's and the bot's audio, and both mixed, as private WAV files."""

from __future__ import annotations

import os
import wave
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

from engine.voice.config import SAMPLE_RATE

TRACKS = ("caller", "bot", "call")


class CallRecorder:
    """Writes the caller's and the bot's audio, and both mixed, to WAV files as the call goes.

    The recordings hold the patient's voice and data: the folder is private to the user (0700)
    and so are the files (0600).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths = {name: folder / f"{name}.wav" for name in TRACKS}
        self._writers: dict[str, wave.Wave_write] = {}
        self._open_files = ExitStack()
        self.processor = AudioBufferProcessor(sample_rate=SAMPLE_RATE, num_channels=1,
                                              buffer_size=SAMPLE_RATE * 2 * 2, auto_start_recording=True)
        self.processor.add_event_handler("on_track_audio_data", self._on_tracks)
        self.processor.add_event_handler("on_audio_data", self._on_mixed)
        self.processor.add_event_handler("on_recording_stopped", self._on_stopped)

    def _writer(self, name: str) -> wave.Wave_write:
        if name not in self._writers:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(self.paths[name], os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            raw = self._open_files.enter_context(os.fdopen(descriptor, "wb"))
            writer = self._open_files.enter_context(wave.Wave_write(raw))
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(SAMPLE_RATE)
            self._writers[name] = writer
        return self._writers[name]

    async def _on_tracks(self, _processor: Any, caller: bytes, bot: bytes, _rate: int,
                         _channels: int) -> None:
        self._writer("caller").writeframes(caller)
        self._writer("bot").writeframes(bot)

    async def _on_mixed(self, _processor: Any, audio: bytes, _rate: int, _channels: int) -> None:
        self._writer("call").writeframes(audio)

    async def _on_stopped(self, _processor: Any) -> None:
        self.close()

    def close(self) -> None:
        """Finish the WAV files written so far (a later recording starts them afresh)."""
        self._open_files.close()
        self._open_files = ExitStack()
        self._writers.clear()

    def written(self) -> dict[str, str]:
        return {name: str(path) for name, path in self.paths.items() if path.exists()}
