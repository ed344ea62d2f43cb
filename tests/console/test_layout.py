"""The window's layout holds still: content never resizes a dock, Reset layout gives a fresh window's
geometry, the window fits its screen and a saved layout from another version or screen is ignored.

The in-process tests resize the window to each size; `test_on_a_small_hidpi_screen` runs the same
journey in a subprocess whose offscreen screen is 1280x800 at a device pixel ratio of 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtWidgets import QApplication

from console.main_window import LAYOUT_VERSION, MainWindow, fitting_size

if TYPE_CHECKING:
    from tests.console.conftest import Aio

ROOT = Path(__file__).resolve().parents[2]
SIZES = [(1280, 800), (1920, 1080), (2560, 1440)]
TOLERANCE_PX = 3
SCREEN_ENV = "VOICE_CONSOLE_TEST_SCREEN"  # set by the subprocess test: the journey runs on that screen
MakeWindow = Callable[..., MainWindow]
Geometry = dict[str, tuple[int, int, int, int]]


def settle() -> None:
    """Deliver the posted layout requests (dock layouts are applied from posted events)."""
    for _ in range(3):
        QApplication.sendPostedEvents()
        QApplication.processEvents()


def dock_geometry(window: MainWindow) -> Geometry:
    """Each shown dock's rectangle in the window; tabbed docks share the rectangle of the raised one."""
    shown: Geometry = {}
    for name, dock in window.docks.items():
        if dock.isVisible() and not dock.visibleRegion().isEmpty():
            rect: QRect = dock.geometry()
            shown[name] = (rect.x(), rect.y(), rect.width(), rect.height())
    for tabs in window.tab_groups():
        rects = [shown.pop(name) for name in tabs if name in shown]
        if rects:
            shown["+".join(tabs)] = rects[0]
    return shown


def assert_put(window: MainWindow, before: Geometry, after_what: str) -> None:
    settle()
    now = dock_geometry(window)
    assert now.keys() == before.keys(), f"after {after_what}: docks shown changed"
    moved = {name: (before[name], now[name]) for name in before
             if any(abs(a - b) > TOLERANCE_PX for a, b in zip(before[name], now[name], strict=True))}
    assert not moved, f"after {after_what}, docks moved or resized: {moved}"


def journey(window: MainWindow, aio: Aio) -> None:
    """A session as people have it: a call (intents, a node click, a force), Run all, another schema,
    a replay and a long error; every dock stays put throughout."""
    controller = window.controller
    settle()
    before = dock_geometry(window)
    window.setup.start_button.click()
    aio.until(lambda: controller.call_state == "running" and " Bot " in window.transcript.text())
    assert_put(window, before, "Start")
    button = next(iter(window.step.intent_buttons.values()))
    button.click()
    aio.until(lambda: window.transcript.text().count(" Bot ") >= 2)
    assert_put(window, before, "an intent click")
    window.graph.stateSelected.emit(window.graph.states()[-1])
    assert_put(window, before, "a node click")
    aio.run(controller.force(window.graph.states()[-2]))
    window.setup.stop_button.click()
    aio.until(lambda: controller.call_state in ("ended", "failed"))
    assert_put(window, before, "a forced transition and Stop")
    window.docks["tests"].raise_()
    window.tests.run_all_button.click()
    aio.until(lambda: controller.is_testing)
    aio.until(lambda: not controller.is_testing, timeout=120)
    assert_put(window, before, "Run all")
    setup = window.setup
    other_schema = str(ROOT / "schemas" / "medication_adherence.yaml")
    setup.schema_box.setCurrentIndex(setup.schema_box.findData(other_schema))
    setup.schema_box.activated.emit(setup.schema_box.currentIndex())
    assert_put(window, before, "a schema switch")
    window.docks["history"].raise_()
    aio.until(lambda: window.history.call_ids())
    window.history.select_call(window.history.call_ids()[0])
    window.history.open_button.click()
    assert controller.call_state == "replay"
    assert_put(window, before, "opening a replay")
    window.show_failure("The call could not start", "x" * 400)
    window.docks["latency"].raise_()
    assert_put(window, before, "a long error")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_docks_stay_put_through_a_session(make_window: MakeWindow, aio: Aio, size: tuple[int, int]) -> None:
    window = make_window()
    window.resize(*size)
    window.apply_default_layout()
    settle()
    assert (window.width(), window.height()) == size
    journey(window, aio)


def test_reset_layout_gives_exactly_a_fresh_windows_geometry(make_window: MakeWindow, aio: Aio) -> None:
    fresh = make_window()
    settle()
    fresh_geometry, fresh_size = dock_geometry(fresh), fresh.size()
    used = make_window()
    used.resize(fresh_size.width() - 200, fresh_size.height() - 100)
    used.resizeDocks([used.docks["setup"]], [420], Qt.Orientation.Horizontal)
    used.docks["prompt"].setFloating(True)
    used.docks["report"].hide()
    settle()
    assert dock_geometry(used) != fresh_geometry
    used.reset_layout()
    settle()
    assert used.size() == fresh_size
    assert dock_geometry(used) == fresh_geometry
    assert len(used.findChildren(type(used.docks["setup"]))) == len(used.docks)  # no duplicated docks


def test_a_saved_layout_is_restored_only_from_the_same_version_and_screen(
        make_window: MakeWindow, settings: QSettings, tmp_path: Path) -> None:
    fresh = make_window(window_settings=QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    settle()
    fresh_geometry = dock_geometry(fresh)
    first = make_window()
    first.resizeDocks([first.docks["setup"]], [560], Qt.Orientation.Vertical)
    settle()
    moved = dock_geometry(first)
    assert moved != fresh_geometry
    first.close()
    saved = Path(settings.fileName()).read_text()
    stale = (("window/layout_version", LAYOUT_VERSION - 1), ("window/screen", "640x480@1"))
    for key, value in (("", ""), *stale):
        path = tmp_path / f"saved-{len(key)}.ini"
        path.write_text(saved)
        copy = QSettings(str(path), QSettings.Format.IniFormat)
        if key:
            copy.setValue(key, value)
            copy.sync()
        window = make_window(window_settings=copy)
        settle()
        expected = fresh_geometry if key else moved
        assert dock_geometry(window) == expected, f"saved layout wrongly {'applied' if key else 'lost'}"


def test_the_window_never_opens_larger_than_its_screen() -> None:
    screen = QApplication.primaryScreen().availableGeometry()
    width, height = fitting_size(screen)
    assert width <= screen.width() and height <= screen.height()


@pytest.mark.skipif(not os.environ.get(SCREEN_ENV), reason="runs inside test_on_a_small_hidpi_screen")
def test_journey_on_this_screen(make_window: MakeWindow, aio: Aio) -> None:
    window = make_window()
    settle()
    screen = window.screen()
    available = screen.availableGeometry()
    assert available.contains(window.frameGeometry()), (window.frameGeometry(), available)
    assert screen.devicePixelRatio() == float(json.loads(os.environ[SCREEN_ENV])["dpr"])
    journey(window, aio)


def test_on_a_small_hidpi_screen(tmp_path: Path) -> None:
    screen = {"name": "laptop", "x": 0, "y": 0, "width": 1280, "height": 800, "logicalDpi": 96,
              "logicalBaseDpi": 96, "dpr": 2}
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [screen]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", SCREEN_ENV: json.dumps(screen)}
    command = [sys.executable, "-m", "pytest", f"{Path(__file__)}::test_journey_on_this_screen", "-q",
               "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    output = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0 and "1 passed" in result.stdout, output

