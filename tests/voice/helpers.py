"""Helpers shared by the voice tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.pulseaudio import VirtualAudioServer

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from num2words import num2words
from rapidfuzz import fuzz

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = DATA / "rehearsal.yaml"
PATIENT = DATA / "rehearsal_patient.json"


async def wait_until(predicate: Callable[[], bool], limit_s: float, step: float = 0.05) -> bool:
    """Whether `predicate()` became true within `limit_s`, checked every `step` seconds."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def words(text: str) -> str:
    """Lower case, no punctuation, digits spelled out: what Whisper and the script can agree on."""
    tokens = re.findall(r"[a-z]+|\d+", text.lower().replace("'", ""))
    return " ".join(num2words(int(t)) if t.isdigit() else t for t in tokens)


def heard(expected: str, transcript: str, threshold: float = 80.0) -> bool:
    """Whether `expected` appears, give or take a word, in `transcript`."""
    return fuzz.partial_ratio(words(expected), words(transcript)) >= threshold


def private_pulseaudio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualAudioServer]:
    """A private PulseAudio server with a virtual microphone and speaker, this process's PyAudio
    pointed at it; the test is skipped, with the reason, only if PulseAudio cannot start here."""
    from bench.pulseaudio import VirtualAudioServer, using_server
    from engine.errors import AudioDeviceError

    server = VirtualAudioServer(tmp_path_factory.mktemp("pulse"))
    try:
        server.start()
    except AudioDeviceError as error:
        pytest.skip(f"PulseAudio cannot start here: {error}")
    try:
        with using_server(server):
            yield server
    finally:
        server.stop()


def write_tone_wav(path: Path, seconds: float = 0.5, rate: int = 16000) -> Path:
    """A 440 Hz mono 16-bit tone: audio to play where the words do not matter."""
    import math
    import struct
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / rate)))
                                 for i in range(int(seconds * rate))))
    return path

