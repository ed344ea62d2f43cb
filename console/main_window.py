"""The main window: assembles the panels as docks, the menus and the status bar around one controller."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QProgressBar,
    QStatusBar,
    QToolBar,
    QWidget,
)

from console.controllers import CallController
from console.dialogs import Dialogs
from console.panels import SchemaInfo
from console.panels.graph import StateGraphPanel
from console.panels.history import HistoryPanel
from console.panels.latency import LatencyPanel
from console.panels.prompt import PromptPanel
from console.panels.report import ReportPanel
from console.panels.setup import SetupPanel
from console.panels.step import StepPanel
from console.panels.tests import TestsPanel
from console.panels.timeline import TimelinePanel
from console.panels.transcript import TranscriptPanel
from console.slots import async_slot
from console.widgets import ElidedLabel
from engine.testing.coverage import coverage_detail

APP_TITLE = "Voice console"
BUSY_DELAY_MS = 200
DEFAULT_SIZE = (1600, 1000)
FRAME_ALLOWANCE = (16, 48)  # the window manager's frame and title bar, outside the window's own size
LAYOUT_VERSION = 2  # raise when the docks change: a layout saved by another version is not applied
GRAPH_CONTROLS = ("State graph: click a node to inspect it, double-click to force the call there; "
                  "mouse wheel zooms, drag pans, + / − zoom, 0 fits.")
FOCUS_STYLE = ("QPushButton:focus, QCheckBox:focus, QComboBox:focus, QLineEdit:focus, QTreeWidget:focus, "
               "QTextBrowser:focus, QPlainTextEdit:focus, QTableWidget:focus, QGraphicsView:focus "
               "{ border: 2px solid #1e88e5; border-radius: 3px; }")
STATE_NOTES = {"running": "The call is running", "testing": "Running test cases…"}
BOTTOM_TABS = ("latency", "report", "history", "tests")
MINIMUM_PANEL_SIZES = {"setup": (200, 160), "step": (200, 140), "graph": (300, 200), "latency": (300, 160),
                       "report": (300, 160), "history": (300, 160), "tests": (300, 160),
                       "prompt": (240, 160), "transcript": (240, 160)}
Area = Qt.DockWidgetArea


def fitting_size(available: QRect) -> tuple[int, int]:
    """The default window size, made smaller to fit the screen's available area with its frame."""
    return (min(DEFAULT_SIZE[0], available.width() - FRAME_ALLOWANCE[0]),
            min(DEFAULT_SIZE[1], available.height() - FRAME_ALLOWANCE[1]))


class StatusLine(QStatusBar):
    """The last message (errors in red), what is in progress with a busy bar, and the call state.

    The busy bar appears only when work lasts over BUSY_DELAY_MS, so quick operations never flicker.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = ElidedLabel()
        self.busy_text = QLabel()
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(14)
        self.state = QLabel()
        self.addWidget(self.message, 1)
        self.addPermanentWidget(self.busy_text)
        self.addPermanentWidget(self.busy)
        self.addPermanentWidget(self.state)
        self._show_busy = QTimer(self)
        self._show_busy.setSingleShot(True)
        self._show_busy.setInterval(BUSY_DELAY_MS)
        self._show_busy.timeout.connect(self._reveal_busy)
        self.set_busy(False, "")

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c62828; font-weight: bold;" if error else "")
        self.message.set_full_text(text)

    def set_busy(self, busy: bool, text: str) -> None:
        self.busy_text.setText(text)
        if busy and not self.busy.isVisible():
            self._show_busy.start()
        elif not busy:
            self._show_busy.stop()
            self.busy.hide()
            self.busy_text.hide()

    def _reveal_busy(self) -> None:
        self.busy.show()
        self.busy_text.show()


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, controller: CallController, settings: QSettings, dialogs: Dialogs | None = None,
                 *, schema: str = "", patient: str = "", handlers: str = "", state: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.settings = controller, settings
        self.dialogs = dialogs or Dialogs(self)
        self.setup = SetupPanel(controller, controller.voice, settings, self.dialogs)
        self.graph = StateGraphPanel()
        self.prompt = PromptPanel(controller, controller.voice)
        self.transcript = TranscriptPanel(controller)
        self.step = StepPanel(controller)
        self.latency = LatencyPanel()
        self.report = ReportPanel(controller)
        self.history = HistoryPanel(controller.history, controller)
        self.tests = TestsPanel()
        self.timeline = TimelinePanel(controller.replay, controller.history)
        self.status = StatusLine(self)
        self._error_shown = False  # an error of the current call is in the status line
        self.setStatusBar(self.status)
        self.setStyleSheet(FOCUS_STYLE)  # every focus stop shows that it has the focus
        self.docks: dict[str, QDockWidget] = {}
        self._areas: dict[str, Area] = {}
        self._sized = self._restored = False
        self._create_docks()
        self._place_docks()
        self._add_timeline()
        self.menu_actions = _build_menus(self)
        self._bind()
        self._restore_window()
        self.setup.restore(schema, patient, handlers, state)
        self.history.refresh()

    # ----- layout --------------------------------------------------------------------------

    def _create_docks(self) -> None:
        self.graph.setMinimumSize(*MINIMUM_PANEL_SIZES["graph"])
        self.setCentralWidget(self.graph)  # the centre takes what the docks leave: the graph never vanishes
        for name, (title, panel, area) in self._panels().items():
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock-{name}")
            panel.setMinimumSize(*MINIMUM_PANEL_SIZES[name])  # fixed: content never widens a dock
            dock.setWidget(panel)
            self.docks[name] = dock
            self._areas[name] = area
        for corner, area in ((Qt.Corner.TopLeftCorner, Area.LeftDockWidgetArea),
                             (Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea),
                             (Qt.Corner.TopRightCorner, Area.RightDockWidgetArea),
                             (Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)):
            self.setCorner(corner, area)

    def _panels(self) -> dict[str, tuple[str, QWidget, Area]]:
        return {"setup": ("Call setup", self.setup, Area.LeftDockWidgetArea),
                "step": ("Step", self.step, Area.LeftDockWidgetArea),
                "latency": ("Latency", self.latency, Area.BottomDockWidgetArea),
                "report": ("Performance report", self.report, Area.BottomDockWidgetArea),
                "history": ("History", self.history, Area.BottomDockWidgetArea),
                "tests": ("Tests", self.tests, Area.BottomDockWidgetArea),
                "prompt": ("Prompt", self.prompt, Area.RightDockWidgetArea),
                "transcript": ("Transcript", self.transcript, Area.RightDockWidgetArea)}

    def _add_timeline(self) -> None:
        """The replay's timeline, always shown (greyed without a replay), so it never moves the docks."""
        bar = QToolBar("Replay timeline", self)
        bar.setObjectName("toolbar-timeline")
        bar.setMovable(False)
        bar.addWidget(self.timeline)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, bar)

    def tab_groups(self) -> list[tuple[str, ...]]:
        return [BOTTOM_TABS]

    def _place_docks(self) -> None:
        """Put every dock in its area, docked and shown, the bottom ones as tabs."""
        for dock in self.docks.values():
            dock.setFloating(False)
            self.removeDockWidget(dock)
        for name, dock in self.docks.items():
            self.addDockWidget(self._areas[name], dock)
            dock.show()
        for left, right in zip(BOTTOM_TABS, BOTTOM_TABS[1:], strict=False):
            self.tabifyDockWidget(self.docks[left], self.docks[right])
        self.docks[BOTTOM_TABS[0]].raise_()

    def apply_default_layout(self, place: bool = True) -> None:
        """The default proportions for the window's size: a narrow setup column, a wide graph, prompt and
        transcript on the right."""
        width, height = self.width(), self.height()
        if place:
            self._place_docks()
            layout = self.layout()
            if layout is not None:  # re-docking briefly raised the window's minimum width: settle it
                layout.activate()
            self.resize(width, height)
        docks = self.docks
        self.resizeDocks([docks["setup"], docks["prompt"]], [int(width * 0.2), int(width * 0.27)],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([docks["setup"], docks["step"]], [int(height * 0.5), int(height * 0.5)],
                         Qt.Orientation.Vertical)
        self.resizeDocks([docks["latency"]], [int(height * 0.45)], Qt.Orientation.Vertical)
        self.resizeDocks([docks["prompt"], docks["transcript"]], [int(height * 0.45), int(height * 0.55)],
                         Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """Exactly a fresh window's geometry: its size on this screen and the default dock layout."""
        self.resize(*fitting_size(self._available()))
        self.apply_default_layout()

    def _available(self) -> QRect:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def _screen_key(self) -> str:
        screen = self.screen() or QGuiApplication.primaryScreen()
        size = screen.availableGeometry().size()
        return f"{size.width()}x{size.height()}@{screen.devicePixelRatio():g}"

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            if not self._restored:
                self.apply_default_layout(place=False)

    # ----- wiring --------------------------------------------------------------------------

    def _bind(self) -> None:
        controller = self.controller
        controller.callStateChanged.connect(self._on_call_state)
        controller.schemaChanged.connect(self._on_schema_changed)
        controller.busyChanged.connect(self.status.set_busy)
        controller.messageShown.connect(self.status.show_message)
        controller.failed.connect(self.show_failure)
        controller.callError.connect(self._on_call_error)
        controller.callEnded.connect(self._on_call_ended)
        self.setup.outputDeviceChanged.connect(controller.history.set_output_device)
        self._bind_graph()
        self._bind_latency()
        self._bind_tests()

    def _bind_graph(self) -> None:
        graph, controller = self.graph, self.controller
        graph.confirm = self._confirm_force
        graph.stateSelected.connect(self.prompt.show_state)
        graph.forceRequested.connect(self.force)
        controller.timelineReset.connect(graph.reset_marks)
        controller.nodeEntered.connect(self._on_node_entered)
        controller.transitionTaken.connect(self._on_transition)

    def _bind_latency(self) -> None:
        latency, controller = self.latency, self.controller
        controller.latencySample.connect(latency.add_sample)
        controller.latencyReplayed.connect(latency.load_samples)
        controller.timelineReset.connect(latency.reset)

    def _bind_tests(self) -> None:
        tests, runner = self.tests, self.controller.tests
        runner.testsChanged.connect(self._on_tests_changed)
        runner.testRunning.connect(tests.set_running)
        runner.testResult.connect(tests.set_result)
        runner.coverageChanged.connect(self._on_coverage)
        tests.runRequested.connect(self.run_tests)
        tests.stepRequested.connect(self.step_test)
        tests.nextStepRequested.connect(runner.next_test_step)
        runner.testStepReady.connect(tests.show_next_step)
        self._on_tests_changed(runner.test_cases(), runner.note)

    def _on_tests_changed(self, cases: list[tuple[str, str]], note: str) -> None:
        self.tests.set_cases(cases)
        self.tests.set_coverage(note or "Coverage: not run yet")

    def _on_coverage(self, text: str, unreached: set[str], untaken: set[tuple[str, str, str]]) -> None:
        self.tests.set_coverage(text, coverage_detail(unreached, untaken))
        self.graph.set_coverage(unreached, untaken)

    def _on_schema_changed(self, info: SchemaInfo | None) -> None:
        if info:
            self.graph.set_graph(info["states"], info["edges"], info["initial"], info["endings"],
                                 info["edge_labels"], info["decisions"])
        else:
            self.graph.set_graph([], [], "", set())
        self._update_title()

    def _on_node_entered(self, _at: float, view: dict[str, Any]) -> None:
        self.graph.mark_visited(view["state"])
        if view["current"] or self.controller.call_state == "replay":
            self.graph.set_current(view["state"])

    def _on_transition(self, _at: float, source: str, target: str, intent: str, forced: bool) -> None:
        self.graph.mark_transition(source, target, forced, intent or None)

    def _on_call_state(self, state: str) -> None:
        self.graph.set_force_enabled(state == "running")
        self.menu_actions["start"].setEnabled(not self.controller.is_live)
        self.menu_actions["stop"].setEnabled(self.controller.is_live)
        self.menu_actions["force"].setEnabled(state == "running")
        self.status.state.setText(f"● {state}")
        if state in ("starting", "testing"):
            self._error_shown = False
        if state in STATE_NOTES and not self._error_shown:  # success replaces an earlier call's error
            self.status.show_message(STATE_NOTES[state])
        self._update_title()

    def show_failure(self, title: str, message: str) -> None:
        first = message.splitlines()[0] if message else ""
        if first.lower().startswith(title.lower()):  # the message already says it: say it once
            first = first[len(title):].lstrip(" :")
        self._show_error(f"{title}: {first}" if first else title)
        self.dialogs.error(title, message)

    def _on_call_ended(self, _at: float, status: str, reason: str) -> None:
        """A live call's end replaces "The call is running" (an error shown stays)."""
        if self.controller.is_testing or self.controller.call_state == "replay" or self._error_shown:
            return
        self.status.show_message(f"The call ended: {reason}" if status == "ended" else f"The call {status}")

    def _on_call_error(self, _at: float, message: str, source: str, _fatal: bool) -> None:
        self._show_error(f"Error ({source}): {message}")

    def _show_error(self, text: str) -> None:
        self._error_shown = True
        self.status.show_message(text, error=True)

    def _update_title(self) -> None:
        schema = self.controller.schema_name or "no schema"
        self.setWindowTitle(f"{schema} — {self.controller.call_state} — {APP_TITLE}")

    # ----- actions -------------------------------------------------------------------------

    def _confirm_force(self, state: str) -> bool:
        return self.dialogs.confirm("Force transition", f"Force the call into '{state}'?")

    @async_slot(str)
    async def force(self, state: str) -> None:
        await self.controller.force(state)

    @async_slot(object)
    async def run_tests(self, cases: list[tuple[str, str]]) -> None:
        await self.controller.tests.run_tests([(schema, case) for schema, case in cases])

    @async_slot(object)
    async def step_test(self, case: tuple[str, str]) -> None:
        try:
            await self.controller.tests.step_test((case[0], case[1]))
        finally:
            self.tests.stop_stepping()  # the case's result (if any) has arrived; refused or stopped

    def ask_force(self) -> None:
        states = self.controller.states()
        if self.controller.call_state != "running" or not states:
            self.show_failure("Cannot force a transition", "No call is running: start one first.")
            return
        choice = self.dialogs.choose("Force transition", "Move the call into:", states,
                                     self.controller.current_state)
        if choice:
            self.force(choice)

    def shortcuts_text(self) -> str:
        """Every menu shortcut, one a line, and the graph's mouse and key controls."""
        lines = [f"{action.shortcut().toString(QKeySequence.SequenceFormat.NativeText):>14}   "
                 f"{action.text().replace('&', '')}" for action in self.menu_actions.values()
                 if not action.shortcut().isEmpty()]
        return "\n".join([*lines, "", GRAPH_CONTROLS])

    def show_shortcuts(self) -> None:
        self.dialogs.inform("Keyboard shortcuts", self.shortcuts_text())

    def export_latency(self) -> None:
        suggested = Path.home() / f"{self.controller.schema_name or 'call'}-latency.csv"
        path = self.dialogs.save_file("Export latency CSV", str(suggested), "CSV files (*.csv)")
        if path:
            self.controller.export(path)

    # ----- lifetime ------------------------------------------------------------------------

    def _restore_window(self) -> None:
        """Open at the fitting size, centred; a layout saved by this version on this screen wins."""
        self.resize(*fitting_size(self._available()))
        frame = self.frameGeometry()
        frame.moveCenter(self._available().center())
        self.move(frame.topLeft())
        settings = self.settings
        same = (str(settings.value("window/layout_version", "")) == str(LAYOUT_VERSION)
                and str(settings.value("window/screen", "")) == self._screen_key())
        geometry, state = settings.value("window/geometry"), settings.value("window/state")
        if same and geometry is not None and state is not None:
            self._restored = self.restoreGeometry(geometry) and self.restoreState(state, LAYOUT_VERSION)
        self._on_call_state(self.controller.call_state)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("window/layout_version", LAYOUT_VERSION)
        self.settings.setValue("window/screen", self._screen_key())
        self.settings.sync()
        self.latency.shutdown()
        super().closeEvent(event)
        self.closed.emit()


def _build_menus(window: MainWindow) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}

    def add(menu: Any, key: str, text: str, shortcut: str | QKeySequence.StandardKey,
            slot: Callable[[], Any]) -> None:
        action = QAction(text, window)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        actions[key] = action

    file_menu = window.menuBar().addMenu("&File")
    add(file_menu, "open_schema", "Open schema file…", "Ctrl+O", window.setup.open_schema_file)
    add(file_menu, "export", "Export latency CSV…", "Ctrl+E", window.export_latency)
    file_menu.addSeparator()
    add(file_menu, "quit", "Quit", "Ctrl+Q", window.close)
    call_menu = window.menuBar().addMenu("&Call")
    add(call_menu, "start", "Start", "Ctrl+R", window.setup.start)
    add(call_menu, "stop", "Stop", "Ctrl+.", window.setup.stop)
    add(call_menu, "step", "Step (type a caller turn)", "Ctrl+L", window.step.focus_box)
    add(call_menu, "force", "Force transition…", "Ctrl+F", window.ask_force)
    tests_menu = window.menuBar().addMenu("&Tests")
    add(tests_menu, "run_all", "Run all", "Ctrl+Shift+R", window.tests.run_all_button.click)
    add(tests_menu, "step_through", "Step through the selected case", "F9", window.tests.step_through)
    add(tests_menu, "next_turn", "Next turn", "F10", window.tests.next_turn)
    tests_menu.addSeparator()
    budgets = QAction("Check latency budgets (within_ms)", window, checkable=True, checked=True)
    budgets.setToolTip("Off: the steps' latency budgets are not checked, only behaviour (a slow machine)")
    budgets.toggled.connect(window.controller.tests.check_budgets)
    tests_menu.addAction(budgets)
    actions["budgets"] = budgets
    view_menu = window.menuBar().addMenu("&View")
    for dock in window.docks.values():
        view_menu.addAction(dock.toggleViewAction())
    view_menu.addSeparator()
    add(view_menu, "reset_layout", "Reset layout", "", window.reset_layout)
    add(view_menu, "fit_graph", "Fit the graph", "Ctrl+0", window.graph.fit)
    replay_menu = window.menuBar().addMenu("&Replay")
    cursor = window.controller.replay
    add(replay_menu, "replay_play", "Play / pause", "Alt+P", window.timeline.toggle_play)
    add(replay_menu, "replay_event_back", "Back one event", "Alt+Left", lambda: cursor.step_event(-1))
    add(replay_menu, "replay_event_forward", "Forward one event", "Alt+Right", lambda: cursor.step_event(1))
    add(replay_menu, "replay_turn_back", "Back one turn", "Alt+Up", lambda: cursor.step_turn(-1))
    add(replay_menu, "replay_turn_forward", "Forward one turn", "Alt+Down", lambda: cursor.step_turn(1))
    help_menu = window.menuBar().addMenu("&Help")
    add(help_menu, "shortcuts", "Keyboard shortcuts", QKeySequence.StandardKey.HelpContents,
        window.show_shortcuts)
    return actions
