"""Starting and ending the console: one QApplication, the qasync loop, an orderly shutdown.

`qasync.run(main)` runs asyncio on Qt's event loop (Python 3.11's `asyncio.run` has no
`loop_factory`), so the Pipecat pipeline shares the loop with the window. Closing the
window ends the call and awaits its pipeline before the loop stops; if the
application is asked to quit some other way, `aboutToQuit` does the same by hand.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import qasync
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from console.controllers import CallController
from console.dialogs import Dialogs
from console.main_window import MainWindow

ORGANIZATION = "voice-console"
APPLICATION = "console"
SIGNAL_POLL_MS = 250  # lets Python run its Ctrl+C handler while Qt waits
GC_INTERVAL_MS = 100  # often, so each young collection stays small
DEFERRED_FULL_LIMIT = 20  # a full collection held back this many times its threshold runs anyway


def create_application() -> QApplication:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Voice console")
    app.setQuitOnLastWindowClosed(False)  # closing the window ends the main coroutine instead
    return app


def user_settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


def file_settings(path: Path | str) -> QSettings:
    """Settings kept in one INI file (tests, screenshots and benchmarks use a temporary one)."""
    return QSettings(str(path), QSettings.Format.IniFormat)


def build_window(controller: CallController, settings: QSettings, dialogs: Dialogs | None = None,
                 schema: str = "", patient: str = "", handlers: str = "", state: str = "") -> MainWindow:
    """The main window; `schema`/`patient` equal to the defaults count as not chosen (saved choices win).
    A plain flow's `handlers` module is imported only if the operator agrees when the window asks."""
    if _same_paths((schema, patient), controller.default_selection()):
        schema, patient = "", ""
    return MainWindow(controller, settings, dialogs, schema=schema, patient=patient, handlers=handlers,
                      state=state)


def run_console(schema_path: Path | str | None = None, patient_path: Path | str | None = None,
                handlers: Path | str | None = None, state: Path | str | None = None) -> int:
    """Open the console and run until its window closes; the exit status. A plain flow's `handlers`
    module (`gui --handlers`) is imported only after the console's confirmation dialog."""
    create_application()
    files = (str(schema_path or ""), str(patient_path or ""), str(handlers or ""), str(state or ""))
    try:
        status: int = qasync.run(_serve(*files))
        return status
    except RuntimeError as error:
        if "Event loop stopped before Future completed" in str(error):
            return 0  # quit from outside the window; aboutToQuit has already ended the call
        raise


async def _serve(schema: str, patient: str, handlers: str, state: str) -> int:
    controller = CallController()
    window = build_window(controller, user_settings(), schema=schema, patient=patient, handlers=handlers,
                          state=state)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    app = create_application()
    app.aboutToQuit.connect(lambda: _shut_down_now(controller))
    with (_interrupts_close(window), _errors_shown_in(window),
          garbage_collected_in_gui_thread(busy=lambda: controller.is_live)):
        window.show()
        settle_memory()
        await closed.wait()
        await controller.shutdown()
    return 0


def settle_memory() -> None:
    """Once start-up is done: collect, then keep what exists (modules, widgets, schemas) out of later
    collections, so a full collection during a call does not stall the loop for tens of ms."""
    gc.collect()
    gc.freeze()


@contextmanager
def garbage_collected_in_gui_thread(busy: Callable[[], bool] | None = None) -> Iterator[None]:
    """Run Python's cyclic collector only from a GUI-thread timer.

    Left alone, it runs in whichever thread allocates (an executor thread, an audio callback, a test's
    HTTP server), and a QObject it frees there is destroyed off its thread: its timers stay registered
    and Qt later delivers a timer event to freed memory (a segfault in QTimerInfoList::activateTimers).
    While `busy()` (a call is live) full collections wait (see `collect_due_garbage`).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    timer = QTimer()
    timer.timeout.connect(lambda: collect_due_garbage(busy=busy is not None and busy()))
    timer.start(GC_INTERVAL_MS)
    try:
        yield
    finally:
        timer.stop()
        if was_enabled:
            gc.enable()


def collect_due_garbage(busy: bool = False) -> None:
    """Collect the oldest generation whose count is over its threshold, as the automatic collector would;
    but while `busy` a due full collection (tens of ms) waits for the call to end, unless it has been
    held back for long (`DEFERRED_FULL_LIMIT`), and the middle generation is collected instead."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    full_due = counts[2] > thresholds[2]
    if full_due and (not busy or counts[2] > thresholds[2] * DEFERRED_FULL_LIMIT):
        gc.collect(2)
    elif counts[1] > thresholds[1]:
        gc.collect(1)
    elif counts[0] > thresholds[0]:
        gc.collect(0)


def _shut_down_now(controller: CallController) -> None:
    """On aboutToQuit Qt's loop has stopped, but asyncio's is still current: drive the shutdown by hand."""
    if not controller.is_live:
        return
    task = asyncio.ensure_future(controller.shutdown())
    while not task.done():
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


@contextmanager
def _interrupts_close(window: MainWindow) -> Iterator[None]:
    """Ctrl+C in the terminal closes the window (and so ends the call) instead of killing the process."""
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(SIGNAL_POLL_MS)
    try:
        yield
    finally:
        wake.stop()
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _errors_shown_in(window: MainWindow) -> Iterator[None]:
    """An exception that escapes a slot goes to the status line and a dialog, not only to stderr."""
    previous = sys.excepthook

    def show(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        previous(kind, error, trace)
        window.show_failure("Unexpected error", "".join(traceback.format_exception_only(kind, error)).strip())

    sys.excepthook = show
    try:
        yield
    finally:
        sys.excepthook = previous


def _same_paths(paths: tuple[str, str], others: tuple[str, str]) -> bool:
    return all(bool(a) == bool(b) and (not a or Path(a).resolve() == Path(b).resolve())
               for a, b in zip(paths, others, strict=True))
