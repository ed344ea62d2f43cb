"""Audio devices: listing and choosing them (PortAudio).

PortAudio reaches PulseAudio (or PipeWire's PulseAudio server) through ALSA's
`pulse` plugin, so on such systems it lists the devices `pulse` and `default`;
the sink and source behind them are PulseAudio's defaults, or PULSE_SINK and
PULSE_SOURCE when set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from engine.errors import AudioDeviceError

Direction = Literal["input", "output"]


@dataclass(frozen=True, slots=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    is_default_input: bool = False
    is_default_output: bool = False

    def channels(self, direction: Direction) -> int:
        return self.max_input_channels if direction == "input" else self.max_output_channels

    def describe(self) -> str:
        roles = [role for role, on in (("default input", self.is_default_input),
                                       ("default output", self.is_default_output)) if on]
        extra = f", {', '.join(roles)}" if roles else ""
        return (f"[{self.index}] {self.name} ({self.host_api}; in {self.max_input_channels}, "
                f"out {self.max_output_channels}, {self.default_sample_rate:.0f} Hz{extra})")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what ALSA and JACK print on the C stderr while PortAudio probes devices."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# A speaker stream's buffer. PortAudio's lowest latency (about 8 ms through ALSA's pulse plugin)
# underruns, and clicks, at every hiccup of the machine.
SPEAKER_BUFFER_S = 0.04


def speaker_frames_per_buffer(sample_rate: int) -> int:
    return int(sample_rate * SPEAKER_BUFFER_S)


def open_pyaudio() -> Any:
    """A PyAudio instance, or AudioDeviceError if PyAudio/PortAudio is missing."""
    try:
        import pyaudio
    except ImportError as error:
        raise AudioDeviceError("no audio support: PyAudio is not installed (pip install 'pipecat-ai[local]'; "
                               "Debian: portaudio19-dev libportaudio2)") from error
    with quiet_native_stderr():
        return pyaudio.PyAudio()


def _devices_of(pa: Any) -> list[AudioDevice]:
    default_in = _default_index(pa.get_default_input_device_info)
    default_out = _default_index(pa.get_default_output_device_info)
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        devices.append(AudioDevice(
            index=index, name=str(info["name"]),
            host_api=str(pa.get_host_api_info_by_index(info["hostApi"])["name"]),
            max_input_channels=int(info["maxInputChannels"]),
            max_output_channels=int(info["maxOutputChannels"]),
            default_sample_rate=float(info["defaultSampleRate"]),
            is_default_input=index == default_in, is_default_output=index == default_out,
        ))
    return devices


def _default_index(getter: Callable[[], dict[str, Any]]) -> int | None:
    try:
        return int(getter()["index"])
    except OSError:
        return None


def list_devices() -> list[AudioDevice]:
    """Every audio device PortAudio can see, with its index, name and channels."""
    pa = open_pyaudio()
    try:
        return _devices_of(pa)
    finally:
        pa.terminate()


def resolve_device(spec: int | str | None, direction: Direction,
                   devices: list[AudioDevice] | None = None) -> AudioDevice:
    """The device for `spec` (index, exact or unique partial name, or None for the default).

    Raises AudioDeviceError("no input device: …" / "no output device: …").
    """
    devices = list_devices() if devices is None else devices
    usable = [d for d in devices if d.channels(direction) > 0]
    if not usable:
        raise AudioDeviceError(f"no {direction} device: PortAudio finds no audio {direction} device "
                               "(no sound card, and no PulseAudio/PipeWire server reachable)")
    if spec is None or spec == "":
        return _default_of(usable, direction)
    if isinstance(spec, int) or str(spec).isdigit():
        return _by_index(usable, int(spec), direction)
    return _by_name(usable, str(spec), direction)


def _default_of(usable: list[AudioDevice], direction: Direction) -> AudioDevice:
    flag = "is_default_input" if direction == "input" else "is_default_output"
    for device in usable:
        if getattr(device, flag):
            return device
    for name in ("default", "pulse", "pipewire"):
        for device in usable:
            if device.name.lower() == name:
                return device
    return usable[0]


def _by_index(usable: list[AudioDevice], index: int, direction: Direction) -> AudioDevice:
    for device in usable:
        if device.index == index:
            return device
    raise AudioDeviceError(f"no {direction} device: no {direction} device has index {index} "
                           f"(available: {_names(usable)})")


def _by_name(usable: list[AudioDevice], name: str, direction: Direction) -> AudioDevice:
    wanted = name.lower()
    exact = [d for d in usable if d.name.lower() == wanted]
    if exact:
        return exact[0]
    partial = [d for d in usable if wanted in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AudioDeviceError(f"no {direction} device: '{name}' matches several devices: {_names(partial)}")
    raise AudioDeviceError(f"no {direction} device: no {direction} device is named '{name}' "
                           f"(available: {_names(usable)})")


def _names(devices: list[AudioDevice]) -> str:
    return ", ".join(f"[{d.index}] {d.name}" for d in devices) or "none"


def check_device_opens(device: AudioDevice, direction: Direction, sample_rate: int) -> None:
    """Open and close a 16-bit mono stream on the device; AudioDeviceError if that fails."""
    pa = open_pyaudio()
    try:
        with quiet_native_stderr():
            stream = pa.open(format=pa.get_format_from_width(2), channels=1, rate=sample_rate,
                             input=direction == "input", output=direction == "output",
                             input_device_index=device.index if direction == "input" else None,
                             output_device_index=device.index if direction == "output" else None,
                             start=False)
            stream.close()
    except (OSError, ValueError) as error:
        raise AudioDeviceError(f"no {direction} device: {device.name} cannot be opened at {sample_rate} Hz "
                               f"({error})") from error
    finally:
        pa.terminate()


def require_present(pa: Any, device: AudioDevice, direction: Direction) -> None:
    """AudioDeviceError unless `device` is still at its index in this PyAudio instance.

    PortAudio can crash the process when asked to open an index it no longer has.
    """
    present = [d for d in _devices_of(pa) if d.index == device.index and d.name == device.name]
    if not present or present[0].channels(direction) < 1:
        raise AudioDeviceError(f"no {direction} device: {device.name} is no longer there")


def choose_devices(input_spec: int | str | None, output_spec: int | str | None,
                   sample_rate: int) -> tuple[AudioDevice, AudioDevice]:
    """Resolve and test-open the call's microphone and speaker."""
    devices = list_devices()
    microphone = resolve_device(input_spec, "input", devices)
    speaker = resolve_device(output_spec, "output", devices)
    check_device_opens(microphone, "input", sample_rate)
    check_device_opens(speaker, "output", sample_rate)
    return microphone, speaker
