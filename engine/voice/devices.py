"""Audio devices: listing and choosing them (PortAudio), and a private virtual PulseAudio server.

PortAudio reaches PulseAudio (or PipeWire's PulseAudio server) through ALSA's
`pulse` plugin, so on such systems it lists the devices `pulse` and `default`;
the sink and source behind them are PulseAudio's defaults, or PULSE_SINK and
PULSE_SOURCE when set.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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


def _default_index(getter: Any) -> int | None:
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


# ----- a private PulseAudio server with a virtual microphone and speaker ---------------------

_SERVER_SCRIPT = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-null-sink sink_name=spk rate={rate} channels=1
load-module module-null-sink sink_name=micfeed rate={rate} channels=1
load-module module-virtual-source source_name=mic master=micfeed.monitor
set-default-sink spk
set-default-source mic
"""


_NULL_SINK_BLOCK_S = 2.1
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the process that started it dies (Linux), so a
    killed test run leaves no server behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class VirtualAudioServer:
    """A PulseAudio server of our own, with a virtual speaker `spk` and microphone `mic`.

    Audio played into the sink `micfeed` comes out of the source `mic`; what the
    bot plays on `spk` can be recorded from `spk.monitor`. Works as root: the
    server runs in the foreground (no daemon, no system mode) in its own runtime dir.
    """

    def __init__(self, root: Path, sample_rate: int = 16000) -> None:
        self.root = root
        self.sample_rate = sample_rate
        self.runtime_dir = root / "runtime"
        self.socket = self.runtime_dir / "native"
        self._process: subprocess.Popen | None = None
        self._keepalive: list[subprocess.Popen] = []
        self._log = root / "pulseaudio.log"

    @property
    def server(self) -> str:
        return f"unix:{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """What a client (PyAudio in this process, paplay, parecord) needs to reach this server."""
        return {"PULSE_SERVER": self.server, "PULSE_RUNTIME_PATH": str(self.runtime_dir)}

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers; AudioDeviceError saying why if it cannot."""
        binary = shutil.which("pulseaudio")
        if binary is None or shutil.which("pactl") is None:
            raise AudioDeviceError("pulseaudio or pactl is not installed "
                                   "(Debian: pulseaudio pulseaudio-utils)")
        self._prepare_dirs()
        script = self.root / "server.pa"
        script.write_text(_SERVER_SCRIPT.format(socket=self.socket, rate=self.sample_rate))
        command = [binary, "--daemonize=no", "--system=false", "-n", "-F", str(script),
                   "--exit-idle-time=-1", "--use-pid-file=no", "--realtime=no", "--high-priority=no",
                   "--disallow-exit", "--log-target=stderr", "--log-level=warning"]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             env=self._server_env(), start_new_session=True,
                                             preexec_fn=_die_with_parent)
        self._wait_until_ready(timeout)
        self._keep_sinks_low_latency()

    def _keep_sinks_low_latency(self) -> None:
        """Hold both null sinks at a sound card's latency for the server's life.

        A null sink renders in 2-second blocks until a client asks for less, so a
        stream opened on an idle one waits up to 2 s for its first write (and again
        after each underrun). One low-latency reader per monitor, started now and
        given one such block to take effect, makes them behave like hardware.
        """
        for monitor in ("spk.monitor", "micfeed.monitor"):
            self._keepalive.append(subprocess.Popen(
                ["parecord", f"--device={monitor}", "--raw", "--latency-msec=10"], env=self.client_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(_NULL_SINK_BLOCK_S)

    def _prepare_dirs(self) -> None:
        for folder in (self.runtime_dir, self.root / "home", self.root / "state"):
            folder.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        env.update(HOME=str(self.root / "home"), XDG_RUNTIME_DIR=str(self.runtime_dir),
                   XDG_STATE_HOME=str(self.root / "state"), XDG_CONFIG_HOME=str(self.root / "home"),
                   PULSE_RUNTIME_PATH=str(self.runtime_dir))
        return env

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AudioDeviceError(f"pulseaudio exited at start (code {self._process.returncode}): "
                                       f"{self.log_tail()}")
            if self.pactl("info", check=False).returncode == 0:
                return
            time.sleep(0.05)
        self.stop()
        raise AudioDeviceError(f"pulseaudio did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self._log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.client_env(), capture_output=True, text=True,
                              timeout=10, check=check)

    def play_to_microphone(self, wav: Path) -> subprocess.Popen:
        """Start playing a WAV file into the virtual microphone; returns the paplay process."""
        return subprocess.Popen(["paplay", "--device=micfeed", "--latency-msec=20", str(wav)],
                                env=self.client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def record_speaker(self) -> subprocess.Popen:
        """Start recording the virtual speaker as raw 16-bit mono PCM on the process's stdout."""
        return subprocess.Popen(["parecord", "--device=spk.monitor", "--raw", "--format=s16le",
                                 f"--rate={self.sample_rate}", "--channels=1", "--latency-msec=20"],
                                env=self.client_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the server (it takes its virtual devices with it)."""
        for reader in self._keepalive:
            reader.terminate()
            reader.wait(timeout=5)
        self._keepalive.clear()
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def kill(self) -> None:
        """Kill the server at once, as if the audio device vanished."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=5)

    def __enter__(self) -> VirtualAudioServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def using_server(server: VirtualAudioServer) -> Iterator[None]:
    """Point this process's PulseAudio clients (PyAudio) at `server` for the duration."""
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
