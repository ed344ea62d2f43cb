"""How the models share the cores: no thread of one library spins while another computes.

A caller's turn is transcribed by CTranslate2 (Whisper) on every core while smart-turn, the
VAD and the audio path run beside it. Two libraries in the process keep idle threads
spinning after each call by default, taking a core from Whisper exactly when it works:
onnxruntime's intra-op pool (Piper's session; smart-turn, Silero and the NLU encoder use a
single thread, so no pool) and numpy's OpenBLAS, whose threads busy-wait after every matrix
product (Whisper's and smart-turn's mel features are one each).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime as ort

# numpy's bundled OpenBLAS, by the names its builds export (scipy-openblas, then plain OpenBLAS).
_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads")
_BLAS_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                 "openblas_get_num_threads")


def onnx_options(threads: int) -> ort.SessionOptions:
    """Session options for any model of ours: `threads` intra-op threads, run in sequence, that sleep
    rather than spin when idle."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _numpy_blas() -> ctypes.CDLL | None:
    """numpy's own OpenBLAS library (already loaded by numpy, so this is the same instance)."""
    import numpy

    for folder in (Path(numpy.__file__).parent.parent / "numpy.libs", Path(numpy.__file__).parent / ".libs"):
        for library in sorted(folder.glob("lib*openblas*.so*")):
            return ctypes.CDLL(str(library))
    return None


def _blas_function(names: tuple[str, ...]) -> ctypes._NamedFuncPointer | None:
    library = _numpy_blas()
    if library is None:
        return None
    return next((getattr(library, name) for name in names if hasattr(library, name)), None)


def single_threaded_blas() -> None:
    """numpy's OpenBLAS on one thread (the voice path's matrices are small); no-op without OpenBLAS."""
    setter = _blas_function(_BLAS_SETTERS)
    if setter is not None:
        setter(ctypes.c_int(1))


def blas_threads() -> int | None:
    """How many threads numpy's OpenBLAS uses; None when numpy is not built on OpenBLAS."""
    getter = _blas_function(_BLAS_GETTERS)
    if getter is None:
        return None
    getter.restype = ctypes.c_int
    return int(getter())
