"""Pipecat Flows nodes from schema nodes, and what happens when their functions are called.

`NodeFactory` builds every node's function schemas once per schema. Their handlers find
the call they belong to in `flow_manager.state[SESSION_KEY]`, so calls share them. The
LLM (or the scripted responder) calls a function; its handler runs the declared effect,
picks the next node (a name, or a branch on the result or the record), counts failed
attempts, passes through decision nodes, and returns the node FlowManager moves to.
"""

from __future__ import annotations

import copy
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from pipecat.flows import (
    ActionConfig,
    ContextStrategy,
    ContextStrategyConfig,
    FlowArgs,
    FlowManager,
    FlowsDirectFunction,
    FlowsFunctionSchema,
    NodeConfig,
)
from pipecat.flows.types import NO_RESPONSE, ConsolidatedFunctionResult, FlowsDirectFunctionWrapper
from pipecat.frames.frames import EndFrame

from engine.functions import from_text, invoke
from engine.logs import REDACTOR
from engine.nlu import Classification
from engine.precompute import Precomputed
from engine.prompts import PROMPT, ROLE, args_key
from engine.schema.compiled import ATTEMPTS, CompiledEntry, CompiledSchema
from engine.schema.model import Action, case_key
from engine.state import ConversationState

if TYPE_CHECKING:
    from engine.interop.handlers import FlowParts

SESSION_KEY = "voice_console_session"
_FLOWS_PLACEHOLDER = re.compile(r"(?<!\\)(\{\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}\})")
_DETAIL_LIMIT = 200  # characters of a flow function's error message shown in its event
Hop = tuple[str, str, str | None]  # (source, target, label)
ActionHandler = Callable[[dict[str, Any], FlowManager], Awaitable[None]]


class CallListener(Protocol):
    """Receives what happens inside node handlers (the pipeline turns these into events)."""

    def on_function_called(self, name: str, arguments: dict[str, Any], result: dict[str, Any]) -> None: ...

    def on_transition(self, source: str, target: str, intent: str | None, forced: bool,
                      started_at: float, render_ms: float) -> None: ...

    def on_classified(self, ms: float, decided: Classification) -> None: ...

    def on_pipeline_error(self, message: str, source: str, fatal: bool) -> None: ...


class NodeFactory:
    """Builds NodeConfigs for one compiled schema."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self.compiled = compiled
        self._functions: dict[str, list[FlowsFunctionSchema | FlowsDirectFunction]] = {
            name: [self._function(e) for e in compiled.entries_of(name)] for name in compiled.schema.nodes}

    def functions_of(self, state: str) -> list[FlowsFunctionSchema | FlowsDirectFunction]:
        return list(self._functions[state])

    def build_node(self, state: str, precomputed: Precomputed, slots: dict[str, Any] | None = None,
                   *, with_role: bool = False) -> NodeConfig:
        """The Pipecat node for `state`, with its rendered task messages."""
        if self.compiled.flow is not None:
            return self._flow_node(state, self.compiled.flow)
        spec = self.compiled.node(state)
        renderer = self.compiled.renderer
        prompt = renderer.render(state, PROMPT, precomputed, slots)
        role = spec.task_messages[0].role if spec.task_messages else "developer"
        node: NodeConfig = {
            "name": state,
            "task_messages": [{"role": role, "content": _escape_flows_placeholders(prompt)}],
            "functions": self._functions[state],  # shared by every entry: built once
            "respond_immediately": spec.respond_immediately,
        }
        if renderer.has(state, ROLE):
            own_role = renderer.render(state, ROLE, precomputed, slots)
            node["role_message"] = _escape_flows_placeholders(own_role)
        elif with_role:
            node["role_message"] = _escape_flows_placeholders(precomputed.role)
        if spec.pre_actions:
            node["pre_actions"] = [_action(a) for a in spec.pre_actions]
        if spec.post_actions:
            node["post_actions"] = [_action(a) for a in spec.post_actions]
        if spec.context_strategy is not None:
            node["context_strategy"] = ContextStrategyConfig(strategy=ContextStrategy(spec.context_strategy))
        return node

    def _flow_node(self, state: str, flow: FlowParts) -> NodeConfig:
        """A plain flow's node as Pipecat's `Flow` builds it: its texts as written (FlowManager fills
        their placeholders from its state), its action handlers from the handlers module."""
        from engine.interop.flow_in import original

        spec = self.compiled.node(state)
        node: NodeConfig = {
            "name": state,
            "task_messages": [{"role": m.role, "content": original(m.content)} for m in spec.task_messages],
            "functions": self._functions[state],
            "respond_immediately": spec.respond_immediately,
        }
        if spec.role_message is not None:
            node["role_message"] = original(spec.role_message)
        if spec.pre_actions:
            node["pre_actions"] = [_flow_action(a, flow) for a in spec.pre_actions]
        if spec.post_actions:
            node["post_actions"] = [_flow_action(a, flow) for a in spec.post_actions]
        if spec.context_strategy is not None:
            node["context_strategy"] = ContextStrategyConfig(strategy=ContextStrategy(spec.context_strategy))
        return node

    def _function(self, entry: CompiledEntry) -> FlowsFunctionSchema:
        direct = self.compiled.flow.functions.get(entry.name or "") if self.compiled.flow else None

        async def handler(args: FlowArgs, flow_manager: FlowManager) -> ConsolidatedFunctionResult:
            session = session_of(flow_manager)
            responds = True
            if direct is not None and entry.node == session.conversation.current:
                result, responds = await session.run_direct(entry.tool, direct, dict(args))
                session.supply_result(entry.tool, result)
            result, node = session.call_function(entry.node, entry, args)
            return (result, NO_RESPONSE) if node is None and not responds else (result, node)

        return FlowsFunctionSchema(name=entry.tool, description=entry.description,
                                   properties=entry.properties, required=[], handler=handler)


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


def _with_two_arguments(builtin: Callable[[dict[str, Any]], Awaitable[None]]) -> ActionHandler:
    """Flows' own built-in action, registered with the (action, flow_manager) signature."""

    async def handler(action: dict[str, Any], _flow_manager: FlowManager) -> None:
        await builtin(action)

    return handler


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
        self.flow_manager: FlowManager | None = None
        self._supplied: dict[str, dict[str, Any]] = {}  # function -> the operator's result for it

    @property
    def compiled(self) -> CompiledSchema:
        return self.nodes.compiled

    def attach(self, flow_manager: FlowManager) -> None:
        self.flow_manager = flow_manager
        flow_manager.state[SESSION_KEY] = self
        # Flows' built-in handlers have the deprecated one-argument signature; these do the same.
        flow_manager.register_action("end_conversation", _end_conversation)
        # tts_say and function keep Flows' own handlers (they pace the actions that follow them)
        actions = flow_manager._action_manager  # Flows keeps its built-ins there
        flow_manager.register_action("tts_say", _with_two_arguments(actions._handle_tts_action))
        flow_manager.register_action("function", _with_two_arguments(actions._handle_function_action))
        if self.compiled.flow is not None:
            flow_manager.state.update(copy.deepcopy(self.compiled.flow.initial_state))

    def first_node(self) -> NodeConfig:
        """The opening node: the initial node, or where its decisions lead."""
        for source, target, label in self._decisions(self.conversation.current):
            self.conversation.transition_to(target, label)
            if self.listener:
                self.listener.on_transition(source, target, label, False, time.perf_counter(), 0.0)
        return self.nodes.build_node(self.conversation.current, self.precomputed,
                                     self.conversation.slots, with_role=True)

    def node(self, state: str) -> NodeConfig:
        return self.nodes.build_node(state, self.precomputed, self.conversation.slots)

    def bound_arguments(self, entry: CompiledEntry) -> dict[str, Any]:
        """The entry's `args`: fixed values, and templates rendered from the record at call start."""
        rendered = {arg: self.precomputed.static_texts.get((entry.node, args_key(entry.tool, arg)), "")
                    for arg in entry.template_args}
        return {**entry.fixed_args, **_typed(entry, rendered)}

    def supply_result(self, tool: str, result: dict[str, Any] | None) -> None:
        """The result the next call of `tool` returns when its function has no handler."""
        if result is None:
            self._supplied.pop(tool, None)
        else:
            self._supplied[tool] = dict(result)

    async def run_direct(self, tool: str, direct: FlowsDirectFunctionWrapper,
                         args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """A flow's direct function's result and whether the bot answers; when it fails, a non-fatal
        error event and `{"status": "error"}`, so the call still settles."""
        from engine.interop.handlers import ContractError, run_direct

        assert self.flow_manager is not None, "run_direct before attach"
        try:
            return await run_direct(direct, args, self.flow_manager)
        except ContractError as error:
            self._report_function_error(tool, f"returned what Pipecat refuses: {error}")
        except Exception as error:  # the flow's own code: report it, never let it stall the step
            self._report_function_error(tool, f"raised {type(error).__name__}: {error}")
        return {"status": "error"}, True

    def _report_function_error(self, tool: str, what: str) -> None:
        if self.listener:
            detail = REDACTOR.scrub(what)[:_DETAIL_LIMIT]
            self.listener.on_pipeline_error(f"the function {tool} {detail}", "function", False)

    def call_function(self, state: str, entry: CompiledEntry,
                      args: FlowArgs) -> tuple[dict[str, Any], NodeConfig | None]:
        """Run the entry's function, then move where its transition (and the attempts) say."""
        started = time.perf_counter()
        supplied = self._supplied.pop(entry.tool, None)  # meant for this call only, stale or not
        if state != self.conversation.current:
            return self._stale(entry.tool, state), None
        arguments = {**args, **self.bound_arguments(entry)}
        result: dict[str, Any] = supplied or ({} if self.compiled.is_flow else {"status": "ok",
                                                                                   "intent": entry.intent})
        if entry.function is not None and entry.name is not None:
            against = entry.function.verify.against if entry.function.verify else ""
            result = invoke(entry.name, entry.function, arguments, self.conversation.slots,
                            self.precomputed.record, self.compiled.data_type(against))
        if self.listener:
            self.listener.on_function_called(entry.name or entry.tool, arguments, result)
        target, label = self._attempted(state, self._target(entry, result), result, entry.label)
        if target is None:
            return result, None
        return result, self._move(state, target, label, False, started)

    def not_understood(self) -> NodeConfig | None:
        """The caller was not understood here: count an attempt; the `then` node once they run out."""
        started = time.perf_counter()
        state = self.conversation.current
        target, label = self._attempted(state, state, {}, "")
        if target is None or target == state:
            return None
        return self._move(state, target, label, False, started)

    def force(self, target: str) -> NodeConfig:
        """Move anywhere (raises UnknownStateError) and return that node."""
        return self._move(self.conversation.current, target, None, True, time.perf_counter())

    def _target(self, entry: CompiledEntry, result: dict[str, Any]) -> str | None:
        branch = entry.transition_to
        if branch is None or isinstance(branch, str):
            return branch
        if branch.field not in result and branch.field in self.compiled.schema.data:
            result[branch.field] = case_key(self.precomputed.record.get(branch.field))
        return branch.target_for(result.get(branch.field))

    def _attempted(self, state: str, target: str | None, result: dict[str, Any],
                   label: str) -> tuple[str | None, str]:
        """A failed check (verify false, or staying in the node) counts; the last one leads to `then`."""
        attempts = self.compiled.node(state).attempts
        if attempts is None or not (result.get("verified") is False or target == state):
            return target, label
        if self.conversation.count_attempt(state) >= attempts.max:
            return attempts.then, ATTEMPTS
        return target, label

    def _decisions(self, state: str) -> list[Hop]:
        """The moves through decision nodes from `state` on, each decided by the record."""
        hops: list[Hop] = []
        limit = len(self.compiled.schema.nodes)  # decisions that loop still stop
        while (decide := self.compiled.node(state).decide) is not None and len(hops) < limit:
            target = decide.target_for(self.precomputed.record.get(decide.field))
            if target is None:
                break
            hops.append((state, target, decide.field))
            state = target
        return hops

    def _move(self, source: str, target: str, label: str | None, forced: bool, started: float) -> NodeConfig:
        self.conversation.transition_to(target, label, forced=forced)
        hops: list[Hop] = [(source, target, label), *self._decisions(target)]
        for _, passed, decided in hops[1:]:
            self.conversation.transition_to(passed, decided)
        final = hops[-1][1]
        render_started = time.perf_counter()
        node = self.node(final)
        render_ms = (time.perf_counter() - render_started) * 1000
        if self.listener:
            for index, (hop_source, hop_target, hop_label) in enumerate(hops):
                self.listener.on_transition(hop_source, hop_target, hop_label, forced and index == 0,
                                            started, render_ms if hop_target == final else 0.0)
        return node

    def _stale(self, name: str, state: str) -> dict[str, Any]:
        """A call issued in a node the conversation has already left (e.g. after a force)."""
        return {"status": "ignored", "function": name,
                "reason": f"issued in '{state}', but the call is now in '{self.conversation.current}'"}


def _flow_action(action: Action, flow: FlowParts) -> ActionConfig:
    """A flow's action with its handler resolved; a handler that was not loaded is reported when it runs."""
    from engine.interop.flow_in import original

    config = _action(action)
    if action.handler is not None:
        found = flow.actions.get(action.handler)
        config["handler"] = found if found is not None else _unloaded(action.handler, action.type)
    if isinstance(action.text, str):
        config["text"] = original(action.text)  # tts_say's text
    return config


def _unloaded(handler: str, kind: str) -> Callable[[dict[str, Any], FlowManager], Awaitable[None]]:
    async def report(_action: dict[str, Any], flow_manager: FlowManager) -> None:
        listener = session_of(flow_manager).listener
        if listener is not None:
            listener.on_pipeline_error(f"the {kind} action's handler '{handler}' did not run: no handlers "
                                       "module was loaded (--handlers FILE.py)", "action", False)

    return report


def _action(action: Action) -> ActionConfig:
    """A schema action as Pipecat's ActionConfig (the same keys)."""
    return cast(ActionConfig, action.model_dump(exclude_none=True))


def _typed(entry: CompiledEntry, rendered: dict[str, str]) -> dict[str, Any]:
    assert entry.function is not None or not rendered
    parameters = entry.function.parameters if entry.function else {}
    return {arg: from_text(parameters[arg], text) for arg, text in rendered.items()}
