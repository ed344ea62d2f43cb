"""Local audio outside a call: play a WAV file, speak a line in the Piper voice, meter a microphone.

Each runs on PortAudio through `engine.voice.devices`; playback and speech block, so callers
run them in a thread; both stop within one block (`PLAY_BLOCK_S`) of their stop event.
`LevelMonitor` keeps the input level of its latest block for a GUI to poll.
"""

from __future__ import annotations

import math
import threading
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError
from engine.voice import devices
from engine.voice.devices import AudioDevice

PLAY_BLOCK_S = 0.1  # a stop request takes effect within one block
LEVEL_RATE = 16000
LEVEL_BLOCK_FRAMES = 1600
LEVEL_FULL_SCALE_RMS = 8000  # an RMS at or above this reads as level 1.0


def play_wav_file(path: str, output_device: str, stop: threading.Event, start_s: float = 0.0) -> None:
    """Play a WAV file through `output_device` ("" = default), from `start_s` seconds in, until it ends
    or `stop` is set."""
    speaker = devices.resolve_device(output_device or None, "output")
    try:
        with wave.open(path, "rb") as recording:
            recording.setpos(min(max(0, int(start_s * recording.getframerate())), recording.getnframes()))
            play_wav(recording, speaker.index, stop)
    except (EOFError, wave.Error) as error:
        raise EngineError(f"{path} is not a readable WAV file: {error}") from error


def play_wav(recording: wave.Wave_read, speaker_index: int, stop: threading.Event) -> None:
    block = max(1, int(recording.getframerate() * PLAY_BLOCK_S))
    blocks = iter(lambda: recording.readframes(block), b"")
    pcm = PcmFormat(recording.getsampwidth(), recording.getnchannels(), recording.getframerate())
    play_blocks(blocks, pcm, speaker_index, stop)


def speak_with(voice: Any, text: str, output_device: str, stop: threading.Event) -> None:
    """Say `text` with a loaded `PiperVoice` through `output_device` ("" = default), until it ends or
    `stop` is set. The whole line is synthesized before it plays: a sentence synthesized mid-line
    starved the stream on a busy machine (underruns, gaps)."""
    speaker = devices.resolve_device(output_device or None, "output")
    chunks = []
    for chunk in voice.synthesize(text):
        if stop.is_set():
            return
        chunks.append(chunk)
    if not chunks:
        return
    first = chunks[0]
    pcm = b"".join(chunk.audio_int16_bytes for chunk in chunks)
    step = max(1, int(first.sample_rate * PLAY_BLOCK_S)) * first.sample_width * first.sample_channels
    blocks = (pcm[start:start + step] for start in range(0, len(pcm), step))
    play_blocks(blocks, PcmFormat(first.sample_width, first.sample_channels, first.sample_rate),
                speaker.index, stop)


@dataclass(frozen=True)
class PcmFormat:
    sample_width: int
    channels: int
    rate: int


def play_blocks(blocks: Iterator[bytes], pcm: PcmFormat, speaker_index: int, stop: threading.Event) -> None:
    """Write `blocks` of PCM to the speaker until they run out or `stop` is set (checked between blocks)."""
    audio = devices.open_pyaudio()
    stream = None
    try:
        stream = audio.open(format=audio.get_format_from_width(pcm.sample_width), channels=pcm.channels,
                            rate=pcm.rate, output=True, output_device_index=speaker_index,
                            frames_per_buffer=devices.speaker_frames_per_buffer(pcm.rate))
        for block in blocks:
            if stop.is_set():
                break
            stream.write(block)
    finally:
        if stream is not None:
            stream.stop_stream()
            stream.close()
        audio.terminate()


def block_level(data: bytes) -> float:
    """The RMS level (0..1) of a block of 16-bit mono samples."""
    samples = array("h", data)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return min(1.0, rms / LEVEL_FULL_SCALE_RMS)


class LevelMonitor:
    """A PortAudio input stream that keeps the RMS level (0..1) of its latest block in `level`."""

    def __init__(self, device: str) -> None:
        microphone = devices.resolve_device(device or None, "input")
        self._audio = devices.open_pyaudio()
        self.level = 0.0
        self._stream = self._audio.open(format=self._audio.get_format_from_width(2), channels=1,
                                        rate=LEVEL_RATE, input=True, input_device_index=microphone.index,
                                        frames_per_buffer=LEVEL_BLOCK_FRAMES, stream_callback=self._block)

    def _block(self, data: bytes, _frames: int, _time: Any, _status: int) -> tuple[None, int]:
        self.level = block_level(data)  # read by the GUI thread; a float store is atomic
        return None, 0  # paContinue

    def close(self) -> None:
        self._stream.stop_stream()
        self._stream.close()
        self._audio.terminate()


def device_label(device: AudioDevice, default: bool) -> str:
    """A device's name as a chooser shows it, marked when it is the default."""
    return f"{device.name} (default)" if default else device.name
