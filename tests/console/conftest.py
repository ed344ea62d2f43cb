"""Console tests: the real window, offscreen, with asyncio running on Qt's event loop.

How pytest-qt and asyncio share one loop here
---------------------------------------------
* pytest-qt owns the one QApplication (`qapp`) and spins Qt's event loop itself
  (`qtbot.waitUntil`, `qtbot.wait`, and `processEvents` around each test's teardown).
* The `aio` fixture installs a `qasync.QEventLoop(qapp, already_running=True)`: asyncio's
  running loop *is* Qt's event loop, whoever spins it, as under `qasync.run` in the app.
  So every time pytest-qt processes events, asyncio callbacks, `@asyncSlot` tasks,
  the controller's timers and the Pipecat pipeline progress too.
  (With `run_until_complete` instead, pytest-qt's teardown `processEvents` would run
  Pipecat's callbacks while no asyncio loop is running, and they fail.)
* Tests are plain `def` functions (an `async def` test would run on pytest-asyncio's
  own loop, without Qt). Click with qtbot, then wait with `aio.until(predicate)`
  (= `qtbot.waitUntil`); run a coroutine with `aio.run(coro)` (a task, waited for
  with `qtbot.waitUntil`). Never wait inside a coroutine with qtbot: that spins a
  nested Qt loop inside a task step, and asyncio forbids entering another task there.
* Clean-up runs even when a test fails: `make_window` awaits each controller's
  `shutdown()` (ends the call, awaits its pipeline and our tasks) and checks that no
  task is left; `aio` then cancels stragglers and closes the loop. It does not call
  qasync's `stop()`, which calls `QApplication.exit()` and would make every later
  `QEventLoop.exec()` (e.g. `qtbot.waitSignal`) return at once.
* Python's cyclic garbage collector is off during a test and runs in the GUI thread
  at teardown (the app collects on a GUI timer: see `garbage_collected_in_gui_thread`).
  Otherwise a test's HTTP-server or executor thread can collect an earlier test's
  window or loop, destroying QObjects off their thread: a segfault when a timer fires.
* Nothing reaches the user's settings: each window gets a temporary INI file, and
  Qt's standard paths are in test mode and point at a temporary folder.
"""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtCore import QEvent, QSettings, QStandardPaths
from PySide6.QtWidgets import QApplication

from console.app import build_window, file_settings
from console.controllers import CallController
from console.dialogs import Dialogs
from console.main_window import MainWindow

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


class Aio:
    """Runs coroutines on the test's qasync loop while pytest-qt spins Qt's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, qtbot: Any) -> None:
        self.loop, self._qtbot = loop, qtbot

    def run(self, awaitable: Awaitable[T], timeout: float = 60.0) -> T:
        task = asyncio.ensure_future(awaitable)
        self._qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        return task.result()

    def until(self, predicate: Callable[[], Any], timeout: float = 15.0) -> None:
        self._qtbot.waitUntil(lambda: bool(predicate()), timeout=int(timeout * 1000))

    def pending_tasks(self) -> list[asyncio.Task]:
        return [task for task in asyncio.all_tasks(self.loop) if not task.done()]


class ScriptedDialogs(Dialogs):
    """Dialogs that answer from queues and record what they were asked."""

    def __init__(self) -> None:
        super().__init__(None)
        self.errors: list[tuple[str, str]] = []
        self.informed: list[tuple[str, str]] = []
        self.opened_in: list[str] = []  # the folder each open-file dialog started in
        self.questions: list[str] = []
        self.confirm_answer = True
        self.files: deque[str | None] = deque()
        self.choices: deque[str | None] = deque()

    def error(self, title: str, message: str) -> None:
        self.errors.append((title, message))

    def inform(self, title: str, text: str) -> None:
        self.informed.append((title, text))

    def confirm(self, title: str, question: str) -> bool:
        self.questions.append(question)
        return self.confirm_answer

    def choose(self, title: str, label: str, items: list[str], current: str = "") -> str | None:
        return self.choices.popleft() if self.choices else None

    def open_file(self, title: str, directory: str, name_filter: str) -> str | None:
        self.opened_in.append(directory)
        return self.files.popleft() if self.files else None

    def save_file(self, title: str, suggested: str, name_filter: str) -> str | None:
        return self.files.popleft() if self.files else None


@pytest.fixture(scope="session", autouse=True)
def _qt_paths_in_test_mode(tmp_path_factory: pytest.TempPathFactory) -> None:
    QStandardPaths.setTestModeEnabled(True)
    folder = str(tmp_path_factory.mktemp("qt-settings"))
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, folder)
        QSettings.setPath(settings_format, QSettings.Scope.SystemScope, folder)


@pytest.fixture
def aio(qapp: QApplication, qtbot: Any) -> Iterator[Aio]:
    gc.disable()
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    helper = Aio(loop, qtbot)
    yield helper
    leftovers = helper.pending_tasks()
    for task in leftovers:
        task.cancel()
    qtbot.waitUntil(lambda: all(task.done() for task in leftovers), timeout=5000)
    loop._QEventLoop__is_running = False  # see the module docstring: not stop()
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)
    gc.collect()
    gc.enable()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return file_settings(tmp_path / "console.ini")


@pytest.fixture
def dialogs() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def controller(aio: Aio) -> Iterator[CallController]:
    controller = CallController()
    yield controller
    aio.run(controller.shutdown())


@pytest.fixture
def make_window(qtbot: Any, aio: Aio, settings: QSettings,
                dialogs: ScriptedDialogs) -> Iterator[Callable[..., MainWindow]]:
    """Builds shown windows (each with its own controller); all are shut down after the test."""
    made: list[MainWindow] = []

    def make(schema: str = "", patient: str = "", window_settings: QSettings | None = None,
             controller: CallController | None = None, handlers: str = "", state: str = "") -> MainWindow:
        controller = controller or CallController()
        window = build_window(controller, window_settings or settings, dialogs, schema, patient,
                              handlers, state)
        window.show()  # not qtbot.addWidget: the call must end before its window closes
        made.append(window)
        return window

    yield make
    for window in made:
        aio.run(window.controller.shutdown())
        window.close()
        window.deleteLater()  # destroyed here, in the GUI thread
        window.controller.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not aio.pending_tasks(), f"tasks left after shutdown: {aio.pending_tasks()}"


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    return make_window()


@pytest.fixture(scope="module")
def virtual_audio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private PulseAudio server per test module: later modules run with no audio devices again."""
    from tests.voice.helpers import private_pulseaudio

    yield from private_pulseaudio(tmp_path_factory)

