"""The offline responder: a Pipecat LLM service with no model and no keys.

On a fresh node it speaks the node's rendered scripted line. On a caller turn
it classifies the intent and calls the function offered for it, as an ordinary
function call, so FlowManager moves exactly as it would with a real LLM. Typed
parameters are filled by the spoken-value parsers (a date, a medication of the
record), never with the whole sentence. On a near tie between two intents it asks
which one the caller meant. Below the classifier's threshold it stays, counts an
attempt, and speaks the node's reprompt; once a node's attempts run out it moves
to the node's `attempts.then`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import (
    DataFrame,
    ErrorFrame,
    Frame,
    FunctionCallFromLLM,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings

from engine.functions import from_speech
from engine.nlu import ClarifyingTurns, Classification, clarifying_question
from engine.nodes import CallSession
from engine.prompts import REPROMPT, SAY


@dataclass
class OperatorFunctionCall(DataFrame):
    """The operator (or a test script) plays the LLM: call `function` with exactly `arguments`."""

    function: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    context: LLMContext | None = None


class ScriptedResponder(LLMService):
    def __init__(self, session: CallSession, **kwargs: Any) -> None:
        super().__init__(settings=_scripted_settings(), **kwargs)
        self._session = session
        self._answered_user_turns = 0
        self._spoken_state: str | None = None
        self._call_ids = itertools.count(1)
        self._turns = ClarifyingTurns()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, OperatorFunctionCall):
            await self._call_for_operator(frame)
            return
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        caller_text = self._new_caller_turn(frame.context)
        if self._session.compiled.is_flow:
            await self._flow_turn(caller_text)
            return
        decided = await self._classify(caller_text) if caller_text is not None else None
        not_understood = decided is not None and decided.intent is None and decided.tie is None
        if not_understood and await self._out_of_attempts():
            return  # the move to `attempts.then` is the answer: that node speaks next
        await self.push_frame(LLMFullResponseStartFrame())
        await self.start_processing_metrics()
        await self.start_ttfb_metrics()
        try:
            await self._respond(frame.context, caller_text, decided)
        finally:
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())

    async def _respond(self, context: LLMContext, caller_text: str | None,
                       decided: Classification | None) -> None:
        if caller_text is not None and decided is not None and decided.intent is not None:
            await self.stop_ttfb_metrics()
            await self.run_function_calls([self._function_call(decided.intent, caller_text, context)])
            return
        if decided is not None and decided.tie is not None:
            await self._ask_which(decided.tie)
            return
        await self._speak(REPROMPT if self._has_spoken_here() else SAY)

    async def _call_for_operator(self, call: OperatorFunctionCall) -> None:
        """An ordinary function call from the LLM, with the operator's name and arguments."""
        assert call.context is not None
        # the base service syncs tool handlers on each context frame; a node that does not respond
        # immediately sent none yet
        self._sync_registered_tool_handlers(call.context.tools)
        await self.push_frame(LLMFullResponseStartFrame())
        try:
            await self.run_function_calls([FunctionCallFromLLM(
                function_name=call.function, tool_call_id=f"operator-{next(self._call_ids)}",
                arguments=dict(call.arguments), context=call.context)])
        finally:
            await self.push_frame(LLMFullResponseEndFrame())

    async def _flow_turn(self, caller_text: str | None) -> None:
        """A plain flow has no scripted lines: the operator plays the LLM by calling functions."""
        if caller_text is not None:
            offered = ", ".join(f.name for f in self._session.compiled.offered_functions(
                self._session.conversation.current)) or "none"
            await self.push_frame(ErrorFrame(error=f"a Pipecat flow has no scripted answers: call one of "
                                                   f"this node's functions ({offered})", fatal=False))

    async def _out_of_attempts(self) -> bool:
        """Count a not-understood turn; when the node's attempts run out, move to its `then`."""
        node = self._session.not_understood()
        flow_manager = self._session.flow_manager
        if node is None or flow_manager is None:
            return False
        await flow_manager.set_node_from_config(node)
        return True

    async def _classify(self, caller_text: str) -> Classification:
        compiled, node = self._session.nodes.compiled, self._session.conversation.current
        classifier, candidates = compiled.classifier, compiled.intents_of(node)
        started = time.perf_counter()
        if not classifier.ready and classifier.needs_model(caller_text, candidates):
            # the model is still loading: classify off the event loop
            decided = await asyncio.to_thread(self._turns.classify, classifier, node, candidates, caller_text)
        else:
            decided = self._turns.classify(classifier, node, candidates, caller_text)
        if self._session.listener:
            self._session.listener.on_classified((time.perf_counter() - started) * 1000, decided)
        return decided

    async def _ask_which(self, tie: tuple[str, str]) -> None:
        self._spoken_state = self._session.conversation.current
        await self.stop_ttfb_metrics()
        await self._push_llm_text(clarifying_question(self._session.nodes.compiled.schema.intents, tie))

    def _new_caller_turn(self, context: LLMContext) -> str | None:
        """The latest caller message, if it has not been answered yet."""
        user_messages = [m for m in context.get_messages() if isinstance(m, dict) and m.get("role") == "user"]
        if len(user_messages) <= self._answered_user_turns:
            return None
        self._answered_user_turns = len(user_messages)
        return message_text(user_messages[-1])

    def _has_spoken_here(self) -> bool:
        return self._spoken_state == self._session.conversation.current

    async def _speak(self, kind: str) -> None:
        session = self._session
        state = session.conversation.current
        renderer = session.nodes.compiled.renderer
        line = renderer.render(state, kind, session.precomputed, session.conversation.slots)
        self._spoken_state = state
        await self.stop_ttfb_metrics()
        await self._push_llm_text(line)

    def _function_call(self, intent: str, caller_text: str, context: LLMContext) -> FunctionCallFromLLM:
        return FunctionCallFromLLM(
            function_name=intent,
            tool_call_id=f"scripted-{next(self._call_ids)}",
            arguments=self._arguments(intent, caller_text),
            context=context,
        )

    def _arguments(self, intent: str, caller_text: str) -> dict[str, Any]:
        """The unbound parameters of the intent's function, each parsed from the caller's words."""
        session = self._session
        entry = session.compiled.entry(session.conversation.current, intent)
        if entry.function is None:
            return {}
        found = {name: from_speech(parameter, caller_text, session.precomputed.record)
                 for name, parameter in entry.function.parameters.items() if name in entry.properties}
        return {name: value for name, value in found.items() if value is not None}


def message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _scripted_settings() -> LLMSettings:
    return LLMSettings(model="scripted", system_instruction=None, temperature=None, max_tokens=None,
                       top_p=None, top_k=None, frequency_penalty=None, presence_penalty=None, seed=None,
                       filter_incomplete_user_turns=None, user_turn_completion_config=None)
