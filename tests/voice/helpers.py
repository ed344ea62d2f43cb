"""Helpers shared by the voice tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.voice.devices import VirtualAudioServer

from collections.abc import Iterator

import pytest

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

from num2words import num2words
from rapidfuzz import fuzz

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = DATA / "rehearsal.yaml"
PATIENT = DATA / "rehearsal_patient.json"


async def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
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
    from engine.errors import AudioDeviceError
    from engine.voice.devices import VirtualAudioServer, using_server

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

