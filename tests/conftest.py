"""Shared test set-up: quiet, redacted logging; no user data dir; Qt offscreen."""

from __future__ import annotations

import importlib
import os
import warnings
from datetime import date

import pytest
import time_machine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VOICE_CONSOLE_RAISE_UNEXPECTED", "1")  # an unplanned error in the CLI fails the test

# Pipecat warns about its own internals when its modules are first imported. Import them
# here with those warnings silenced; every warning raised later, by our code, is an error.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for _module in ("pipecat.frames.frames", "pipecat.services.tts_service", "pipecat.services.stt_service",
                    "pipecat.services.llm_service", "pipecat.flows", "pipecat.services.openai.llm"):
        importlib.import_module(_module)

from engine.logs import configure_logging
from tests.support.clock import moment_of, subprocess_environment

configure_logging("WARNING")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep call history and settings of tests out of the user's folders."""
    monkeypatch.setenv("VOICE_CONSOLE_DATA_DIR", str(tmp_path_factory.mktemp("data")))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clock-date", metavar="YYYY-MM-DD",
                     help="run the tests, and the CLI subprocesses they start, with the clock at this date")


def pytest_configure(config: pytest.Config) -> None:
    day = config.getoption("--clock-date")
    if not day:
        return
    moment = moment_of(day)
    time_machine.travel(moment, tick=True).start()
    os.environ.update(subprocess_environment(moment))


@pytest.fixture(scope="session")
def clock_date(pytestconfig: pytest.Config) -> date | None:
    """The date the run was set to with --clock-date, if any."""
    day = pytestconfig.getoption("--clock-date")
    return date.fromisoformat(day) if day else None
