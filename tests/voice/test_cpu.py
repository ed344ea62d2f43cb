"""The voice models leave the cores to each other: no idle thread spins after its work."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine import cpu
from engine.voice import models


def _cpu_seconds_while_idle(seconds: float = 0.3) -> float:
    started = time.process_time()
    time.sleep(seconds)  # measuring idle CPU, not waiting for anything
    return time.process_time() - started


def test_loading_whisper_puts_numpys_blas_on_one_thread() -> None:
    models.shared_whisper_model(str(models.whisper_model_dir()))
    if cpu.blas_threads() is None:
        pytest.skip("numpy here is not built on OpenBLAS")
    assert cpu.blas_threads() == 1
    matrix = np.ones((3000, 384), dtype=np.float32)
    for _ in range(3):
        matrix @ np.ones(384, dtype=np.float32)  # a BLAS call, as the mel features make
    assert _cpu_seconds_while_idle() < 0.01


def test_the_piper_voice_sleeps_between_syntheses() -> None:
    voice = models.shared_piper_voice(str(models.piper_voice_file()))
    options = voice.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == models.PIPER_THREADS
    b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize("Glad to hear it."))
    assert _cpu_seconds_while_idle() < 0.01
