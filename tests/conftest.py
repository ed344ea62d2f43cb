"""Shared test set-up: quiet, redacted logging; no user data dir; Qt offscreen."""

from __future__ import annotations

import importlib
import os
import warnings

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Pipecat warns about its own internals when its modules are first imported. Import them
# here with those warnings silenced; every warning raised later, by our code, is an error.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for _module in ("pipecat.frames.frames", "pipecat.services.tts_service", "pipecat.services.stt_service",
                    "pipecat.services.llm_service", "pipecat.flows", "pipecat.services.openai.llm"):
        importlib.import_module(_module)

from engine.logs import configure_logging

configure_logging("WARNING")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep call history and settings of tests out of the user's folders."""
    monkeypatch.setenv("VOICE_CONSOLE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
