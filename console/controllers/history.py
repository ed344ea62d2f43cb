"""The call history: the stored calls (`engine.store`), replaying one into the panels, and playing
a call's recorded audio."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger
from PySide6.QtCore import QObject, Signal

from engine import events as ev
from engine.errors import EngineError

if TYPE_CHECKING:
    from console.controllers.call import CallController
    from console.controllers.voice import VoiceAdapter
    from engine.pipeline import HealthcareAIPipeline

RECORDING_FILE = "call.wav"


class HistorySupport:
    """The call history (`engine.store`), opened on first use; unavailable if it cannot open.

    `data_dir` overrides where it lives (else --data-dir's default: $VOICE_CONSOLE_DATA_DIR or the user's)."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self._data_dir = data_dir
        self._store: Any = None
        self.reason = ""

    def _open(self) -> Any:
        if self._store is None and not self.reason:
            try:
                from engine.store import CallStore

                self._store = CallStore.open_default(self._data_dir)
            except (ImportError, EngineError) as error:
                self.reason = f"the call history is unavailable: {error}"
        return self._store

    def status(self) -> tuple[bool, str]:
        return self._open() is not None, self.reason

    def recordings_root(self) -> Path:
        """Where voice calls record their audio: `<data dir>/calls/<call id>/`."""
        from engine.paths import data_dir

        return data_dir(self._data_dir) / "calls"

    def attach(self, call: HealthcareAIPipeline) -> None:
        store = self._open()
        if store is None:
            return
        try:
            store.attach(call)
        except EngineError as error:
            logger.warning(f"this call is not recorded in the history: {error}")

    def calls(self, limit: int = 200) -> list[dict[str, Any]]:
        store = self._open()
        if store is None:
            return []
        return [{"call_id": record.id, "schema": record.schema, "patient_id": record.patient_id,
                 "responder": record.responder, "mode": record.mode, "status": record.status,
                 "started_at": record.started_at, "ended_at": record.ended_at}
                for record in store.list_calls(limit)]

    def load(self, call_id: str) -> tuple[list[ev.CallEvent], dict[str, Any], str]:
        """A past call's events, its report and its schema's name."""
        store = self._open()
        if store is None:
            raise EngineError(self.reason)
        report = store.report(call_id)
        return store.events(call_id), report, report.get("schema", "")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class HistoryController(QObject):
    """The history as the History panel sees it: the calls, replay, and recordings to play."""

    historyChanged = Signal()  # a recorded call ended: the list has a new entry
    playingChanged = Signal(bool)  # a recording started (True) or stopped playing

    def __init__(self, call: CallController, voice: VoiceAdapter,
                 store: HistorySupport | None = None) -> None:
        super().__init__(call)
        self._call, self._voice = call, voice
        self.store = store or HistorySupport()
        self._output_device = ""  # the set-up's chosen speaker ("" = default)
        self._playing = False
        self._stopping = False  # a stop was asked for: the audio thread ends after its current block
        self._idle = asyncio.Event()  # set while no recording plays
        self._idle.set()
        call.recordedCallEnded.connect(self.historyChanged)

    def status(self) -> tuple[bool, str]:
        """Whether the history can be read, and why not."""
        return self.store.status()

    def calls(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest calls, newest first, as plain data."""
        return self.store.calls(limit)

    def replay(self, call_id: str) -> bool:
        """Show a past call from the history in the same panels."""
        if not self._call.can_show_past_call():
            return False
        try:
            events, report, schema = self.store.load(call_id)
        except EngineError as error:
            self._call.report_failure(f"Call {call_id} could not be opened", error)
            return False
        self._call.show_past_call(call_id, events, report, schema)
        return True

    def recordings_root(self) -> Path:
        """Where voice calls record their audio."""
        return self.store.recordings_root()

    def attach(self, call: HealthcareAIPipeline) -> None:
        """Record a new call in the history (if the history is available)."""
        self.store.attach(call)

    def set_output_device(self, device: str) -> None:
        """The speaker recordings play through ("" = the default)."""
        self._output_device = device

    def recording_of(self, call_id: str) -> str | None:
        """The path of a past call's recorded audio (`<data dir>/calls/<id>/call.wav`), or None."""
        try:
            path = self.recordings_root() / call_id / RECORDING_FILE
        except (OSError, EngineError) as error:
            logger.warning(f"no recordings folder: {error}")
            return None
        return str(path) if call_id and path.is_file() else None

    @property
    def playing(self) -> bool:
        return self._playing

    async def play_recording(self, call_id: str, output_device: str = "", start_s: float = 0.0) -> bool:
        """Play a past call's recording through the chosen speaker from `start_s` seconds in (in a
        thread); False (and `failed`) if it has none or it cannot be played."""
        path = self.recording_of(call_id)
        if path is None:
            self._call.say_failed("Cannot play the recording", f"The call {call_id} has no recorded audio.")
            return False
        if self._playing and self._stopping:  # ▶ right after ■ or a scrub: the stopped playback ends first
            await self._idle.wait()
        if self._playing:
            self._call.say_failed("Cannot play the recording",
                                   "A recording is already playing: stop it first.")
            return False
        self._set_playing(True)
        try:
            async with self._call.working("Playing the recording…"):
                await self._voice.play(path, output_device or self._output_device, start_s)
        except Exception as error:
            self._call.report_failure("The recording could not be played", error)
            return False
        finally:
            self._set_playing(False)
        return True

    def play_along(self, call_id: str, start_s: float) -> None:
        """Play a replayed call's recording from `start_s` as its timeline plays (see `play_recording`)."""
        self._call.spawn(self.play_recording(call_id, start_s=start_s), f"replay-audio-{call_id}")

    def stop_playback(self) -> None:
        """Stop a playing recording (the audio thread stops after its current block)."""
        self._stopping = self._playing
        self._voice.stop_playback()

    def _set_playing(self, playing: bool) -> None:
        self._playing, self._stopping = playing, False
        if playing:
            self._idle.clear()
        else:
            self._idle.set()
        self.playingChanged.emit(playing)

    def close(self) -> None:
        self.stop_playback()
        self.store.close()
