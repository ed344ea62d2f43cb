"""HealthcareAIPipeline: one call as a real Pipecat pipeline driven by FlowManager.

    [audio in | text in] -> STT -> user aggregator -> responder -> TTS -> [audio out | text out]
                                                                       -> assistant aggregator

In text mode the audio stages are left out: caller text enters as transcription
frames, and the bot's text is read off the responder. Everything that happens
is emitted on the call's `EventStream`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple, Protocol

from loguru import logger
from pipecat.flows import FlowManager
from pipecat.frames.frames import (
    EndFrame,
    TranscriptionFrame,
)
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.workers.runner import WorkerRunner

from engine import events as ev
from engine.call_input import cleaned_turn, refused_function_call
from engine.clock import iso_utc
from engine.driving import OPENING_WAIT_S, START_TIMEOUT_S, TURN_TIMEOUT_S, wait_until_settled
from engine.errors import CallLifecycleError, EngineError, UnknownFunctionError, UnknownStateError
from engine.latency import LatencyTracker, Stage
from engine.lifecycle import CallStatus, checked_move
from engine.logs import REDACTOR, patient_strings
from engine.nlu import Classification
from engine.nodes import CallSession, node_factory_for
from engine.observer import CallObserver
from engine.precompute import Precomputed
from engine.prompts import PROMPT, SAY, PromptRenderer
from engine.responders.factory import ResponderConfig, build_responder
from engine.responders.scripted import OperatorFunctionCall
from engine.sandbox import TemplateLimitError
from engine.state import ConversationState
from engine.turns import typed_turn_strategies


class PendingTransition(NamedTuple):
    """A move decided by a handler (or a force) whose node FlowManager has not yet set."""

    source: str  # "" for the first node
    target: str
    intent: str | None
    forced: bool
    started_at: float  # time.perf_counter()
    render_ms: float


class CallVoice(Protocol):
    """The audio side of a voice call (`engine.voice.VoiceSession`): it wraps the text stages."""

    def attach(self, call: HealthcareAIPipeline) -> None:
        """Called first; checks devices and models, so it raises before anything is built."""

    def user_params(self) -> LLMUserAggregatorParams: ...

    def wrap(self, stages: list[FrameProcessor],
             aggregators: LLMContextAggregatorPair) -> list[FrameProcessor]:
        """`[user aggregator, responder]` with the audio stages around them, assistant aggregator last."""
        ...

    def observers(self) -> list[BaseObserver]: ...


class HealthcareAIPipeline:
    """One live call. Use `start()`, then `step()` / `force()`, then `stop()` or let it end."""

    def __init__(
        self,
        patient_data: dict[str, Any],
        session_id: str,
        conversation_state: ConversationState,
        precomputed_data: Precomputed,
        prompt_renderer: PromptRenderer,
        *,
        responder: ResponderConfig | None = None,
        events: ev.EventStream | None = None,
        patient_id: str = "",
        voice: CallVoice | None = None,
    ) -> None:
        self.patient_data = patient_data
        self.session_id = session_id
        self.conversation = conversation_state
        self.precomputed = precomputed_data
        self.renderer = prompt_renderer
        self.responder_config = responder or ResponderConfig()
        self.patient_id = patient_id
        self.voice = voice
        self.events = events or ev.EventStream()
        self.latency_tracker = LatencyTracker()
        self.latency_tracker.precompute_ms = precomputed_data.elapsed_ms
        self.events.subscribe(self.latency_tracker.observe)
        self.status = CallStatus.CREATED
        self.end_reason = ""
        self.turn = 0
        self.session = CallSession(conversation_state, precomputed_data,
                                   node_factory_for(conversation_state.compiled), listener=self)
        self._pending_transitions: list[PendingTransition] = []
        self._turn_started_at: float | None = None
        self._turn_crossed_transition = False
        self._context: LLMContext | None = None
        self._worker: PipelineWorker | None = None
        self._flow_manager: FlowManager | None = None
        self._runner_task: asyncio.Task[None] | None = None
        self._failing: asyncio.Task[None] | None = None  # ending the call after a fatal error in the pipeline
        self._ended = asyncio.Event()

    # ----- lifecycle -------------------------------------------------------------------------

    @property
    def schema_name(self) -> str:
        return self.conversation.schema.name

    @property
    def flow_manager(self) -> FlowManager | None:
        """The call's FlowManager, once started."""
        return self._flow_manager

    @property
    def mode(self) -> str:
        return "voice" if self.voice is not None else "text"

    def _move_to(self, status: CallStatus) -> None:
        self.status = checked_move(self.session_id, self.status, status)

    async def start(self) -> None:
        """Build and run the pipeline, enter the first node and wait for its opening line."""
        if self.status is not CallStatus.CREATED:
            raise CallLifecycleError(f"call {self.session_id} is {self.status}; it can start only once")
        REDACTOR.register(self.session_id, patient_strings(self.patient_data, self.precomputed.values))
        started = asyncio.Event()
        try:
            self._build(started)
            self._move_to(CallStatus.RUNNING)
            self.latency_tracker.start()
            self._emit(ev.CallStarted, schema=self.schema_name, patient_id=self.patient_id,
                       responder=self.responder_config.kind, mode=self.mode,
                       precompute_ms=self.precomputed.elapsed_ms)
            self._emit(ev.Latency, stage=Stage.PRECOMPUTE, ms=self.precomputed.elapsed_ms)
            await self._wait_for_pipeline_start(started)
            mark = len(self.events.history)
            await self.initialize_first_node()
            await self._wait_for_turn(mark, OPENING_WAIT_S)  # the opening line is out before any caller turn
            if self._failing is not None:  # e.g. the responder's server refused the connection
                await self._failed()
                raise EngineError(self.end_reason or "the call failed while starting")
        except Exception as error:
            reason = f"the call could not start: {str(error) or type(error).__name__}"
            if self._failing is not None:  # the call has failed and said why
                await self._failed()
            else:
                await self._fail(reason)
            raise EngineError(reason) from error

    async def _wait_for_pipeline_start(self, started: asyncio.Event) -> None:
        """Wait for the pipeline to start, or for the call to end first (e.g. a device failed)."""
        waiters = {asyncio.ensure_future(started.wait()), asyncio.ensure_future(self._ended.wait())}
        try:
            done, _ = await asyncio.wait(waiters, timeout=START_TIMEOUT_S,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if not done:
            raise EngineError(f"the pipeline did not start within {START_TIMEOUT_S:g} s")
        if self.ended:
            raise EngineError(self.end_reason or "the pipeline ended while starting")

    def _build(self, started: asyncio.Event) -> None:
        if self.voice is not None:
            self.voice.attach(self)  # checks devices and models; raises before anything is built
        responder = build_responder(self.responder_config, self.session)
        context = self._context = LLMContext()
        aggregators = LLMContextAggregatorPair(context, user_params=self._user_params())
        stages: list[FrameProcessor] = [aggregators.user(), responder]
        if self.voice is not None:
            stages = self.voice.wrap(stages, aggregators)
        else:
            stages.append(aggregators.assistant())
        self._observer = CallObserver(self, responder)
        worker = self._worker = PipelineWorker(
            Pipeline(stages),
            params=PipelineParams(enable_metrics=True, enable_usage_metrics=False),
            observers=[self._observer, *(self.voice.observers() if self.voice else [])],
            cancel_on_idle_timeout=False,
            enable_rtvi=False,
            enable_turn_tracking=False,  # nothing reads its turns; as one more observer it costs every frame
            idle_timeout_secs=None,
        )
        self._flow_manager = FlowManager(llm=responder, context_aggregator=aggregators, worker=worker)
        self.session.attach(self._flow_manager)

        async def on_started(_worker: PipelineWorker, _frame: Any) -> None:
            started.set()

        async def on_finished(_worker: PipelineWorker, _frame: Any) -> None:
            self._finish(CallStatus.ENDED, self.end_reason or self._natural_end_reason())

        worker.add_event_handler("on_pipeline_started", on_started)
        worker.add_event_handler("on_pipeline_finished", on_finished)
        runner = WorkerRunner(handle_sigint=False)
        self._runner_task = asyncio.create_task(self._run(runner, worker), name=f"call-{self.session_id}")

    def _user_params(self) -> LLMUserAggregatorParams:
        if self.voice is not None:
            return self.voice.user_params()
        return LLMUserAggregatorParams(user_turn_strategies=typed_turn_strategies())

    async def _run(self, runner: WorkerRunner, worker: PipelineWorker) -> None:
        try:
            await runner.add_workers(worker)
            await runner.run()
        except Exception as error:
            logger.exception("call pipeline crashed")
            self._finish(CallStatus.FAILED, f"pipeline error: {error}")
        finally:
            self._finish(CallStatus.ENDED, self.end_reason or self._natural_end_reason())

    def _natural_end_reason(self) -> str:
        return "reached an ending state" if self.conversation.ended else "pipeline finished"

    def _finish(self, status: CallStatus, reason: str) -> None:
        if self.status.final:
            return
        self._move_to(status)
        self.end_reason = reason
        self.latency_tracker.stop()
        self._emit(ev.CallEnded, status=status, reason=reason,
                   total_ms=self.latency_tracker.total_call_time_ms)
        REDACTOR.forget(self.session_id)
        self._ended.set()

    async def _fail(self, reason: str, source: str = "pipeline") -> None:
        self._emit(ev.CallError, message=reason, source=source, fatal=True)
        self._finish(CallStatus.FAILED, reason)
        if self._worker is not None:
            await self._worker.cancel(reason=reason)
        await self._cancel_runner()

    async def _failed(self) -> None:
        """Let a failure that began in the pipeline finish ending the call."""
        if self._failing is not None and self._failing is not asyncio.current_task():
            await self._failing

    def _fail_from_pipeline(self, reason: str, source: str) -> None:
        """Fail the call from its own task: the pipeline, which is running this, cannot await its own end."""
        if self._failing is None and self.status is CallStatus.RUNNING:
            self._failing = asyncio.get_running_loop().create_task(self._fail(reason, source),
                                                                   name=f"fail-{self.session_id}")

    async def stop(self, reason: str = "stopped by the operator") -> None:
        """End the call now and wait for the pipeline to shut down."""
        if self.status is CallStatus.CREATED:
            self._finish(CallStatus.ENDED, reason)
            return
        if self.status is CallStatus.RUNNING:
            self.end_reason = reason
            await self._pipeline_worker().cancel(reason=reason)
        await self._cancel_runner()
        await self._failed()
        self._finish(CallStatus.ENDED, reason)

    async def _cancel_runner(self) -> None:
        task = self._runner_task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def wait_until_ended(self, wait_s: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._ended.wait(), wait_s)
        except TimeoutError:
            return False
        await self._cancel_runner()
        await self._failed()
        return True

    @property
    def ended(self) -> bool:
        return self.status.final

    # ----- the seed's interface ------------------------------------------------------------

    async def initialize_first_node(self) -> None:
        started = time.perf_counter()
        initial = self.conversation.current
        node = self.session.first_node()
        render_ms = (time.perf_counter() - started) * 1000
        self._pending_transitions.insert(0, PendingTransition("", initial, None, False, started, render_ms))
        await self._flows().initialize(node)

    async def handle_user_message(self, text: str | bytes, source: str = "typed",
                                  wait_s: float | None = TURN_TIMEOUT_S) -> None:
        """A caller turn, as if the caller had said it; waits for the bot's answer up to `wait_s`."""
        self._require_running("take a caller turn")
        cleaned = self._clean_turn(text)
        if cleaned is None:
            return
        mark = len(self.events.history)
        await self._queue_caller_turn(cleaned, source)
        if wait_s:
            await self._wait_for_turn(mark, wait_s)

    async def _wait_for_turn(self, mark: int, wait_s: float) -> None:
        if not await wait_until_settled(self, wait_s, since=mark):
            self._emit(ev.CallError, message=f"the responder gave no answer within {wait_s:g} s",
                       source="responder")

    async def _queue_caller_turn(self, cleaned: str, source: str) -> None:
        self.turn += 1
        self._turn_started_at = time.perf_counter()
        self._turn_crossed_transition = False
        self._emit(ev.UserTurn, text=cleaned, source=source)
        timestamp = iso_utc(self.events.clock())
        await self._pipeline_worker().queue_frames([TranscriptionFrame(cleaned, "caller", timestamp)])

    async def step(self, text: str | bytes, source: str = "typed",
                   wait_s: float | None = TURN_TIMEOUT_S) -> None:
        await self.handle_user_message(text, source, wait_s)

    async def _transition_to_state(self, state: str, forced: bool = True) -> None:
        """Move the call to `state` through FlowManager, recorded as forced."""
        self._require_running("force a transition")
        if state not in self.conversation.schema.nodes:
            known = ", ".join(self.conversation.schema.nodes)
            self._emit(ev.CallError, message=f"unknown state '{state}' (states: {known})", source="force")
            raise UnknownStateError(
                f"unknown state '{state}' in schema '{self.schema_name}' (states: {known})")
        node = self.session.force(state) if forced else self.session.node(state)
        await self._flows().set_node_from_config(node)

    async def force(self, state: str) -> None:
        await self._transition_to_state(state, forced=True)

    async def call_function(self, name: str, arguments: dict[str, Any],
                            result: dict[str, Any] | None = None) -> None:
        """The operator plays the LLM: call a function the current node offers with exactly `arguments`
        (`result` stands in for a handler-less function's); UnknownFunctionError (emitted) if none."""
        self._require_running("call a function")
        refused = refused_function_call(self.responder_config.kind, self.conversation, name)
        if isinstance(refused, UnknownFunctionError):
            self._emit(ev.CallError, message=str(refused), source="function")
        if refused is not None:
            raise refused
        self.session.supply_result(name, result)
        frame = OperatorFunctionCall(function=name, arguments=dict(arguments), context=self._context)
        await self._pipeline_worker().queue_frames([frame])

    def get_performance_report(self) -> dict[str, Any]:
        report = self.latency_tracker.report()
        report.update(session_id=self.session_id, schema=self.schema_name, status=self.status.value,
                      state=self.conversation.current, visited=list(self.conversation.visited),
                      turns=self.turn, turn_breakdown=report.pop("turns"))
        return report

    # ----- helpers -------------------------------------------------------------------------

    def _pipeline_worker(self) -> PipelineWorker:
        if self._worker is None:
            raise CallLifecycleError(f"call {self.session_id} has no pipeline: it never started")
        return self._worker

    def _flows(self) -> FlowManager:
        if self._flow_manager is None:
            raise CallLifecycleError(f"call {self.session_id} has no FlowManager: it never started")
        return self._flow_manager

    def _require_running(self, action: str) -> None:
        if self.status is not CallStatus.RUNNING:
            raise CallLifecycleError(f"cannot {action}: call {self.session_id} is {self.status}")

    def _clean_turn(self, text: str | bytes) -> str | None:
        cleaned, ignored = cleaned_turn(text)
        if cleaned is None:
            self._emit(ev.CallError, message=ignored, source="input")
        return cleaned

    def _emit(self, event_type: type[ev.CallEvent], **payload: Any) -> None:
        self.events.emit(event_type(call_id=self.session_id, seq=self.events.next_seq(), turn=self.turn,
                                    state=self.conversation.current, at=self.events.clock(), **payload))

    # ----- CallListener: called from node handlers -------------------------------------------

    def on_function_called(self, name: str, arguments: dict[str, Any], result: dict[str, Any]) -> None:
        self._emit(ev.FunctionCalled, name=name, arguments=arguments, result=result)

    def on_transition(self, source: str, target: str, intent: str | None, forced: bool,
                      started_at: float, render_ms: float) -> None:
        pending = PendingTransition(source, target, intent, forced, started_at, render_ms)
        self._pending_transitions.append(pending)

    def on_classified(self, ms: float, decided: Classification) -> None:
        self._emit(ev.Latency, stage=Stage.CLASSIFY, ms=ms)
        self._emit(ev.Classified, intent=decided.intent, confidence=decided.confidence, margin=decided.margin,
                   rule=decided.rule.value, matched=decided.matched,
                   candidates=tuple(c.intent for c in decided.candidates),
                   scores=tuple(c.score for c in decided.candidates), asked=decided.tie or ())

    # ----- called by the observer ------------------------------------------------------------

    def on_node_ready(self) -> None:
        """FlowManager has queued the node's context and tools: the transition is done."""
        if not self._pending_transitions:
            return
        pending, self._pending_transitions = self._pending_transitions, []
        for source, target, intent, forced, started_at, _ in pending:
            ms = (time.perf_counter() - started_at) * 1000
            if source:
                self._turn_crossed_transition = True
                self._emit(ev.Transition, source=source, target=target, intent=intent, ms=ms, forced=forced)
                self._emit(ev.Latency, stage=Stage.TRANSITION, ms=ms, forced=forced)
        target, render_ms, forced = pending[-1].target, pending[-1].render_ms, pending[-1].forced
        self._emit(ev.Latency, stage=Stage.RENDER, ms=render_ms, forced=forced)
        self._emit(ev.NodeEntered, prompt=self._render_or_report(target, PROMPT),
                   say=self._render_or_report(target, SAY), render_ms=render_ms,
                   fields_used=self.fields_used(target))

    def _render_or_report(self, state: str, kind: str) -> str:
        """The rendered text (a plain flow's filled from `flow_manager.state`, as FlowManager fills it);
        a template past the sandbox's bounds is an error event (and no text)."""
        try:
            text = self.renderer.render(state, kind, self.precomputed, self.conversation.slots)
            if self.conversation.compiled.is_flow and self._flow_manager is not None:
                from engine.interop.flow_in import fill  # only a plain flow's call needs it

                text = fill(text, self._flow_manager.state)[0]
            return text
        except TemplateLimitError as error:
            self._emit(ev.CallError, message=f"the {kind} of state '{state}' cannot be rendered: {error}",
                       source="template", fatal=False)
            return ""

    def on_bot_text_started(self) -> None:
        if self._turn_started_at is None:
            return
        ms = (time.perf_counter() - self._turn_started_at) * 1000
        self._turn_started_at = None
        self._emit(ev.Latency, stage=Stage.TURN, ms=ms, crossed_transition=self._turn_crossed_transition)

    def on_empty_answer(self) -> None:
        self.on_pipeline_error("the responder returned an empty answer (no text and no function call)",
                               "responder", False)

    def on_spoken_action(self, text: str) -> None:
        """A plain flow's `tts_say` is what its bot says (a schema's lines come from the responder)."""
        if self.conversation.compiled.is_flow and self.voice is None:
            self.on_bot_turn(text)

    def on_bot_turn(self, text: str) -> None:
        written = self.conversation.compiled.lexicon.restore(text)
        self._emit(ev.BotTurn, text=text, written="" if written == text else written)

    def on_stage_latency(self, stage: str, ms: float) -> None:
        crossed = self._turn_crossed_transition if stage == Stage.VOICE_TO_VOICE else False
        self._emit(ev.Latency, stage=stage, ms=ms, crossed_transition=crossed)

    def on_voice_turn(self, text: str) -> None:
        """A spoken caller turn, as the STT heard it (called by the voice session)."""
        self.turn += 1
        self._turn_started_at = time.perf_counter()
        self._turn_crossed_transition = False
        self._emit(ev.UserTurn, text=text, source="voice")

    def on_pipeline_error(self, message: str, source: str, fatal: bool) -> None:
        self._emit(ev.CallError, message=message, source=source, fatal=fatal)

    def on_responder_unreachable(self) -> None:
        where = self.responder_config.resolved().base_url or "the configured address"
        self._fail_from_pipeline(f"the LLM server at {where} refused the connection: is it running?",
                                 "responder")

    def fields_used(self, state: str) -> tuple[str, ...]:
        prompt = self.renderer.template(state, PROMPT).fields
        say = self.renderer.template(state, SAY).fields
        return tuple(sorted(set(prompt) | set(say)))

    async def end(self) -> None:
        """Ask the pipeline to finish what it is saying, then end."""
        if self.status is CallStatus.RUNNING:
            await self._pipeline_worker().queue_frame(EndFrame())
