"""Which stages the classifier runs: set by `--nlu` on the command line or VOICE_CONSOLE_NLU."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from engine.errors import EngineError

NLU_ENV = "VOICE_CONSOLE_NLU"


class NluMode(StrEnum):
    SEMANTIC = "semantic"  # keywords, then the embedding model (the default)
    KEYWORDS = "keywords"  # keywords and fuzzy example matching only; no model is loaded


class NluModeError(EngineError):
    """VOICE_CONSOLE_NLU names no mode."""


def nlu_mode() -> NluMode:
    value = os.environ.get(NLU_ENV, NluMode.SEMANTIC).strip().lower()
    try:
        return NluMode(value)
    except ValueError as error:
        modes = ", ".join(m.value for m in NluMode)
        raise NluModeError(f"{NLU_ENV}={value!r} is not one of: {modes}") from error


@contextmanager
def using_mode(mode: str | None) -> Iterator[None]:
    """Run a block with VOICE_CONSOLE_NLU set to `mode` (unchanged when None), then restore it."""
    if mode is None:
        yield
        return
    previous = os.environ.get(NLU_ENV)
    os.environ[NLU_ENV] = NluMode(mode).value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NLU_ENV, None)
        else:
            os.environ[NLU_ENV] = previous
