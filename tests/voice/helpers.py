"""Helpers shared by the voice tests."""

from __future__ import annotations

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
