"""Voice tests: a real local-audio transport on a private PulseAudio server, no hardware.

The server has a virtual speaker `spk` and a virtual microphone `mic` fed
through the sink `micfeed`. Tests speak caller turns (synthesised with Piper)
into the microphone with paplay and record the speaker with parecord. They are
skipped only when PulseAudio cannot start here, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.pulseaudio import VirtualAudioServer
from tests.voice.helpers import private_pulseaudio


@pytest.fixture(scope="session")
def virtual_audio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualAudioServer]:
    """One PulseAudio server for the voice tests."""
    yield from private_pulseaudio(tmp_path_factory)


@pytest.fixture(scope="session")
def caller_wav_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caller turns synthesised with Piper, shared by the tests of a session."""
    return tmp_path_factory.mktemp("caller-wavs")
