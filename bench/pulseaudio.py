"""A private PulseAudio server with a virtual microphone and speaker, for the voice bench and tests.

PortAudio reaches it through ALSA's `pulse` plugin once `using_server` points this
process's PulseAudio clients at it, so a real voice call runs on it with no hardware.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from engine.errors import AudioDeviceError

_SERVER_SCRIPT = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-null-sink sink_name=spk rate={rate} channels=1
load-module module-null-sink sink_name=micfeed rate={rate} channels=1
load-module module-virtual-source source_name=mic master=micfeed.monitor
set-default-sink spk
set-default-source mic
"""


_NULL_SINK_BLOCK_S = 2.1
_CALLER_BUFFER_MS = 500
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the process that started it dies (Linux), so a
    killed test run leaves no server behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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
        self._process: subprocess.Popen[bytes] | None = None
        self._keepalive: list[subprocess.Popen[bytes]] = []
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
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       env=self._server_env(), start_new_session=True,
                                       preexec_fn=_die_with_parent)
        self._process = process
        self._wait_until_ready(process, timeout)
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

    def _wait_until_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AudioDeviceError(f"pulseaudio exited at start (code {process.returncode}): "
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

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pactl", *args], env=self.client_env(), capture_output=True, text=True,
                              timeout=10, check=check)

    def play_to_microphone(self, wav: Path) -> subprocess.Popen[bytes]:
        """Start playing a WAV file into the virtual microphone; returns the paplay process.

        paplay keeps `_CALLER_BUFFER_MS` of the caller's audio queued in the server: with 20 ms,
        a busy machine that held paplay back made the server fill the microphone with silence
        (a 0.6 s pause mid-sentence was heard as up to 0.94 s).
        """
        command = ["paplay", "--device=micfeed", f"--latency-msec={_CALLER_BUFFER_MS}", str(wav)]
        return subprocess.Popen(command, env=self.client_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    def record_speaker(self, timeout: float = 10.0) -> subprocess.Popen[bytes]:
        """Record the virtual speaker as raw 16-bit mono PCM on the process's stdout; returns once the
        recording runs (its first bytes are waiting), so nothing played after the call is missed."""
        process = subprocess.Popen(["parecord", "--device=spk.monitor", "--raw", "--format=s16le",
                                    f"--rate={self.sample_rate}", "--channels=1", "--latency-msec=20"],
                                   env=self.client_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert process.stdout is not None  # stdout=PIPE
        streaming, _, _ = select.select([process.stdout], [], [], timeout)  # the monitor streams silence too
        if not streaming:
            process.kill()
            process.wait(timeout=5)
            raise AudioDeviceError(f"parecord recorded nothing from spk.monitor within {timeout:g} s")
        return process

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
