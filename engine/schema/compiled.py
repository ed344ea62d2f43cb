"""Loading a schema once: parse, validate, cross-check, compile, cache."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from engine.data import spoken
from engine.data.contract import validate_data
from engine.data.lexicon import Lexicon
from engine.data.precompute import speakable_values
from engine.errors import PatientDataError, Problem, SchemaError
from engine.functions import bundled_functions, from_text, json_schema
from engine.nlu import IntentClassifier, nlu_mode
from engine.prompts import PromptRenderer, args_key, make_environment
from engine.schema.check import check_schema, did_you_mean, node_entries
from engine.schema.model import (
    Action,
    Attempts,
    Branch,
    DataField,
    FieldType,
    FunctionDecl,
    FunctionEntry,
    Handover,
    Intent,
    Message,
    Node,
    Parameter,
    ParamType,
    Schema,
    Verify,
    is_plain_flow,
    is_template,
    is_union_tag,
)
from engine.schema.offered import OfferedFunction, result_cases
from engine.schema.yaml_loader import PathKey, Positions, YamlLoadError, load_yaml

if TYPE_CHECKING:
    from engine.interop.handlers import FlowParts

Edge = tuple[str, str, str]  # (source, label, target); the label is an intent, a decided field or "attempts"
ATTEMPTS = "attempts"


@dataclass(frozen=True, eq=False)
class CompiledEntry:
    """One function of a node, resolved once at load."""

    node: str
    tool: str  # the name the LLM sees
    intent: str | None
    name: str | None  # the declared function it calls; None for a transition-only entry
    function: FunctionDecl | None
    description: str
    properties: dict[str, Any]  # the parameters the caller (or LLM) fills: the unbound ones
    fixed_args: dict[str, Any]
    template_args: tuple[str, ...]  # args rendered from the record at call start
    transition_to: str | Branch | None
    flow_parameters: dict[str, Parameter] | None = None  # a flow's direct function (None: not one)

    @property
    def label(self) -> str:
        return self.intent or self.tool

    def targets(self) -> list[str]:
        if self.transition_to is None:
            return []
        return [self.transition_to] if isinstance(self.transition_to, str) else self.transition_to.targets()

    @property
    def has_handler(self) -> bool:
        """Code or a built-in effect computes its result (otherwise the operator supplies it)."""
        return self.function is not None or self.flow_parameters is not None

    def offered(self) -> OfferedFunction:
        parameters = self.function.parameters if self.function else self.flow_parameters or {}
        return OfferedFunction(
            name=self.tool, description=self.description,
            parameters={k: p for k, p in parameters.items() if k in self.properties},
            result_cases=result_cases(self.transition_to), has_handler=self.has_handler,
            targets=tuple(self.targets()))


@dataclass(eq=False)
class CompiledSchema:
    """A schema with everything calls share: renderer, classifier, functions, lookup tables."""

    schema: Schema
    path: Path
    functions: dict[str, FunctionDecl]
    renderer: PromptRenderer
    classifier: IntentClassifier
    lexicon: Lexicon
    positions: Positions
    flow: FlowParts | None = None  # a plain Pipecat flow: its handlers and initial state
    _entries: dict[str, tuple[CompiledEntry, ...]] = field(default_factory=dict)
    _intents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _by_tool: dict[tuple[str, str], CompiledEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.schema.nodes:
            entries = tuple(self._compile_entry(name, entry) for _, entry in node_entries(self.schema, name))
            self._entries[name] = entries
            self._intents[name] = tuple(e.intent for e in entries if e.intent is not None)
            for entry in entries:
                self._by_tool[(name, entry.tool)] = entry

    def _compile_entry(self, node: str, entry: FunctionEntry) -> CompiledEntry:
        if self.flow is not None:
            return self._compile_flow_entry(node, entry, self.flow)
        function = None if entry.only_transitions or entry.name is None else self.functions[entry.name]
        intent = self.schema.intents.get(entry.intent or "")
        description = entry.description or (function.description if function else "")
        if intent is not None:
            meaning = entry.description or intent.description
            description = f"{meaning} Call this when the caller's answer means that."
        parameters = function.parameters if function else {}
        return CompiledEntry(
            node=node, tool=entry.tool, intent=entry.intent, name=None if function is None else entry.name,
            function=function, description=description,
            properties={k: json_schema(p) for k, p in parameters.items() if k not in entry.args},
            fixed_args={k: v for k, v in entry.args.items() if not is_template(v)},
            template_args=tuple(k for k, v in entry.args.items() if is_template(v)),
            transition_to=entry.transition_to,
        )

    def _compile_flow_entry(self, node: str, entry: FunctionEntry, flow: FlowParts) -> CompiledEntry:
        direct = entry.name if entry.name in flow.functions else None
        description = entry.description or ""
        if direct is not None:
            description = flow.functions[direct].to_function_schema().description
        return CompiledEntry(
            node=node, tool=entry.tool, intent=None, name=entry.name, function=None, description=description,
            properties=flow.properties(direct) if direct else {}, fixed_args={}, template_args=(),
            transition_to=entry.transition_to, flow_parameters=flow.parameters(direct) if direct else None)

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def is_flow(self) -> bool:
        """A plain Pipecat flow (no data contract, intents or scripted lines)."""
        return self.flow is not None

    def node(self, name: str) -> Node:
        return self.schema.nodes[name]

    def is_ending(self, name: str) -> bool:
        return self.schema.nodes[name].ending

    def entries_of(self, node: str) -> tuple[CompiledEntry, ...]:
        return self._entries[node]

    def intents_of(self, node: str) -> tuple[str, ...]:
        return self._intents[node]

    def entry(self, node: str, tool: str) -> CompiledEntry:
        """The node's entry named `tool` (an intent, or a function name when it has no intent)."""
        return self._by_tool[(node, tool)]

    def offered_functions(self, state: str) -> list[OfferedFunction]:
        """The functions `state` offers (its own, then the global ones), as the operator calls them."""
        return [entry.offered() for entry in self._entries[state]]

    def targets_of(self, node: str, intent: str) -> list[str]:
        """Where the intent's function can lead (several when it branches)."""
        return self._by_tool[(node, intent)].targets()

    def edges(self) -> list[Edge]:
        """Every way between nodes: function transitions (one per branch target), decisions, attempts."""
        found: list[Edge] = []
        for name, node in self.schema.nodes.items():
            found += [(name, e.label, t) for e in self._entries[name] for t in e.targets()]
            if node.decide is not None:
                found += [(name, node.decide.field, t) for t in node.decide.targets()]
            if node.attempts is not None:
                found.append((name, ATTEMPTS, node.attempts.then))
        return list(dict.fromkeys(found))

    def data_type(self, field_name: str) -> FieldType | None:
        data_field = self.schema.data.get(field_name)
        return data_field.type if data_field else None

    def prepare_calls(self) -> None:
        """The set-up calls need and loading does not (so `validate` never pays it): the classifier's
        model, started in the background, and dateparser's one-off set-up when a function reads a date."""
        self.classifier.prepare()
        used = (entry.function for entries in self._entries.values() for entry in entries if entry.function)
        if any(p.type is ParamType.DATE for function in used for p in function.parameters.values()):
            spoken.warm_up()

    def validate_data(self, record: Any, *, positions: Positions | None = None,
                      file: str = "<record>", base_path: PathKey = ("data",)) -> dict[str, Any]:
        return validate_data(self.schema.data, record, positions=positions, file=file, base_path=base_path)


_cache: dict[tuple[Path, int, str, str, str], CompiledSchema] = {}
_cache_lock = threading.Lock()


def load_schema(path: Path | str, *, handlers: Path | str | None = None,
                state: Mapping[str, Any] | None = None,
                announce: Callable[[Path], None] | None = None) -> CompiledSchema:
    """Load and compile a schema, or a plain Pipecat flow with its `handlers` module (imported only
    here, `announce` told first) and initial `state`; calls of the same unchanged files share one result."""
    resolved = Path(path).resolve()
    try:
        key = (resolved, resolved.stat().st_mtime_ns, nlu_mode(), _handlers_key(handlers),
               json.dumps(state or {}, sort_keys=True, default=str))
    except OSError as error:
        raise SchemaError([Problem(str(path), 0, 0, "", f"cannot read file: {error.strerror}")]) from error
    with _cache_lock:
        if (cached := _cache.get(key)) is not None:
            return cached
    compiled = compile_schema(Path(path), handlers=Path(handlers) if handlers else None, state=state,
                              announce=announce)
    with _cache_lock:
        _cache[key] = compiled
    return compiled


def _handlers_key(handlers: Path | str | None) -> str:
    if handlers is None:
        return ""
    resolved = Path(handlers).resolve()
    return f"{resolved}:{resolved.stat().st_mtime_ns if resolved.exists() else 0}"


def compile_schema(path: Path, *, handlers: Path | None = None, state: Mapping[str, Any] | None = None,
                   announce: Callable[[Path], None] | None = None) -> CompiledSchema:
    try:
        raw, positions = load_yaml(path)
    except YamlLoadError as error:
        raise SchemaError(error.problems) from error
    if is_plain_flow(raw):
        from engine.interop import flow_in  # Pipecat Flows is imported only for a plain flow

        flow_schema, parts = flow_in.load_flow(path, raw, positions, handlers=handlers, state=state,
                                               announce=announce)
        return CompiledSchema(schema=flow_schema, path=path, functions={},
                              renderer=PromptRenderer(flow_schema, make_environment()),
                              classifier=IntentClassifier({}, nlu_mode()), lexicon=Lexicon({}),
                              positions=positions, flow=parts)
    if handlers is not None or state:
        option = "--handlers" if handlers is not None else "--state"
        raise SchemaError([positions.problem((), f"{option} is for a plain Pipecat flow; this is a schema "
                                                 "(it has a 'name')")])
    schema = _validate_model(raw, positions)
    env = make_environment()
    functions = {**bundled_functions(), **schema.functions}
    if problems := check_schema(schema, positions, functions, env):
        raise SchemaError(problems)
    compiled = CompiledSchema(
        schema=schema,
        path=path,
        functions=functions,
        renderer=PromptRenderer(schema, env),
        classifier=IntentClassifier(schema.intents, nlu_mode()),
        lexicon=Lexicon(schema.pronunciations),
        positions=positions,
    )
    _check_examples_render(compiled)
    return compiled


def _validate_model(raw: Any, positions: Positions) -> Schema:
    if not isinstance(raw, dict):
        raise SchemaError([positions.problem((), "a schema must be a mapping of keys to values")])
    try:
        return Schema.model_validate(raw)
    except ValidationError as error:
        raise SchemaError([_pydantic_problem(e, positions) for e in error.errors()]) from error


def _pydantic_problem(error: Any, positions: Positions) -> Problem:
    path = tuple(part for part in error["loc"] if not is_union_tag(part))
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path)
        message = f"unknown field '{path[-1]}'{did_you_mean(str(path[-1]), allowed)}"
    elif kind == "missing":
        message = f"missing required field '{path[-1]}'"
    elif kind.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    return positions.problem(path, message)


_NESTED: dict[tuple[type[BaseModel], str | int], type[BaseModel]] = {
    (Schema, "data"): DataField, (Schema, "intents"): Intent, (Schema, "nodes"): Node,
    (Schema, "functions"): FunctionDecl, (DataField, "fields"): DataField,
    (FunctionDecl, "parameters"): Parameter,
}
_DIRECT: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (Schema, "global_functions"): FunctionEntry, (Node, "functions"): FunctionEntry,
    (Node, "task_messages"): Message, (Node, "attempts"): Attempts, (Node, "decide"): Branch,
    (Node, "pre_actions"): Action, (Node, "post_actions"): Action, (FunctionEntry, "transition_to"): Branch,
    (FunctionDecl, "verify"): Verify, (FunctionDecl, "escalate"): Handover,
    (FunctionDecl, "transfer"): Handover,
}


def _allowed_keys(path: PathKey) -> list[str]:
    """The keys allowed where `path` ends, found by walking the schema's models."""
    owner: type[BaseModel] = Schema
    index = 0
    while index < len(path) - 1:
        part = path[index]
        if (owner, part) in _NESTED:  # a mapping of named entries: skip the name
            owner, index = _NESTED[(owner, part)], index + 2
        elif isinstance(part, str) and (owner, part) in _DIRECT:
            owner, index = _DIRECT[(owner, part)], index + 1
            index += isinstance(path[index], int) if index < len(path) - 1 else 0
        else:
            break
    return list(owner.model_fields)


def _check_examples_render(compiled: CompiledSchema) -> None:
    """Validate the contract's examples, then render every template with them.

    This catches what static analysis cannot, such as `{{ m.nme }}` on a list record.
    """
    problems = _example_problems(compiled)
    if problems:
        raise SchemaError(problems)
    example = {name: f.example for name, f in compiled.schema.data.items()}
    record = compiled.validate_data(example)
    values = speakable_values(compiled.schema.data, record, compiled.lexicon)
    texts: dict[tuple[str, str], str] = {}
    for state, kind in compiled.renderer.template_keys():
        try:
            texts[(state, kind)] = compiled.renderer.render_template(state, kind, values, {})
        except Exception as error:
            path = ("role_message",) if state == "role" else _template_path(compiled, state, kind)
            problems.append(compiled.positions.problem(path, f"template fails with the contract's "
                                                             f"examples: {error}"))
    problems += _check_args_types(compiled, texts)
    if problems:
        raise SchemaError(problems)


def _example_problems(compiled: CompiledSchema) -> list[Problem]:
    """Every data field needs an example that meets its own contract."""
    problems = []
    for name, data_field in compiled.schema.data.items():
        path = ("data", name, "example")
        if data_field.example is None:
            problems.append(compiled.positions.problem(("data", name), "missing an 'example' value"))
            continue
        try:
            validate_data({name: data_field}, {name: data_field.example})
        except PatientDataError as error:
            messages = "; ".join(p.message for p in error.problems)
            message = f"example does not meet the contract: {messages}"
            problems.append(compiled.positions.problem(path, message))
    return problems


def _template_path(compiled: CompiledSchema, state: str, kind: str) -> PathKey:
    node = compiled.schema.nodes[state]
    if kind == "prompt":
        one = len(node.task_messages) == 1
        return ("nodes", state, "task_messages", 0, "content") if one else ("nodes", state, "task_messages")
    if kind == "role":
        return ("nodes", state, "role_message")
    if kind.startswith("args."):
        _, tool, arg = kind.split(".", 2)
        index = next(i for i, e in enumerate(node.functions) if e.tool == tool)
        return ("nodes", state, "functions", index, "args", arg)
    return ("nodes", state, "say" if kind == "reprompt" and node.reprompt is None else kind)


def _check_args_types(compiled: CompiledSchema, texts: dict[tuple[str, str], str]) -> list[Problem]:
    """Every `args` template, rendered with the contract's examples, is a value of its parameter's type."""
    problems = []
    for name in compiled.schema.nodes:
        for entry in compiled.entries_of(name):
            for arg in entry.template_args:
                assert entry.function is not None
                parameter = entry.function.parameters[arg]
                text = texts.get((name, args_key(entry.tool, arg)), "")
                if from_text(parameter, text) is None:
                    expected = " or ".join(parameter.values) if parameter.values else f"a {parameter.type}"
                    message = f"renders to {text!r} with the contract's examples; expected {expected}"
                    problems.append(compiled.positions.problem(_template_path(compiled, name,
                                                               args_key(entry.tool, arg)), message))
    return problems
