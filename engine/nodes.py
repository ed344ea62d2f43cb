"""Pipecat Flows nodes from schema states.

`NodeFactory` builds every state's function schemas once per schema. Their
handlers find the call they belong to in `flow_manager.state[SESSION_KEY]`, so
calls share them. A transition compiles to a tool named after its intent; the
LLM (or the scripted responder) calls it, the handler records the call and
returns the next node, and FlowManager moves.
"""

from __future__ import annotations

import re
import time
import weakref
from typing import Any, Protocol

from pipecat.flows import FlowArgs, FlowManager, FlowsDirectFunction, FlowsFunctionSchema, NodeConfig
from pipecat.frames.frames import EndFrame

from engine.nlu import Classification
from engine.precompute import Precomputed
from engine.prompts import PROMPT
from engine.schema.compiled import CompiledSchema
from engine.schema.model import Transition
from engine.state import ConversationState

SESSION_KEY = "voice_console_session"
_FLOWS_PLACEHOLDER = re.compile(r"(?<!\\)(\{\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}\})")


class CallListener(Protocol):
    """Receives what happens inside node handlers (the pipeline turns these into events)."""

    def on_function_called(self, name: str, arguments: dict[str, Any], result: dict[str, Any]) -> None: ...

    def on_transition(self, source: str, target: str, intent: str | None, forced: bool,
                      started_at: float, render_ms: float) -> None: ...

    def on_classified(self, ms: float, decided: Classification) -> None: ...


class NodeFactory:
    """Builds NodeConfigs for one compiled schema."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self.compiled = compiled
        self._functions = {name: self._state_functions(name) for name in compiled.schema.states}

    def functions_of(self, state: str) -> list[FlowsFunctionSchema | FlowsDirectFunction]:
        return self._functions[state]

    def build_node(self, state: str, precomputed: Precomputed, slots: dict[str, Any] | None = None,
                   *, with_role: bool = False) -> NodeConfig:
        """The Pipecat node for `state`, with its rendered task prompt."""
        spec = self.compiled.schema.states[state]
        prompt = self.compiled.renderer.render(state, PROMPT, precomputed, slots)
        node: NodeConfig = {
            "name": state,
            "task_messages": [{"role": "developer", "content": _escape_flows_placeholders(prompt)}],
            "functions": self._functions[state],
            "respond_immediately": spec.respond_immediately,
        }
        if with_role:
            node["role_message"] = _escape_flows_placeholders(precomputed.role)
        if spec.end:
            node["post_actions"] = [{"type": "end_conversation"}]
        return node

    def _state_functions(self, state: str) -> list[FlowsFunctionSchema | FlowsDirectFunction]:
        spec = self.compiled.schema.states[state]
        node_functions: list[FlowsFunctionSchema | FlowsDirectFunction]
        node_functions = [self._node_function(state, name) for name in spec.functions]
        return node_functions + [self._transition_function(state, t) for t in spec.transitions]

    def _node_function(self, state: str, name: str) -> FlowsFunctionSchema:
        function = self.compiled.registry[name]

        async def handler(args: FlowArgs, flow_manager: FlowManager) -> tuple[dict[str, Any], None]:
            return session_of(flow_manager).call_node_function(state, name, args), None

        return FlowsFunctionSchema(name=name, description=function.description,
                                   properties=function.properties, required=[], handler=handler)

    def _transition_function(self, state: str, transition: Transition) -> FlowsFunctionSchema:
        intent = self.compiled.schema.intents[transition.intent]
        properties: dict[str, Any] = {}
        if transition.call:
            properties = {k: v for k, v in self.compiled.registry[transition.call].properties.items()
                          if k not in transition.args}

        async def handler(args: FlowArgs,
                          flow_manager: FlowManager) -> tuple[dict[str, Any], NodeConfig | None]:
            return session_of(flow_manager).take_transition(state, transition, args)

        return FlowsFunctionSchema(
            name=transition.intent,
            description=f"{intent.description} Call this when the caller's answer means that.",
            properties=properties,
            required=[],
            handler=handler,
        )


_factories: weakref.WeakKeyDictionary[CompiledSchema, NodeFactory] = weakref.WeakKeyDictionary()


def node_factory_for(compiled: CompiledSchema) -> NodeFactory:
    """The schema's one NodeFactory, built on first use and shared by its calls."""
    factory = _factories.get(compiled)
    if factory is None:
        factory = _factories[compiled] = NodeFactory(compiled)
    return factory


def _escape_flows_placeholders(text: str) -> str:
    """FlowManager fills `{{ key }}` from its state; rendered text must stay as it is."""
    return _FLOWS_PLACEHOLDER.sub(r"\\\1", text) if "{{" in text else text


async def _end_conversation(_action: dict[str, Any], flow_manager: FlowManager) -> None:
    await flow_manager.worker.queue_frame(EndFrame())


def session_of(flow_manager: FlowManager) -> CallSession:
    session = flow_manager.state[SESSION_KEY]
    if not isinstance(session, CallSession):
        raise TypeError(f"FlowManager state '{SESSION_KEY}' holds a {type(session).__name__}")
    return session


class CallSession:
    """One call's link between FlowManager handlers and its ConversationState."""

    def __init__(self, conversation: ConversationState, precomputed: Precomputed, nodes: NodeFactory,
                 listener: CallListener | None = None) -> None:
        self.conversation = conversation
        self.precomputed = precomputed
        self.nodes = nodes
        self.listener = listener

    def attach(self, flow_manager: FlowManager) -> None:
        flow_manager.state[SESSION_KEY] = self
        # Flows' built-in handler has the deprecated one-argument signature; this one does the same.
        flow_manager.register_action("end_conversation", _end_conversation)

    def first_node(self) -> NodeConfig:
        return self.nodes.build_node(self.conversation.current, self.precomputed,
                                     self.conversation.slots, with_role=True)

    def node(self, state: str) -> NodeConfig:
        return self.nodes.build_node(state, self.precomputed, self.conversation.slots)

    def call_node_function(self, state: str, name: str, args: FlowArgs) -> dict[str, Any]:
        if state != self.conversation.current:
            return self._stale(name, state)
        result = self.nodes.compiled.registry[name].invoke(args, self.conversation.slots)
        if self.listener:
            self.listener.on_function_called(name, dict(args), result)
        return result

    def take_transition(self, state: str, transition: Transition,
                        args: FlowArgs) -> tuple[dict[str, Any], NodeConfig | None]:
        """Record the transition's call, move the conversation, and return the next node."""
        started = time.perf_counter()
        if state != self.conversation.current:
            return self._stale(transition.intent, state), None
        arguments = {**args, **transition.args}
        result: dict[str, Any] = {"status": "ok", "intent": transition.intent}
        if transition.call:
            result = self.nodes.compiled.registry[transition.call].invoke(arguments, self.conversation.slots)
        if self.listener:
            self.listener.on_function_called(transition.call or transition.intent, arguments, result)
        self.conversation.transition_to(transition.to, transition.intent)
        return result, self._enter(state, transition.to, transition.intent, False, started)

    def force(self, target: str) -> NodeConfig:
        """Move anywhere (raises UnknownStateError) and return that node."""
        started = time.perf_counter()
        source = self.conversation.current
        self.conversation.force(target)
        return self._enter(source, target, None, True, started)

    def _enter(self, source: str, target: str, intent: str | None, forced: bool,
               started: float) -> NodeConfig:
        render_started = time.perf_counter()
        node = self.node(target)
        render_ms = (time.perf_counter() - render_started) * 1000
        if self.listener:
            self.listener.on_transition(source, target, intent, forced, started, render_ms)
        return node

    def _stale(self, name: str, state: str) -> dict[str, Any]:
        """A call issued in a node the conversation has already left (e.g. after a force)."""
        return {"status": "ignored", "function": name,
                "reason": f"issued in '{state}', but the call is now in '{self.conversation.current}'"}
