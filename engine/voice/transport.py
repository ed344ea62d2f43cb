"""The local microphone and speaker as a Pipecat transport, watched so that a lost device is noticed.

A device that fails to open, a microphone stream that stops or goes silent, and a speaker
that stops taking audio are each reported by `lost_device` (polled by a watch the session
gives the microphone, run as the microphone's own Pipecat task) or through the speaker's
`on_lost` callback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pipecat.frames.frames import CancelFrame, EndFrame, OutputAudioRawFrame, StartFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.local.audio import LocalAudioTransportParams

from engine.errors import AudioDeviceError
from engine.voice.config import SAMPLE_RATE
from engine.voice.devices import AudioDevice, open_pyaudio, require_present, speaker_frames_per_buffer
from engine.voice.pipecat_private import LocalAudioInputHooks, LocalAudioOutputHooks

END_SILENCE_S = 1
WRITE_TIMEOUT_S = 3.0  # a speaker write blocked this long: the speaker is gone


class WatchedInput(LocalAudioInputHooks):
    """The microphone; remembers when audio last arrived, so a lost device can be noticed."""

    def __init__(self, portaudio: Any, params: LocalAudioTransportParams, device: AudioDevice) -> None:
        super().__init__(portaudio, params)
        self._portaudio = portaudio
        self.device = device
        self.last_audio_at: float | None = None
        self.closing = False
        self.open_error: str | None = None
        self._watch: Callable[[], Coroutine[Any, Any, None]] | None = None
        self._watch_task: asyncio.Task[None] | None = None

    # The ignore: Pipecat's FrameProcessor.setup narrows the argument of BaseObject.setup.
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        """A microphone that fails to open is recorded, not raised: a processor whose set-up
        raises holds the pipeline's start, and the call would hang instead of ending."""
        try:
            require_present(self._portaudio, self.device, "input")
        except AudioDeviceError as error:
            self.open_error = str(error)
            await self.setup_without_stream(setup)
            return
        try:
            await super().setup(setup)
        except Exception as error:
            self.open_error = str(error)

    def on_audio_in(self) -> None:
        self.last_audio_at = time.monotonic()

    def watch_with(self, watch: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `watch()` as a task of this processor while the microphone is open."""
        self._watch = watch

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._watch is not None:
            self._watch_task = self.create_task(self._watch(), name="device-watch")

    async def stop(self, frame: EndFrame) -> None:
        self.closing = True
        await self._stop_watching()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        self.closing = True
        await self._stop_watching()
        await super().cancel(frame)

    async def cleanup(self) -> None:
        await self._stop_watching()
        await super().cleanup()  # type: ignore[no-untyped-call]  # unannotated in Pipecat

    async def _stop_watching(self) -> None:
        task, self._watch_task = self._watch_task, None
        if task is not None and task is not asyncio.current_task():
            await self.cancel_task(task)

    def silent_for(self) -> float:
        return 0.0 if self.last_audio_at is None else time.monotonic() - self.last_audio_at

    def stream_failed(self) -> bool:
        """The stream stopped by itself (PortAudio ends it when the device goes away)."""
        return self.last_audio_at is not None and self.stream_active() is False


class WatchedOutput(LocalAudioOutputHooks):
    """The speaker (a `devices.SPEAKER_BUFFER_S` buffer); a failing write is reported once as a
    lost device."""

    frames_per_buffer = speaker_frames_per_buffer(SAMPLE_RATE)

    def __init__(self, portaudio: Any, params: LocalAudioTransportParams, device: AudioDevice) -> None:
        super().__init__(portaudio, params)
        self._portaudio = portaudio
        self._stream_params = params
        self.device = device
        self.on_lost: Callable[[str], None] | None = None
        self.closing = False
        self.open_error: str | None = None

    # The ignore: Pipecat's FrameProcessor.setup narrows the argument of BaseObject.setup.
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await self.setup_without_stream(setup)
        try:
            require_present(self._portaudio, self.device, "output")
            params = self._stream_params
            self.use_stream(self._portaudio.open(
                format=self._portaudio.get_format_from_width(2), channels=params.audio_out_channels,
                rate=self.sample_rate, output=True, output_device_index=params.output_device_index,
                frames_per_buffer=self.frames_per_buffer))
        except Exception as error:
            self.open_error = str(error)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        try:
            return await super().write_audio_frame(frame)
        except OSError as error:
            if self.on_lost is not None and not self.closing:
                self.on_lost(f"the speaker stopped taking audio ({error})")
            return False

    async def stop(self, frame: EndFrame) -> None:
        self.closing = True
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        self.closing = True
        await super().cancel(frame)


class WatchedAudioTransport(BaseTransport):
    """Pipecat's local audio transport on chosen devices, with both sides watched."""

    def __init__(self, microphone: AudioDevice, speaker: AudioDevice) -> None:
        super().__init__()
        params = transport_params(microphone, speaker)
        portaudio = open_pyaudio()
        self._microphone = WatchedInput(portaudio, params, microphone)
        self._speaker = WatchedOutput(portaudio, params, speaker)

    def input(self) -> WatchedInput:
        return self._microphone

    def output(self) -> WatchedOutput:
        return self._speaker


def transport_params(microphone: AudioDevice, speaker: AudioDevice) -> LocalAudioTransportParams:
    return LocalAudioTransportParams(
        audio_in_enabled=True, audio_out_enabled=True, audio_in_sample_rate=SAMPLE_RATE,
        audio_out_sample_rate=SAMPLE_RATE, input_device_index=microphone.index,
        output_device_index=speaker.index, audio_out_end_silence_secs=END_SILENCE_S,
        audio_out_write_timeout_secs=WRITE_TIMEOUT_S)


def lost_device(microphone: WatchedInput, speaker: WatchedOutput, silence_limit_s: float) -> str | None:
    """Why the call's audio devices can no longer serve it, or None while they work."""
    if microphone.closing or speaker.closing:
        return None
    if microphone.open_error:
        return f"the microphone could not be opened ({microphone.open_error})"
    if speaker.open_error:
        return f"the speaker could not be opened ({speaker.open_error})"
    if microphone.stream_failed():
        return "the microphone stream stopped"
    if microphone.silent_for() > silence_limit_s:
        return f"the microphone delivered no audio for {microphone.silent_for():.1f} s"
    if not speaker.is_usable:
        return f"the speaker took no audio for {WRITE_TIMEOUT_S:.0f} s"
    return None
