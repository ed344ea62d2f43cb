"""CallController: the console's one view-model over the engine.

Engine events become Qt signals carrying plain data (str, float, dict, tuples), so
no panel imports the engine or Pipecat. Events are queued as they happen and
delivered on the next turn of the event loop, so widget work never runs inside
Pipecat's frame handling. Panels write back through `select`, `start`, `stop`,
`step`, `force`, `export`, `replay` and `speak`; failures are reported on
`failed` (title, message), never raised into a slot.

Schema test cases (`engine.testing`) run through the same path: each case is a real text call
whose events reach the same signals, so the graph, prompt and transcript follow a test as they
follow a live call. `run_tests`, `step_test` and `next_test_step` drive them; `testsChanged`,
`testRunning`, `testResult`, `testStepReady` and `coverageChanged` report them as plain data.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
import wave
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, QTimer, Signal

from console.panels import CallSetup, Choice, IntentChoice, NodeView, SchemaInfo, Segment
from engine import events as ev
from engine.calls import create_call
from engine.data.precompute import raw_display_values
from engine.errors import EngineError, Problem, ProblemsError
from engine.export import write_latency_csv
from engine.paths import DEFAULT_SCHEMA, SCHEMAS_DIR, bundled_schemas, default_patient_for
from engine.patients import JsonFolderPatientStore, load_patient
from engine.pipeline import HealthcareAIPipeline
from engine.precompute import DataPrecomputer, Precomputed
from engine.prompts import PROMPT, SAY
from engine.responders.factory import ResponderConfig
from engine.schema.compiled import CompiledSchema, load_schema
from engine.testing import (
    CaseResult,
    Coverage,
    TestCase,
    TestScript,
    coverage,
    discover_scripts,
    edge_text,
    load_test_script,
    run_case,
)

REPORT_INTERVAL_MS = 500
LEVEL_INTERVAL_MS = 50
END_WAIT_S = 5.0
BENIGN_ERROR_SOURCES = {"input", "force"}  # an operator's typo, reported where it was made

# Call states shown in the title and driving the panels' enabled state.
READY, STARTING, RUNNING, STOPPING, ENDED, FAILED, REPLAY, TESTING = (
    "ready", "starting", "running", "stopping", "ended", "failed", "replay", "testing")
LIVE_STATES = (STARTING, RUNNING, STOPPING, TESTING)
CaseKey = tuple[str, str]  # (schema, case)


class CallController(QObject):
    """One call at a time (live or replayed from the history), as Qt signals and plain data."""

    callStateChanged = Signal(str)
    busyChanged = Signal(bool, str)  # busy, what it is doing
    messageShown = Signal(str)  # a status-line notice
    playingChanged = Signal(bool)  # a recording started (True) or stopped playing
    failed = Signal(str, str)  # title, message: shown on the status line and in a dialog
    schemaChanged = Signal(object)  # SchemaInfo, or None when no schema can be shown
    previewChanged = Signal()  # the chosen schema or patient changed: node views render anew
    timelineReset = Signal()  # a new call or a replay begins
    callStarted = Signal(float, object)  # at, {call_id, schema, patient_id, responder, mode}
    nodeEntered = Signal(float, object)  # at, NodeView
    callerSaid = Signal(float, str, str)  # at, text, source
    botSaid = Signal(float, str)  # at, text
    functionCalled = Signal(float, str, object, object)  # at, name, arguments, result
    transitionTaken = Signal(float, str, str, str, bool)  # at, source, target, intent, forced
    callError = Signal(float, str, str, bool)  # at, message, source, fatal
    callEnded = Signal(float, str, str)  # at, status, reason
    latencySample = Signal(int, str, float, bool)  # turn, stage, ms, crossed_transition
    latencyReplayed = Signal(object)  # [(turn, stage, ms, crossed_transition)]
    reportChanged = Signal(object)  # the performance report (dict)
    historyChanged = Signal()
    inputLevel = Signal(float)  # the microphone's level, 0..1, while metering
    testsChanged = Signal(object, str)  # [(schema, case)] of the shown schema, a note (why none) or ""
    testRunning = Signal(str, str)  # schema, case: the case is starting
    testResult = Signal(str, str, bool, str, float)  # schema, case, passed, detail, ms
    testStepReady = Signal(int, int, str)  # stepping: step number about to play, steps in all, the step
    coverageChanged = Signal(str, object, object)  # summary, {unreached state}, {(source, intent, target)}

    def __init__(self, parent: QObject | None = None, *, voice: VoiceSupport | None = None,
                 history: HistorySupport | None = None) -> None:
        super().__init__(parent)
        self.voice = voice or VoiceSupport()
        self.history = history or HistorySupport()
        self.output_device = ""  # the set-up's chosen speaker, for playing recordings ("" = default)
        self._call: HealthcareAIPipeline | None = None
        self._call_state = READY
        self._shown: CompiledSchema | None = None
        self._schemas_seen: dict[str, CompiledSchema] = {}  # by name, to show past calls of opened files
        self._preview: _RenderContext | None = None
        self._replaying = False
        self._timeline: list[ev.CallEvent] = []
        self._entered: dict[str, tuple[str, str]] = {}  # state -> (prompt, say) as the call said them
        self._pending: list[ev.CallEvent] = []
        self._tasks: set[asyncio.Task] = set()
        self._busy_messages: list[str] = []
        self._playing = False
        self._step_lock = asyncio.Lock()
        self._starting: asyncio.Task | None = None
        self._script: TestScript | None = None  # the shown schema's test script
        self._tests_note = ""
        self._testing: asyncio.Task | None = None
        self._next_step: asyncio.Event | None = None  # set by `next_test_step` while a step waits
        self._flush_timer = _single_shot(self, 0, self._flush)
        self._report_timer = _single_shot(self, REPORT_INTERVAL_MS, self._emit_report)
        self._level_timer = QTimer(self)
        self._level_timer.setInterval(LEVEL_INTERVAL_MS)
        self._level_timer.timeout.connect(self._emit_level)

    # ----- read-outs -------------------------------------------------------------------------

    @property
    def call_state(self) -> str:
        return self._call_state

    @property
    def schema_name(self) -> str:
        return self._shown.name if self._shown else ""

    @property
    def is_live(self) -> bool:
        """A call is starting, running or stopping, or test cases are running."""
        return self._call_state in LIVE_STATES

    @property
    def is_testing(self) -> bool:
        return self._call_state == TESTING

    @property
    def waiting_for_step(self) -> bool:
        """Stepping through a test case, and its next step waits for `next_test_step`."""
        return self._next_step is not None

    @property
    def current_state(self) -> str:
        return self._call.conversation.current if self._call else ""

    @property
    def busy(self) -> bool:
        return bool(self._busy_messages)

    def states(self) -> list[str]:
        return list(self._shown.schema.states) if self._shown else []

    # ----- catalogue -------------------------------------------------------------------------

    def bundled_schemas(self) -> list[Choice]:
        return [(path.stem, str(path)) for path in bundled_schemas()]

    def default_selection(self) -> tuple[str, str]:
        patient = default_patient_for(DEFAULT_SCHEMA.stem)
        return str(DEFAULT_SCHEMA), str(patient or "")

    def patients_for(self, schema_path: str) -> list[Choice]:
        name = _schema_name_of(schema_path)
        return [(patient.id, str(patient.path)) for patient in JsonFolderPatientStore().list(name)]

    def select(self, schema_path: str, patient_path: str) -> list[str]:
        """Show a schema and preview its nodes for a patient; returns every problem found (none: ready)."""
        problems = self._select(schema_path, patient_path)
        self.previewChanged.emit()
        return problems

    def _select(self, schema_path: str, patient_path: str) -> list[str]:
        try:
            compiled = load_schema(schema_path)
        except EngineError as error:
            self._preview = None
            self._show_schema(None)
            return describe(error)
        self._show_schema(compiled)
        if not patient_path:
            self._preview = None
            return [f"no patient chosen for schema '{compiled.name}'"]
        try:
            record = load_patient(patient_path).validated(compiled)
        except EngineError as error:
            self._preview = None
            return describe(error)
        precomputed = DataPrecomputer(compiled).precompute_all(record)
        self._preview = _RenderContext(compiled, precomputed, record, {})
        return []

    def node_view(self, state: str) -> NodeView | None:
        """A node's rendered texts (values marked with their fields) and template sources."""
        compiled = self._shown
        if compiled is None or state not in compiled.schema.states:
            return None
        context = self._render_context()
        if context is not None:
            say, prompt = context.segments(state, SAY), context.segments(state, PROMPT)
        else:
            prompt_text, say_text = self._entered.get(state, ("", ""))
            say, prompt = _plain(say_text), _plain(prompt_text)
        return NodeView(state=state, current=state == self.current_state and self.is_live, say=say,
                        prompt=prompt, say_source=compiled.renderer.template(state, SAY).source,
                        prompt_source=compiled.renderer.template(state, PROMPT).source,
                        intents=[_intent_choice(compiled, state, intent)
                                 for intent in compiled.intents_of(state)])

    def _render_context(self) -> _RenderContext | None:
        if self._replaying:
            return None  # a past call's patient data: show only what the call said
        call = self._call
        if call is not None and call.conversation.compiled is self._shown:
            return _RenderContext(self._shown, call.precomputed, call.patient_data, call.conversation.slots)
        if self._preview is not None and self._preview.compiled is self._shown:
            return self._preview
        return None

    def _show_schema(self, compiled: CompiledSchema | None) -> None:
        if compiled is self._shown:
            return
        if compiled is not None:
            self._schemas_seen[compiled.name] = compiled
        self._shown = compiled
        self.schemaChanged.emit(schema_info(compiled) if compiled else None)
        self._load_tests(compiled)

    # ----- the live call ---------------------------------------------------------------------

    async def start(self, setup: CallSetup) -> bool:
        """Start a call as set up; False (and `failed`) if it cannot start."""
        if self.is_testing:
            self.failed.emit("Cannot start a call", "Test cases are running: wait for them or stop them first.")
            return False
        if self.is_live:
            self.failed.emit("Cannot start a call", "A call is already running: stop it first.")
            return False
        self._set_call_state(STARTING)
        self._starting = asyncio.current_task()
        try:
            async with self._busy("Starting the call…"):
                call = await self._new_call(setup)
                self._begin(call)
                await call.start()
        except asyncio.CancelledError:  # Stop while starting (e.g. while voice models load)
            await self._abandon_start()
            return False
        except Exception as error:
            self._flush()
            self._set_call_state(FAILED)
            self._report("The call could not start", error)
            return False
        finally:
            self._starting = None
        self._flush()
        self._set_call_state(ENDED if call.ended else RUNNING)
        return True

    async def _new_call(self, setup: CallSetup) -> HealthcareAIPipeline:
        compiled = load_schema(setup["schema"])
        self._show_schema(compiled)
        voice = None
        if setup.get("mode") == "voice":
            async with self._busy("Loading the voice models…"):
                self.voice.recordings_root = self.history.recordings_root()
                voice = await self.voice.build(setup)
        responder = ResponderConfig(kind=setup.get("responder", "scripted"),  # type: ignore[arg-type]
                                    base_url=setup.get("llm_url") or None,
                                    model=setup.get("llm_model") or None)
        return create_call(compiled, setup["patient"], responder=responder, voice=voice)

    def _begin(self, call: HealthcareAIPipeline, recorded: bool = True) -> None:
        self._call, self._replaying = call, False
        self._timeline.clear()
        self._entered.clear()
        self.timelineReset.emit()
        call.events.subscribe(self._on_event)
        if recorded:
            self.history.attach(call)

    async def _abandon_start(self) -> None:
        call = self._call
        if call is not None and not call.ended and self._call_state == STARTING:
            await call.stop("the start was cancelled")
        self._flush()
        self._set_call_state(ENDED)
        self.messageShown.emit("The call was not started")

    async def stop(self, reason: str = "stopped by the operator") -> None:
        """End the live call (or cancel its start, or the running test cases) and wait for its pipeline
        to shut down."""
        testing = self._testing
        if testing is not None and not testing.done():
            testing.cancel()
            await asyncio.wait({testing})
            return
        starting = self._starting
        if starting is not None and not starting.done():
            starting.cancel()
            await asyncio.wait({starting})
            return
        call = self._call
        if call is None or call.ended:
            return
        self._set_call_state(STOPPING)
        try:
            async with self._busy("Stopping the call…"):
                await call.stop(reason)
        except Exception as error:
            self._report("The call did not stop cleanly", error)
        finally:
            self._flush()
            self._set_call_state(FAILED if call.status.value == FAILED else ENDED)

    async def step(self, text: str) -> bool:
        """Send a caller turn and wait for the bot's answer."""
        call = self._live_call("send a caller turn")
        if call is None:
            return False
        async with self._step_lock:
            try:
                await call.step(text, source="typed")
            except Exception as error:
                self._report("The caller turn failed", error)
                return False
            finally:
                self._flush()
        return True

    async def force(self, state: str) -> bool:
        """Move the live call to `state` (recorded as forced)."""
        call = self._live_call("force a transition")
        if call is None:
            return False
        try:
            await call.force(state)
        except Exception as error:
            self._report("The transition could not be forced", error)
            return False
        finally:
            self._flush()
        return True

    def _live_call(self, action: str) -> HealthcareAIPipeline | None:
        call = self._call
        if call is None or self._call_state != RUNNING:
            self.failed.emit(f"Cannot {action}", "No call is running: start one first.")
            return None
        return call

    def export(self, path: str, include_phi: bool = False) -> int | None:
        """Write the latency CSV of the current (or last, or replayed) call; the number of rows."""
        self._flush()
        if not self._timeline:
            self.failed.emit("Nothing to export", "No call yet: start one or open one from the history.")
            return None
        schema = next((e.schema for e in self._timeline if isinstance(e, ev.CallStarted)), self.schema_name)
        try:
            rows = write_latency_csv(path, list(self._timeline), schema=schema, include_phi=include_phi)
        except EngineError as error:
            self._report("The latency CSV could not be written", error)
            return None
        self.messageShown.emit(f"Exported {rows} latency samples to {path}")
        return rows

    async def speak(self, text: str, output_device: str = "") -> bool:
        """Say `text` through the voice engine's TTS."""
        try:
            async with self._busy("Speaking…"):
                await self.voice.speak(text, output_device)
        except Exception as error:
            self._report("The line could not be spoken", error)
            return False
        return True

    def recording_of(self, call_id: str) -> str | None:
        """The path of a past call's recorded audio (`<data dir>/calls/<id>/call.wav`), or None."""
        try:
            path = self.history.recordings_root() / call_id / "call.wav"
        except (OSError, EngineError) as error:
            logger.warning(f"no recordings folder: {error}")
            return None
        return str(path) if call_id and path.is_file() else None

    @property
    def playing(self) -> bool:
        return self._playing

    async def play_recording(self, call_id: str, output_device: str = "") -> bool:
        """Play a past call's recording through the chosen speaker (in a thread); False (and `failed`)
        if it has none or it cannot be played."""
        path = self.recording_of(call_id)
        if path is None:
            self.failed.emit("Cannot play the recording", f"The call {call_id} has no recorded audio.")
            return False
        if self._playing:
            self.failed.emit("Cannot play the recording", "A recording is already playing: stop it first.")
            return False
        self._playing = True
        self.playingChanged.emit(True)
        try:
            async with self._busy("Playing the recording…"):
                await self.voice.play(path, output_device or self.output_device)
        except Exception as error:
            self._report("The recording could not be played", error)
            return False
        finally:
            self._playing = False
            self.playingChanged.emit(False)
        return True

    def stop_playback(self) -> None:
        """Stop a playing recording (the audio thread stops after its current block)."""
        self.voice.stop_playback()

    async def shutdown(self) -> None:
        """End the call, await its pipeline and every task of ours; then let go of the store."""
        await self.stop("the console is closing")
        self.stop_playback()
        await self._drain_tasks()
        self._report_timer.stop()
        self._flush_timer.stop()
        self._level_timer.stop()
        self.voice.close()
        self.history.close()

    def monitor_input(self, device: str | None) -> None:
        """Meter the microphone on `inputLevel` (None: stop). The audio thread only stores the level;
        a timer here reads it, so no Qt signal crosses threads (PySide6 can crash on that: PYSIDE-3124)."""
        if device is None:
            self.voice.stop_monitor()
            self._level_timer.stop()
        elif self.voice.monitor_input(device):
            self._level_timer.start()

    def _emit_level(self) -> None:
        self.inputLevel.emit(self.voice.input_level())

    # ----- schema test cases -----------------------------------------------------------------

    def test_cases(self) -> list[CaseKey]:
        """The (schema, case) pairs of the shown schema's test script (as on `testsChanged`)."""
        script = self._script
        return [(script.schema_name, case.name) for case in script.cases] if script else []

    @property
    def tests_note(self) -> str:
        """Why the shown schema has no test cases ("" when it has some)."""
        return self._tests_note

    def _load_tests(self, compiled: CompiledSchema | None) -> None:
        self._script, self._tests_note = None, ""
        path = getattr(compiled, "path", None)
        if compiled is None or not path:
            self._tests_note = "No schema is shown: no test cases."
        else:
            try:
                found = discover_scripts([path])
                self._script = load_test_script(found[0], compiled)
            except FileNotFoundError as error:
                self._tests_note = f"No test cases: {error}"
            except (EngineError, OSError) as error:
                self._tests_note = "The test script could not be loaded: " + "; ".join(describe(error))
        self.testsChanged.emit(self.test_cases(), self._tests_note)

    async def run_tests(self, cases: list[CaseKey]) -> bool:
        """Run these (schema, case) test cases one after another, as text calls the panels follow.
        False (and `failed`) if they cannot run now or were stopped."""
        chosen = self._chosen_cases("run test cases", cases)
        return chosen is not None and await self._run_cases(chosen, stepping=False)

    async def step_test(self, case: CaseKey) -> bool:
        """Run one test case turn by turn: each step waits for `next_test_step()`."""
        chosen = self._chosen_cases("step through a test case", [tuple(case)])
        return chosen is not None and await self._run_cases(chosen, stepping=True)

    def next_test_step(self) -> bool:
        """Play the stepped test case's next step; False if no step waits."""
        if self._next_step is None:
            self.messageShown.emit("No test step is waiting: step through a test case first.")
            return False
        self._next_step.set()
        return True

    def _chosen_cases(self, action: str, keys: list[CaseKey]) -> list[TestCase] | None:
        if self.is_live:
            self.failed.emit(f"Cannot {action}", "Test cases are already running: wait for them or stop them."
                             if self.is_testing else "A call is running: stop it first.")
            return None
        script = self._script
        if script is None:
            self.failed.emit(f"Cannot {action}", self._tests_note or "The shown schema has no test cases.")
            return None
        by_name = {case.name: case for case in script.cases}
        unknown = [f"{schema}: {name}" for schema, name in keys
                   if schema != script.schema_name or name not in by_name]
        if unknown or not keys:
            self.failed.emit(f"Cannot {action}", f"Not a test case of '{script.schema_name}': "
                             + ", ".join(unknown) if unknown else "No test case was chosen.")
            return None
        return [by_name[name] for _schema, name in keys]

    async def _run_cases(self, cases: list[TestCase], *, stepping: bool) -> bool:
        script = self._script
        assert script is not None
        results: list[CaseResult] = []
        current: TestCase | None = None
        started = time.perf_counter()
        self._testing = asyncio.current_task()
        self._set_call_state(TESTING)
        busy = "Stepping through a test case…" if stepping else f"Running {len(cases)} test case(s)…"
        finished = False
        try:
            async with self._busy(busy):
                for case in cases:
                    current, started = case, time.perf_counter()
                    self.testRunning.emit(script.schema_name, case.name)
                    result = await run_case(script, case, on_call=self._begin_test_call,
                                            pause=self._step_pause(case) if stepping else None)
                    self._flush()
                    results.append(result)
                    current = None
                    self.testResult.emit(result.schema, result.case, result.passed, _result_detail(result),
                                         result.ms)
            finished = True
        except asyncio.CancelledError:  # Stop, or the console closing
            self.messageShown.emit("The test cases were stopped")
            self._end_case(script, current, started, "stopped before the case finished")
        except Exception as error:
            self._report("The test cases could not run", error)
            self._end_case(script, current, started, "\n".join(describe(error)))
        finally:
            self._flush()
            self._testing, self._next_step = None, None
            self._set_call_state(ENDED)
        if results:
            self._emit_coverage(script, results)
        if finished:
            passed = sum(result.passed for result in results)
            self.messageShown.emit(f"Test cases of '{script.schema_name}': {passed}/{len(results)} passed")
        return finished

    def _begin_test_call(self, call: HealthcareAIPipeline) -> None:
        self._begin(call, recorded=False)

    def _step_pause(self, case: TestCase) -> Callable[[], Awaitable[None]]:
        played = 0

        async def pause() -> None:
            nonlocal played
            played += 1
            self._flush()
            gate = self._next_step = asyncio.Event()
            step = case.steps[played - 1].describe()
            self.testStepReady.emit(played, len(case.steps), step)
            self.messageShown.emit(f"Step {played}/{len(case.steps)} of '{case.name}' next: {step}")
            try:
                await gate.wait()
            finally:
                self._next_step = None

        return pause

    def _end_case(self, script: TestScript, case: TestCase | None, started: float, detail: str) -> None:
        if case is not None:
            self.testResult.emit(script.schema_name, case.name, False, detail,
                                 (time.perf_counter() - started) * 1000)

    def _emit_coverage(self, script: TestScript, results: list[CaseResult]) -> None:
        covered = coverage(script.schema, results)
        self.coverageChanged.emit(coverage_text(covered, len(results)), set(covered.unreached_states),
                                  set(covered.untaken_edges))

    # ----- history ---------------------------------------------------------------------------

    def replay(self, call_id: str) -> bool:
        """Show a past call from the history in the same panels."""
        if self.is_live:
            self.failed.emit("Cannot open a past call", "Test cases are running: wait for them or stop them."
                             if self.is_testing else "A call is running: stop it first.")
            return False
        try:
            events, report, schema = self.history.load(call_id)
        except EngineError as error:
            self._report(f"Call {call_id} could not be opened", error)
            return False
        self._call, self._replaying = None, True
        self._timeline.clear()
        self._entered.clear()
        self._show_schema(self._schemas_seen.get(schema) or _bundled_schema(schema))
        self._set_call_state(REPLAY)
        self.timelineReset.emit()
        for event in events:
            self._dispatch(event)
        self.latencyReplayed.emit([(e.turn, e.stage, e.ms, e.crossed_transition)
                                   for e in events if isinstance(e, ev.Latency)])
        self.reportChanged.emit(report)
        self.messageShown.emit(f"Showing call {call_id} from the history")
        return True

    # ----- events -> signals -----------------------------------------------------------------

    def _on_event(self, event: ev.CallEvent) -> None:
        """Event-stream subscriber: queue, deliver on the next loop turn."""
        self._pending.append(event)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush(self) -> None:
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
        self._entered[event.state] = (event.prompt, event.say)
        view = self.node_view(event.state) or _event_view(event)
        view["current"] = not self._replaying
        self.nodeEntered.emit(event.at, view)

    def _on_user_turn(self, event: ev.UserTurn) -> None:
        self.callerSaid.emit(event.at, event.text, event.source)

    def _on_bot_turn(self, event: ev.BotTurn) -> None:
        self.botSaid.emit(event.at, event.text)

    def _on_function_called(self, event: ev.FunctionCalled) -> None:
        self.functionCalled.emit(event.at, event.name, dict(event.arguments), dict(event.result))

    def _on_transition(self, event: ev.Transition) -> None:
        self.transitionTaken.emit(event.at, event.source, event.target, event.intent or "", event.forced)

    def _on_latency(self, event: ev.Latency) -> None:
        if not self._replaying:
            self.latencySample.emit(event.turn, event.stage, event.ms, event.crossed_transition)

    def _on_error(self, event: ev.CallError) -> None:
        self.callError.emit(event.at, event.message, event.source, event.fatal)
        reported_by_start = self._call_state == STARTING and event.fatal  # `start` reports it itself
        reported_by_test = self.is_testing  # a test case's errors are in its result
        if (not self._replaying and not reported_by_start and not reported_by_test
                and event.source not in BENIGN_ERROR_SOURCES):
            self.failed.emit("Call error", f"{event.source}: {event.message}")

    def _on_call_ended(self, event: ev.CallEnded) -> None:
        self.callEnded.emit(event.at, event.status, event.reason)
        if self._replaying:
            return
        if self.is_testing:  # the test runner waits for its calls; they are not in the history
            self._report_timer.stop()
            self._emit_report()
            return
        self._set_call_state(FAILED if event.status == FAILED else ENDED)
        self._report_timer.stop()
        self._emit_report()
        self.historyChanged.emit()
        if self._call is not None:
            self._spawn(self._call.wait_until_ended(END_WAIT_S), f"reap-{event.call_id}")

    def _emit_report(self) -> None:
        if self._call is not None:
            self.reportChanged.emit(self._call.get_performance_report())

    # ----- plumbing --------------------------------------------------------------------------

    def _set_call_state(self, state: str) -> None:
        if state != self._call_state:
            self._call_state = state
            self.callStateChanged.emit(state)

    @asynccontextmanager
    async def _busy(self, message: str) -> AsyncIterator[None]:
        self._busy_messages.append(message)
        self.busyChanged.emit(True, message)
        try:
            yield
        finally:
            self._busy_messages.remove(message)
            latest = self._busy_messages[-1] if self._busy_messages else ""
            self.busyChanged.emit(bool(latest), latest)

    def _report(self, title: str, error: BaseException) -> None:
        if not isinstance(error, EngineError):
            logger.opt(exception=error).error(title)
        self.failed.emit(title, "\n".join(describe(error)))

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.opt(exception=task.exception()).error(f"console task {task.get_name()} failed")

    async def _drain_tasks(self) -> None:
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=END_WAIT_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


# ----- rendering with marked values -----------------------------------------------------------

_OPEN, _SEP, _CLOSE = "\ue000", "\ue001", "\ue002"  # private-use code points: never in a template
_MARKED = re.compile(f"{_OPEN}([^{_SEP}]*){_SEP}(.*?){_CLOSE}", re.DOTALL)


class _Marked(str):
    """A speakable value that prints wrapped in markers naming its field, but compares, tests
    and slices as the plain value, so template logic renders exactly as in the call."""

    field: str

    def __new__(cls, value: str, field: str) -> _Marked:
        marked = super().__new__(cls, value)
        marked.field = field
        return marked

    def __str__(self) -> str:
        return f"{_OPEN}{self.field}{_SEP}{str.__str__(self)}{_CLOSE}"


@dataclass(frozen=True)
class _RenderContext:
    """What renders a node for one patient: the schema, the precomputed values and the slots."""

    compiled: CompiledSchema
    precomputed: Precomputed
    record: Mapping[str, Any]
    slots: Mapping[str, Any]

    def segments(self, state: str, kind: str) -> list[Segment]:
        values, raws = marked_values(self.compiled, self.precomputed, self.record)
        try:
            text = self.compiled.renderer.render_template(state, kind, values, self.slots)
        except Exception:
            return _plain(self.compiled.renderer.render(state, kind, self.precomputed, self.slots))
        return split_marked(text, raws)


def marked_values(compiled: CompiledSchema, precomputed: Precomputed,
                  record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Template values wrapped in field markers, and each field's raw value by its label."""
    values: dict[str, Any] = {}
    raws: dict[str, str] = dict(precomputed.display)
    for name, value in precomputed.values.items():
        if isinstance(value, str):
            values[name] = _Marked(value, name)
        elif isinstance(value, list):
            values[name] = _marked_items(compiled, name, value, record.get(name) or [], raws)
        else:
            values[name] = value
    return values, raws


def _marked_items(compiled: CompiledSchema, name: str, items: list[dict[str, Any]],
                  raw_items: list[dict[str, Any]], raws: dict[str, str]) -> list[dict[str, Any]]:
    fields = compiled.schema.data[name].fields or {}
    marked = []
    for index, item in enumerate(items):
        raw_item = raw_items[index] if index < len(raw_items) else {}
        shown = raw_display_values(fields, raw_item)
        entry = {}
        for key, value in item.items():
            label = f"{name}[{index}].{key}"
            raws[label] = shown.get(key, "")
            entry[key] = _Marked(value, label) if isinstance(value, str) else value
        marked.append(entry)
    return marked


def split_marked(text: str, raws: Mapping[str, str]) -> list[Segment]:
    """Rendered text with markers -> segments of (text, field, raw value)."""
    segments: list[Segment] = []
    position = 0
    for match in _MARKED.finditer(text):
        if match.start() > position:
            segments.append((text[position:match.start()], "", ""))
        if match.group(2):
            segments.append((match.group(2), match.group(1), raws.get(match.group(1), "")))
        position = match.end()
    if position < len(text):
        segments.append((text[position:], "", ""))
    return segments


def _intent_choice(compiled: CompiledSchema, state: str, intent: str) -> IntentChoice:
    target = compiled.target_of(state, intent)
    return IntentChoice(intent, list(compiled.schema.intents[intent].examples), target,
                        compiled.schema.states[target].end)


def _plain(text: str) -> list[Segment]:
    return [(text, "", "")] if text else []


def _event_view(event: ev.NodeEntered) -> NodeView:
    return NodeView(state=event.state, current=True, say=_plain(event.say), prompt=_plain(event.prompt),
                    say_source="", prompt_source="", intents=[])


# ----- test results as text -------------------------------------------------------------------

def _result_detail(result: CaseResult) -> str:
    if not result.passed:
        return result.detail or result.message or "failed"
    return "\n".join(["passed", "transcript:", *(f"  {line}" for line in result.transcript)])


def coverage_text(covered: Coverage, cases: int, names_shown: int = 6) -> str:
    """A short coverage summary: states visited and transitions taken, and the first states missed
    (the graph's overlay marks every one)."""
    runs = f"{cases} case{'s' if cases != 1 else ''}"
    states = f"states {len(covered.visited)}/{len(covered.states)} ({covered.state_percent:.0f}%)"
    edges = f"transitions {len(covered.taken)}/{len(covered.edges)} ({covered.edge_percent:.0f}%)"
    lines = [f"Coverage of the last run ({runs}): {states}, {edges}"]
    unreached, untaken = covered.unreached_states, covered.untaken_edges
    if unreached:
        more = len(unreached) - names_shown
        lines.append("Not reached: " + ", ".join(unreached[:names_shown]) + (f" and {more} more" if more > 0 else ""))
    if untaken:
        lines.append(f"Not taken: {len(untaken)} transition{'s' if len(untaken) != 1 else ''} "
                     "(dashed red on the graph)")
    return "\n".join(lines)


def coverage_detail(unreached: set[str], untaken: set[tuple[str, str, str]]) -> str:
    """Every state missed and transition not taken, one a line (for a tooltip)."""
    lines = [*(f"not reached: {state}" for state in sorted(unreached)),
             *(f"not taken: {edge_text(edge)}" for edge in sorted(untaken))]
    return "\n".join(lines) or "Every state reached and every transition taken."


# ----- schema helpers -------------------------------------------------------------------------

def schema_info(compiled: CompiledSchema) -> SchemaInfo:
    states = compiled.schema.states
    return SchemaInfo(name=compiled.name, path=str(compiled.path), states=list(states),
                      edges=compiled.edges(),
                      initial=compiled.schema.initial_state,
                      endings={name for name, state in states.items() if state.end})


def _schema_name_of(schema_path: str) -> str:
    try:
        return load_schema(schema_path).name
    except EngineError:
        return Path(schema_path).stem


def _bundled_schema(name: str) -> CompiledSchema | None:
    try:
        return load_schema(SCHEMAS_DIR / f"{name}.yaml")
    except EngineError:
        return None


def describe(error: BaseException) -> list[str]:
    """An error as the lines an operator reads: one per located problem."""
    if isinstance(error, ProblemsError):
        return [describe_problem(problem) for problem in error.problems]
    if isinstance(error, EngineError):
        return [str(error)]
    return [f"{type(error).__name__}: {error}"]


def describe_problem(problem: Problem) -> str:
    where = f"{Path(problem.file).name}:{problem.line}" if problem.line else Path(problem.file).name
    field = f" {problem.field}:" if problem.field else ""
    return f"{where}:{field} {problem.message}"


def _single_shot(parent: QObject, interval_ms: int, slot: Any) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    return timer


# ----- optional engine parts: the call history and the voice engine ---------------------------

class HistorySupport:
    """The call history (`engine.store`), opened on first use; unavailable if it cannot open.

    `data_dir` overrides where it lives (else --data-dir's default: $VOICE_CONSOLE_DATA_DIR or the user's)."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self._data_dir = data_dir
        self._store: Any = None
        self.reason = ""

    def _open(self) -> Any:
        if self._store is None and not self.reason:
            try:
                from engine.store import CallStore

                self._store = CallStore.open_default(self._data_dir)
            except (ImportError, EngineError) as error:
                self.reason = f"the call history is unavailable: {error}"
        return self._store

    def status(self) -> tuple[bool, str]:
        return self._open() is not None, self.reason

    def recordings_root(self) -> Path:
        """Where voice calls record their audio: `<data dir>/calls/<call id>/`."""
        from engine.paths import data_dir

        return data_dir(self._data_dir) / "calls"

    def attach(self, call: HealthcareAIPipeline) -> None:
        store = self._open()
        if store is None:
            return
        try:
            store.attach(call)
        except EngineError as error:
            logger.warning(f"this call is not recorded in the history: {error}")

    def calls(self, limit: int = 200) -> list[dict[str, Any]]:
        store = self._open()
        if store is None:
            return []
        return [{"call_id": record.id, "schema": record.schema, "patient_id": record.patient_id,
                 "responder": record.responder, "mode": record.mode, "status": record.status,
                 "started_at": record.started_at, "ended_at": record.ended_at}
                for record in store.list_calls(limit)]

    def load(self, call_id: str) -> tuple[list[ev.CallEvent], dict[str, Any], str]:
        """A past call's events, its report and its schema's name."""
        store = self._open()
        if store is None:
            raise EngineError(self.reason)
        report = store.report(call_id)
        return store.events(call_id), report, report.get("schema", "")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class VoiceSupport:
    """The console's adapter to `engine.voice`: devices, voice calls, Speak and the input level.

    Unavailable, with the reason, when the voice engine does not import or finds no device.
    """

    def __init__(self) -> None:
        self._piper: Any = None
        self._level: Any = None
        self._found: list[Any] | None = None
        self.recordings_root: Path | None = None  # where recorded calls go (None: <data dir>/calls)
        self._stop_playing = threading.Event()
        try:
            from engine.voice import devices
        except ImportError as error:
            self._devices_module: Any = None
            self.reason = f"the voice engine is not installed ({error.name or error})"
        else:
            self._devices_module = devices
            self.reason = ""

    def devices(self) -> tuple[list[Choice], list[Choice]]:
        """(label, name) of the audio input and output devices."""
        if self._devices_module is None:
            return [], []
        if self._found is None:
            try:
                self._found = self._devices_module.list_devices()
            except EngineError as error:
                self.reason, self._found = str(error), []
        found = self._found
        return ([(_device_label(d, d.is_default_input), d.name) for d in found if d.max_input_channels > 0],
                [(_device_label(d, d.is_default_output), d.name) for d in found if d.max_output_channels > 0])

    def status(self) -> tuple[bool, str]:
        """Whether voice calls can be made, and why not."""
        if self._devices_module is None:
            return False, self.reason
        inputs, _outputs = self.devices()
        return (True, "") if inputs else (False, self.reason or "no audio input device was found")

    def tts_status(self) -> tuple[bool, str]:
        if self._devices_module is None:
            return False, self.reason
        _inputs, outputs = self.devices()
        return (True, "") if outputs else (False, self.reason or "no audio output device was found")

    async def build(self, setup: CallSetup) -> Any:
        """A checked `VoiceSession` for one call; the slow checks and loading run in a thread."""
        available, reason = self.status()
        if not available:
            raise EngineError(f"voice mode is unavailable: {reason}")
        from engine.voice.config import VoiceConfig
        from engine.voice.session import VoiceSession

        session = VoiceSession(VoiceConfig(input_device=setup.get("input_device") or None,
                                           output_device=setup.get("output_device") or None,
                                           record=bool(setup.get("record")),
                                           recordings_root=self.recordings_root))
        await asyncio.to_thread(self._prepare, session)
        return session

    @staticmethod
    def _prepare(session: Any) -> None:
        """Check devices and model files, and load the shared Whisper model, off the event loop."""
        from engine.voice import models

        session.preflight()
        if session.config.stt == "whisper" and session.config.stt_factory is None:
            # the same cache key as the STT service's own call, so the call reuses this model
            models.shared_whisper_model(str(models.whisper_model_dir()), "cpu", "int8")

    async def speak(self, text: str, output_device: str = "") -> None:
        """Say `text` in the bundled Piper voice (synthesis and playback run in a thread)."""
        available, reason = self.tts_status()
        if not available:
            raise EngineError(f"text to speech is unavailable: {reason}")
        await asyncio.to_thread(self._speak_now, text, output_device)

    def _speak_now(self, text: str, output_device: str) -> None:
        from piper import PiperVoice

        from engine.voice import models

        devices = self._devices_module
        self._piper = self._piper or PiperVoice.load(models.piper_voice_file())
        speaker = devices.resolve_device(output_device or None, "output")
        audio = devices.open_pyaudio()
        stream = None
        try:
            for chunk in self._piper.synthesize(text):
                if stream is None:
                    stream = audio.open(format=audio.get_format_from_width(chunk.sample_width),
                                        channels=chunk.sample_channels, rate=chunk.sample_rate, output=True,
                                        output_device_index=speaker.index)
                stream.write(chunk.audio_int16_bytes)
        finally:
            if stream is not None:
                stream.stop_stream()
                stream.close()
            audio.terminate()

    async def play(self, path: str, output_device: str = "") -> None:
        """Play a WAV file through the chosen speaker (playback runs in a thread)."""
        available, reason = self.tts_status()
        if not available:
            raise EngineError(f"audio playback is unavailable: {reason}")
        self._stop_playing.clear()
        await asyncio.to_thread(self._play_now, path, output_device)

    def stop_playback(self) -> None:
        self._stop_playing.set()

    def _play_now(self, path: str, output_device: str) -> None:
        speaker = self._devices_module.resolve_device(output_device or None, "output")
        try:
            with wave.open(path, "rb") as recording:
                self._play_wav(recording, speaker.index)
        except (EOFError, wave.Error) as error:
            raise EngineError(f"{path} is not a readable WAV file: {error}") from error

    def _play_wav(self, recording: wave.Wave_read, speaker_index: int) -> None:
        audio = self._devices_module.open_pyaudio()
        stream = None
        try:
            stream = audio.open(format=audio.get_format_from_width(recording.getsampwidth()),
                                channels=recording.getnchannels(), rate=recording.getframerate(),
                                output=True, output_device_index=speaker_index)
            block = max(1, recording.getframerate() // 10)  # 0.1 s: Stop takes effect within a block
            while not self._stop_playing.is_set() and (frames := recording.readframes(block)):
                stream.write(frames)
        finally:
            if stream is not None:
                stream.stop_stream()
                stream.close()
            audio.terminate()

    def monitor_input(self, device: str) -> bool:
        """Start metering the microphone (read it with `input_level`); False if it cannot be opened."""
        self.stop_monitor()
        if self._devices_module is None:
            return False
        try:
            self._level = _LevelMonitor(self._devices_module, device)
        except (EngineError, OSError) as error:
            logger.warning(f"no input level: {error}")
            return False
        return True

    def input_level(self) -> float:
        return self._level.level if self._level is not None else 0.0

    def stop_monitor(self) -> None:
        if self._level is not None:
            self._level.close()
            self._level = None

    def close(self) -> None:
        """Release audio devices and models."""
        self.stop_monitor()
        self.stop_playback()
        self._piper = None


class _LevelMonitor:
    """A PortAudio input stream that keeps the RMS level (0..1) of its latest block in `level`."""

    def __init__(self, devices: Any, device: str) -> None:
        microphone = devices.resolve_device(device or None, "input")
        self._audio = devices.open_pyaudio()
        self.level = 0.0
        self._stream = self._audio.open(format=self._audio.get_format_from_width(2), channels=1, rate=16000,
                                        input=True, input_device_index=microphone.index,
                                        frames_per_buffer=1600, stream_callback=self._block)

    def _block(self, data: bytes, _frames: int, _time: Any, _status: int) -> tuple[None, int]:
        samples = array("h", data)
        rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
        self.level = min(1.0, rms / 8000)  # read by the GUI thread; a float store is atomic
        return None, 0  # paContinue

    def close(self) -> None:
        self._stream.stop_stream()
        self._stream.close()
        self._audio.terminate()


def _device_label(device: Any, default: bool) -> str:
    return f"{device.name} (default)" if default else device.name
