"""CallController: the console's view-model of one call at a time, live or replayed.

Engine events become Qt signals carrying plain data (str, float, dict, tuples), so no panel
imports the engine or Pipecat. Events are queued as they happen and delivered on the next turn
of the event loop, so widget work never runs inside Pipecat's frame handling. Panels write back
through `select`, `start`, `stop`, `step`, `call_function`, `force`, `export` and `speak`; failures
are reported on `failed` (title, message), never raised into a slot.

Every change of `call_state` goes through `change_state`, which refuses (and logs) a change the
table in `console.controllers.state` does not allow. The test-run, history and voice parts
(`tests`, `history`, `voice`) are built here and share its status signals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, Signal

from console.controllers.call_setup import make_call, responder_of
from console.controllers.flow_files import is_flow_file, load_setup
from console.controllers.history import HistoryController, HistorySupport
from console.controllers.replay import ReplayCursor
from console.controllers.reporting import Reporter, single_shot
from console.controllers.schema_view import NodeRenderer, classification_view, schema_info, schema_name_of
from console.controllers.state import LIVE_STATES, CallState, allowed
from console.controllers.tests import TestRunController
from console.controllers.voice import VoiceAdapter
from console.panels import CallSetup, Choice, NodeView
from engine import driving
from engine import events as ev
from engine.describe import describe
from engine.errors import EngineError
from engine.export import write_latency_csv
from engine.lifecycle import CallStatus
from engine.logs import redactor_for
from engine.paths import DEFAULT_SCHEMA, PATIENTS_DIR, SCHEMAS_DIR, bundled_schemas, default_patient_for
from engine.patients import JsonFolderPatientStore
from engine.pipeline import HealthcareAIPipeline
from engine.schema.compiled import CompiledSchema
from engine.tasks import TrackedTasks

REPORT_INTERVAL_MS = 500
BENIGN_ERROR_SOURCES = {"input", "force"}  # an operator's typo, reported where it was made


class CallController(Reporter):
    """One call at a time (live or replayed from the history), as Qt signals and plain data."""

    callStateChanged = Signal(str)  # a CallState value
    busyChanged = Signal(bool, str)  # busy, what it is doing
    # messageShown (a notice) and failed (title, message) come from Reporter
    schemaChanged = Signal(object)  # SchemaInfo, or None when no schema can be shown
    previewChanged = Signal()  # the chosen schema or patient changed: node views render anew
    timelineReset = Signal()  # a new call or a replay begins
    callStarted = Signal(float, object)  # at, {call_id, schema, patient_id, responder, mode}
    nodeEntered = Signal(float, object)  # at, NodeView
    callerSaid = Signal(float, str, str)  # at, text, source
    botSaid = Signal(float, str, str)  # at, text as written, text as spoken (what TTS was given)
    functionCalled = Signal(float, str, object, object)  # at, name, arguments, result
    transitionTaken = Signal(float, str, str, str, bool)  # at, source, target, intent, forced
    turnClassified = Signal(float, object)  # at, why this intent: {intent, rule, margin, candidates, ...}
    callError = Signal(float, str, str, bool)  # at, message, source, fatal
    callEnded = Signal(float, str, str)  # at, status, reason
    recordedCallEnded = Signal(str)  # call id: a live call that the history records has ended
    latencySample = Signal(int, str, float, bool)  # turn, stage, ms, crossed_transition
    latencyReplayed = Signal(object)  # [(turn, stage, ms, crossed_transition)]
    reportChanged = Signal(object)  # the performance report (dict)
    pastCallShown = Signal(str, str)  # schema name, patient id of the call a replay shows

    def __init__(self, parent: QObject | None = None, *, voice: VoiceAdapter | None = None,
                 history: HistorySupport | None = None) -> None:
        super().__init__(parent)
        self._call: HealthcareAIPipeline | None = None
        self._state = CallState.READY
        self._nodes = NodeRenderer()
        self._replaying = False
        self._timeline: list[ev.CallEvent] = []
        self._pending: list[ev.CallEvent] = []
        self._tasks = TrackedTasks("console")
        self._busy_messages: list[str] = []
        self._step_lock = asyncio.Lock()
        self._starting: asyncio.Task[Any] | None = None
        self._selected_flow = False  # whether the selected file is a plain Pipecat flow
        self._flush_timer = single_shot(self, 0, self.flush)
        self._report_timer = single_shot(self, REPORT_INTERVAL_MS, self._emit_report)
        self.voice = voice or VoiceAdapter()
        self.voice.setParent(self)
        self.history = HistoryController(self, self.voice, history)
        self.tests = TestRunController(self)
        self.replay = ReplayCursor(self.show_events, self)

    # ----- read-outs -------------------------------------------------------------------------

    @property
    def call_state(self) -> CallState:
        return self._state

    @property
    def schema_name(self) -> str:
        shown = self._nodes.shown
        return shown.name if shown else ""

    @property
    def is_live(self) -> bool:
        """A call is starting, running or stopping, or test cases are running."""
        return self._state in LIVE_STATES

    @property
    def is_testing(self) -> bool:
        return self._state == CallState.TESTING

    @property
    def current_state(self) -> str:
        return self._call.conversation.current if self._call else ""

    @property
    def busy(self) -> bool:
        return bool(self._busy_messages)

    def states(self) -> list[str]:
        shown = self._nodes.shown
        return list(shown.schema.nodes) if shown else []

    # ----- catalogue and preview -------------------------------------------------------------

    def bundled_schemas(self) -> list[Choice]:
        return [(path.stem, str(path)) for path in bundled_schemas()]

    def file_folders(self) -> tuple[str, str]:
        """Where the Open schema and Open patient dialogs start: the bundled schemas and patients."""
        return str(SCHEMAS_DIR), str(PATIENTS_DIR)

    def default_selection(self) -> tuple[str, str]:
        patient = default_patient_for(DEFAULT_SCHEMA.stem)
        return str(DEFAULT_SCHEMA), str(patient or "")

    @property
    def selected_is_flow(self) -> bool:
        """Whether the file `select` was last given is a plain Pipecat flow (even one that did not load)."""
        return self._selected_flow

    def load(self, setup: CallSetup) -> CompiledSchema:
        """The schema or plain flow `setup` names, a flow with the setup's handlers module and state."""
        return load_setup(setup)

    def patients_for(self, schema_path: str) -> list[Choice]:
        name = schema_name_of(schema_path)
        return [(patient.id, str(patient.path)) for patient in JsonFolderPatientStore().list(name)]

    def select(self, schema_path: str, patient_path: str, handlers: str = "", state: str = "") -> list[str]:
        """Show a schema (or a plain flow with its `handlers` module and `state` file) and preview its
        nodes for a patient; returns every problem found (none: ready)."""
        problems = self._select(CallSetup(schema=schema_path, patient=patient_path, handlers=handlers,
                                          state=state))
        self.previewChanged.emit()
        return problems

    def _select(self, setup: CallSetup) -> list[str]:
        self._nodes.clear_preview()
        try:
            compiled = self.load(setup)
        except EngineError as error:
            self._selected_flow = is_flow_file(setup["schema"])  # parsed only when it did not load
            self._show_schema(None)
            return describe(error)
        self._selected_flow = compiled.is_flow
        self._show_schema(compiled)
        if compiled.is_flow:  # a flow has no patient record: its nodes render from its state
            return self._nodes.preview_record(compiled, {})
        return self._nodes.preview_patient(compiled, setup["patient"])

    def node_view(self, state: str) -> NodeView | None:
        """A node's rendered texts (values marked with their fields) and template sources."""
        current = state == self.current_state and self.is_live
        return self._nodes.view(state, current, None if self._replaying else self._call)

    def _show_schema(self, compiled: CompiledSchema | None) -> None:
        if not self._nodes.show(compiled):
            return
        if self._state == CallState.REPLAY:  # another schema: the replayed call is no longer shown
            self._replaying = False
            self.replay.clear()
            self.change_state(CallState.READY)
        self.schemaChanged.emit(schema_info(compiled) if compiled else None)
        self.tests.load_for(compiled)

    # ----- the live call ---------------------------------------------------------------------

    async def start(self, setup: CallSetup) -> bool:
        """Start a call as set up; False (and `failed`) if it cannot start."""
        if self.is_live:
            why = ("Test cases are running: wait for them or stop them first." if self.is_testing
                   else "A call is already running: stop it first.")
            self.say_failed("Cannot start a call", why)
            return False
        self.change_state(CallState.STARTING)
        self._starting = asyncio.current_task()
        try:
            async with self.working("Starting the call…"):
                call = await self._new_call(setup)
                self.begin_call(call)
                await driving.start_call(call)
        except asyncio.CancelledError:  # Stop while starting (e.g. while voice models load)
            await self._abandon_start()
            return False
        except Exception as error:
            self.flush()
            self.change_state(CallState.FAILED)
            self.report_failure("The call could not start", error)
            return False
        finally:
            self._starting = None
        self.flush()
        self.change_state(CallState.ENDED if call.ended else CallState.RUNNING)
        return True

    async def _new_call(self, setup: CallSetup) -> HealthcareAIPipeline:
        compiled = self.load(setup)
        self._show_schema(compiled)
        responder_of(setup)  # a missing LLM URL is said before the voice models load
        voice = None
        if setup.get("mode") == "voice":
            async with self.working("Loading the voice models…"):
                self.voice.recordings_root = self.history.recordings_root()
                voice = await self.voice.build(setup)
        return make_call(compiled, setup, voice)

    def begin_call(self, call: HealthcareAIPipeline, recorded: bool = True) -> None:
        """Follow a new call's events (a live call, or a test case's when not `recorded`)."""
        self._call, self._replaying = call, False
        self._redactor = redactor_for(call.session_id, call.patient_data, call.precomputed.values)
        if self.replay.total:
            self.replay.clear()
        self._timeline.clear()
        self._nodes.forget_entered()
        self.timelineReset.emit()
        call.events.subscribe(self._on_event)
        if recorded:
            self.history.attach(call)

    async def _abandon_start(self) -> None:
        call = self._call
        if call is not None and not call.ended and self._state == CallState.STARTING:
            await call.stop("the start was cancelled")
        self.flush()
        self.change_state(CallState.ENDED)
        self.notify("The call was not started")

    async def stop(self, reason: str = "stopped by the operator") -> None:
        """End the live call (or cancel its start, or the test cases); wait for its pipeline to stop."""
        if await self.tests.stop():
            return
        starting = self._starting
        if starting is not None and not starting.done():
            starting.cancel()
            await asyncio.wait({starting})
            return
        call = self._call
        if call is None or call.ended:
            return
        self.change_state(CallState.STOPPING)
        try:
            async with self.working("Stopping the call…"):
                await call.stop(reason)
        except Exception as error:
            self.report_failure("The call did not stop cleanly", error)
        finally:
            self.flush()
            self.change_state(CallState.FAILED if call.status.value == CallState.FAILED else CallState.ENDED)

    async def step(self, text: str, source: str = "typed") -> bool:
        """Send a caller turn ("typed", or "intent" for an intent button's example); wait for the answer."""
        call = self._live_call("send a caller turn")
        if call is None:
            return False
        async with self._step_lock:
            try:
                await driving.take_turn(call, text, source=source)
            except Exception as error:
                self.report_failure("The caller turn failed", error)
                return False
            finally:
                self.flush()
        return True

    async def call_function(self, name: str, arguments: dict[str, Any],
                            result: dict[str, Any] | None = None) -> bool:
        """Call a function of the current node as the LLM would (`result`: when it has no handler)."""
        call = self._live_call("call a function")
        if call is None:
            return False
        async with self._step_lock:
            try:
                await driving.call_function(call, name, arguments, result)
            except Exception as error:
                self.report_failure(f"The function {name} failed", error)
                return False
            finally:
                self.flush()
        return True

    async def force(self, state: str) -> bool:
        """Move the live call to `state` (recorded as forced)."""
        call = self._live_call("force a transition")
        if call is None:
            return False
        try:
            await driving.force(call, state)
        except Exception as error:
            self.report_failure("The transition could not be forced", error)
            return False
        finally:
            self.flush()
        return True

    def _live_call(self, action: str) -> HealthcareAIPipeline | None:
        call = self._call
        if call is None or self._state != CallState.RUNNING:
            self.say_failed(f"Cannot {action}", "No call is running: start one first.")
            return None
        return call

    def export(self, path: str, include_phi: bool = False) -> int | None:
        """Write the latency CSV of the current (or last, or replayed) call; the number of rows."""
        self.flush()
        if not self._timeline:
            self.say_failed("Nothing to export", "No call yet: start one or open one from the history.")
            return None
        schema = next((e.schema for e in self._timeline if isinstance(e, ev.CallStarted)), self.schema_name)
        try:
            rows = write_latency_csv(path, list(self._timeline), schema=schema, include_phi=include_phi)
        except EngineError as error:
            self.report_failure("The latency CSV could not be written", error)
            return None
        self.notify(f"Exported {rows} latency samples to {path}")
        return rows

    async def speak(self, text: str, output_device: str = "") -> bool:
        """Say `text` through the voice engine's TTS; a tracked task, so shutdown stops it and waits."""
        try:
            async with self.working("Speaking…"):
                await self._tasks.run(self.voice.speak(text, output_device), "speak")
        except Exception as error:
            self.report_failure("The line could not be spoken", error)
            return False
        return True

    async def shutdown(self) -> None:
        """End the call, await its pipeline and every task of ours; then let go of the store."""
        await self.stop("the console is closing")
        self.history.stop_playback()
        self.voice.stop_speaking()
        await self._tasks.drain(driving.END_WAIT_S)
        self._report_timer.stop()
        self._flush_timer.stop()
        self.voice.close()
        self.history.close()

    # ----- a past call -----------------------------------------------------------------------

    def can_show_past_call(self) -> bool:
        """Whether a past call can be shown now (no call is live); if not, says why on `failed`."""
        if self.is_live:
            self.say_failed("Cannot open a past call", "Test cases are running: wait for them or stop them."
                             if self.is_testing else "A call is running: stop it first.")
        return not self.is_live

    def show_past_call(self, call_id: str, events: list[ev.CallEvent], report: dict[str, Any],
                       schema: str) -> None:
        """Replay a stored call's events into the same signals as a live call's (the cursor at its end)."""
        self._call, self._replaying = None, True
        self._show_schema(self._nodes.known_schema(schema))
        self.change_state(CallState.REPLAY)
        self.replay.load(events, report, call_id, self.history.recording_of(call_id) is not None)
        started = next((e for e in events if isinstance(e, ev.CallStarted)), None)
        if started is not None:
            self.pastCallShown.emit(started.schema, started.patient_id)
        self.notify(f"Showing call {call_id} from the history")

    def show_events(self, events: list[ev.CallEvent], report: dict[str, Any]) -> None:
        """Show a replay's events up to its cursor, from a clean timeline."""
        self._timeline.clear()
        self._nodes.forget_entered()
        self.timelineReset.emit()
        for event in events:
            self._dispatch(event)
        self.latencyReplayed.emit([(e.turn, e.stage, e.ms, e.crossed_transition)
                                   for e in events if isinstance(e, ev.Latency)])
        self.reportChanged.emit(report)

    # ----- events -> signals -----------------------------------------------------------------

    def _on_event(self, event: ev.CallEvent) -> None:
        """Event-stream subscriber: queue, deliver on the next loop turn."""
        self._pending.append(event)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        """Deliver the queued events now."""
        pending, self._pending = self._pending, []
        for event in pending:
            self._dispatch(event)
        if pending and self._call is not None and not self._report_timer.isActive():
            self._report_timer.start()

    def _dispatch(self, event: ev.CallEvent) -> None:
        self._timeline.append(event)
        handler = getattr(self, f"_on_{event.kind.value}")
        handler(event)

    def _on_call_started(self, event: ev.CallStarted) -> None:
        self.callStarted.emit(event.at, {"call_id": event.call_id, "schema": event.schema,
                                         "patient_id": event.patient_id, "responder": event.responder,
                                         "mode": event.mode})

    def _on_node_entered(self, event: ev.NodeEntered) -> None:
        self._nodes.entered(event)
        view = self.node_view(event.state) or self._nodes.event_view(event)
        view["current"] = not self._replaying
        self.nodeEntered.emit(event.at, view)

    def _on_user_turn(self, event: ev.UserTurn) -> None:
        self.callerSaid.emit(event.at, event.text, event.source)

    def _on_bot_turn(self, event: ev.BotTurn) -> None:
        self.botSaid.emit(event.at, event.written or event.text, event.text)

    def _on_function_called(self, event: ev.FunctionCalled) -> None:
        self.functionCalled.emit(event.at, event.name, dict(event.arguments), dict(event.result))

    def _on_transition(self, event: ev.Transition) -> None:
        self.transitionTaken.emit(event.at, event.source, event.target, event.intent or "", event.forced)

    def _on_classified(self, event: ev.Classified) -> None:
        self.turnClassified.emit(event.at, classification_view(event))

    def _on_latency(self, event: ev.Latency) -> None:
        if not self._replaying:
            self.latencySample.emit(event.turn, event.stage, event.ms, event.crossed_transition)

    def _on_error(self, event: ev.CallError) -> None:
        self.callError.emit(event.at, self.safe(event.message), event.source, event.fatal)
        reported_by_start = self._state == CallState.STARTING and event.fatal  # `start` reports it itself
        reported_by_test = self.is_testing  # a test case's errors are in its result
        if (not self._replaying and not reported_by_start and not reported_by_test
                and event.source not in BENIGN_ERROR_SOURCES):
            self.say_failed("Call error", f"{event.source}: {event.message}")

    def _on_call_ended(self, event: ev.CallEnded) -> None:
        self.callEnded.emit(event.at, event.status, self.safe(event.reason))
        if self._replaying:
            return
        if self.is_testing:  # the test runner waits for its calls; they are not in the history
            self._report_timer.stop()
            self._emit_report()
            return
        self.change_state(CallState.FAILED if event.status is CallStatus.FAILED else CallState.ENDED)
        self._report_timer.stop()
        self._emit_report()
        self.recordedCallEnded.emit(event.call_id)
        if self._call is not None:
            self._tasks.spawn(self._call.wait_until_ended(driving.END_WAIT_S), f"reap-{event.call_id}")

    def _emit_report(self) -> None:
        if self._call is not None:
            self.reportChanged.emit(self._call.get_performance_report())

    # ----- plumbing --------------------------------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        """Run `coroutine` as one of our tracked tasks (awaited, or cancelled, at shutdown)."""
        self._tasks.spawn(coroutine, name)

    def change_state(self, state: CallState) -> bool:
        """The one way `call_state` changes; refuses (logs, False) a change the table does not allow."""
        if not allowed(self._state, state):
            logger.error(f"refused call state change {self._state.value} -> {state.value}")
            return False
        if state != self._state:
            self._state = state
            self.callStateChanged.emit(state.value)
        return True

    @asynccontextmanager
    async def working(self, message: str) -> AsyncIterator[None]:
        """Show `message` as busy while the block runs."""
        self._busy_messages.append(message)
        self.busyChanged.emit(True, message)
        try:
            yield
        finally:
            self._busy_messages.remove(message)
            latest = self._busy_messages[-1] if self._busy_messages else ""
            self.busyChanged.emit(bool(latest), latest)
