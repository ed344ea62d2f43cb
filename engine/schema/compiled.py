"""Loading a schema once: parse, validate, cross-check, compile, cache."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.data.contract import validate_data
from engine.data.lexicon import Lexicon
from engine.data.precompute import speakable_values
from engine.errors import PatientDataError, Problem, SchemaError
from engine.functions import DEFAULT_REGISTRY, FunctionsRegistry
from engine.nlu import IntentClassifier, nlu_mode
from engine.prompts import PromptRenderer, make_environment
from engine.schema.check import check_schema, did_you_mean
from engine.schema.model import DataField, Intent, Schema, State, Transition
from engine.schema.yaml_loader import PathKey, Positions, YamlLoadError, load_yaml


@dataclass(eq=False)
class CompiledSchema:
    """A schema with everything calls share: renderer, classifier, lookup tables."""

    schema: Schema
    path: Path
    registry: FunctionsRegistry
    renderer: PromptRenderer
    classifier: IntentClassifier
    lexicon: Lexicon
    positions: Positions
    _intents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _targets: dict[tuple[str, str], Transition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, state in self.schema.states.items():
            self._intents[name] = tuple(t.intent for t in state.transitions)
            for transition in state.transitions:
                self._targets[(name, transition.intent)] = transition

    @property
    def name(self) -> str:
        return self.schema.name

    def intents_of(self, state: str) -> tuple[str, ...]:
        return self._intents[state]

    def target_of(self, state: str, intent: str) -> str:
        return self._targets[(state, intent)].to

    def transition_of(self, state: str, intent: str) -> Transition:
        return self._targets[(state, intent)]

    def edges(self) -> list[tuple[str, str, str]]:
        """Every transition as (source, intent, target)."""
        return [(s, t.intent, t.to) for s, state in self.schema.states.items() for t in state.transitions]

    def validate_data(self, record: Any, *, positions: Positions | None = None,
                      file: str = "<record>", base_path: PathKey = ("data",)) -> dict[str, Any]:
        return validate_data(self.schema.data, record, positions=positions, file=file, base_path=base_path)


_cache: dict[tuple[Path, int, str], CompiledSchema] = {}
_cache_lock = threading.Lock()


def load_schema(path: Path | str, registry: FunctionsRegistry = DEFAULT_REGISTRY) -> CompiledSchema:
    """Load and compile a schema; calls of the same unchanged file share one result."""
    resolved = Path(path).resolve()
    try:
        key = (resolved, resolved.stat().st_mtime_ns, nlu_mode())
    except OSError as error:
        raise SchemaError([Problem(str(path), 0, 0, "", f"cannot read file: {error.strerror}")]) from error
    with _cache_lock:
        if (cached := _cache.get(key)) is not None and cached.registry is registry:
            return cached
    compiled = compile_schema(Path(path), registry)
    with _cache_lock:
        _cache[key] = compiled
    return compiled


def compile_schema(path: Path, registry: FunctionsRegistry = DEFAULT_REGISTRY) -> CompiledSchema:
    try:
        raw, positions = load_yaml(path)
    except YamlLoadError as error:
        raise SchemaError(error.problems) from error
    schema = _validate_model(raw, positions)
    env = make_environment()
    if problems := check_schema(schema, positions, registry, env):
        raise SchemaError(problems)
    compiled = CompiledSchema(
        schema=schema,
        path=path,
        registry=registry,
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


def is_union_tag(part: Any) -> bool:
    """A part of a pydantic error location that names a validator or union member, not a key."""
    return isinstance(part, str) and ("[" in part or part in {"str", "bool", "int"})


def _allowed_keys(path: PathKey) -> list[str]:
    """The keys allowed where `path` ends, found by walking the schema's models."""
    owner: type[BaseModel] = Schema
    nested: dict[tuple[type[BaseModel], str | int], type[BaseModel]] = {
        (Schema, "data"): DataField, (Schema, "intents"): Intent, (Schema, "states"): State,
        (DataField, "fields"): DataField, (State, "transitions"): Transition}
    index = 0
    while index < len(path) - 1 and (owner, path[index]) in nested:
        owner = nested[(owner, path[index])]
        index += 2
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
    for state, kind in compiled.renderer.template_keys():
        try:
            compiled.renderer.render_template(state, kind, values, {})
        except Exception as error:
            path = ("role",) if state == "role" else ("states", state, _template_key(compiled, state, kind))
            problems.append(compiled.positions.problem(path, f"template fails with the contract's "
                                                             f"examples: {error}"))
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


def _template_key(compiled: CompiledSchema, state: str, kind: str) -> str:
    has_reprompt = compiled.schema.states[state].reprompt is not None
    return "say" if kind == "reprompt" and not has_reprompt else kind
