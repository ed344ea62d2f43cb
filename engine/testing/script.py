"""Schema test scripts: the YAML format, its loading, and its checks against the schema.

A script names one schema (or plain Pipecat flow) and holds cases. A case names a patient and plays
caller turns (`say`), function calls (`call`) and forced moves (`force`), each with an optional `expect`.
Every fault is reported at once as a located `Problem`, like schema faults.
See docs/schema-tests.md.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import PatientDataError, Problem, SchemaError, TestScriptError
from engine.files import RECORD_MAX_BYTES
from engine.patients import load_patient
from engine.schema.check import did_you_mean
from engine.schema.compiled import CompiledSchema, load_schema
from engine.schema.model import is_union_tag
from engine.schema.yaml_loader import PathKey, Positions, YamlLoadError, load_yaml
from engine.testing.functions import parameters_of, schema_functions, unknown_function
from engine.testing.locate import patient_candidates, schema_candidates

SCRIPT_SUFFIX = ".test.yaml"
STAGES = ("render", "transition", "turn", "classify")

StepAction = Literal["say", "force", "call", "check"]
Patient = tuple[str, dict[str, Any]]  # (patient id, record validated against the data contract)


# ----- the loaded script ------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionExpectation:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)  # a subset of the call's arguments
    result: dict[str, Any] = field(default_factory=dict)  # a subset of the call's result


@dataclass(frozen=True)
class Expectation:
    """What must hold after a step; `None` / empty means "not checked"."""

    state: str | None = None
    intent: str | None = None
    function: FunctionExpectation | None = None
    prompt_contains: tuple[str, ...] = ()
    say_contains: tuple[str, ...] = ()
    bot_says: tuple[str, ...] = ()
    bot_avoids: tuple[str, ...] = ()
    forced: bool | None = None
    ended: bool | None = None
    within_ms: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self == Expectation()


@dataclass(frozen=True)
class Step:
    action: StepAction
    text: str  # the caller's words, the forced state, the function called, or "" for a check
    expect: Expectation
    line: int
    arguments: dict[str, Any] = field(default_factory=dict)  # a `call`'s exact arguments
    result: dict[str, Any] | None = None  # a `call`'s result, for a function without a handler

    def describe(self) -> str:
        if self.action == "say":
            return f'say "{self.text}"'
        if self.action == "call":
            return f"call {self.text}({json.dumps(self.arguments, default=str)})"
        return f"force {self.text}" if self.action == "force" else "check"


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest test class

    name: str
    patient_id: str
    record: dict[str, Any]  # validated against the schema's data contract
    steps: tuple[Step, ...]
    line: int
    description: str = ""


@dataclass(frozen=True)
class TestScript:
    __test__ = False

    path: Path
    schema: CompiledSchema
    cases: tuple[TestCase, ...]
    description: str = ""

    @property
    def schema_name(self) -> str:
        return self.schema.name

    def case(self, name: str) -> TestCase:
        found = next((c for c in self.cases if c.name == name), None)
        if found is None:
            raise KeyError(f"no case '{name}' in {self.path}")
        return found


# ----- the YAML shape ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class _FunctionSpec(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = {}
    result: dict[str, Any] = {}


class _CallSpec(_Strict):
    function: str = Field(min_length=1)
    args: dict[str, Any] = {}
    result: dict[str, Any] | None = None


class _ExpectSpec(_Strict):
    state: str | None = None
    intent: str | None = None
    function: _FunctionSpec | None = None
    prompt_contains: list[str] = []
    say_contains: list[str] = []
    bot_says: list[str] = []
    bot_avoids: list[str] = []
    forced: StrictBool | None = None
    ended: StrictBool | None = None
    within_ms: dict[str, Annotated[float, Field(strict=True, gt=0)]] = {}

    @field_validator("function", mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("prompt_contains", "say_contains", "bot_says", "bot_avoids", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)


class _StepSpec(_Strict):
    say: str | None = Field(default=None, min_length=1)
    force: str | None = Field(default=None, min_length=1)
    call: _CallSpec | None = None
    expect: _ExpectSpec | None = None

    @field_validator("say")
    @classmethod
    def _words(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("'say' needs the caller's words")
        return value

    @model_validator(mode="after")
    def _one_action(self) -> _StepSpec:
        if self.say is not None and self.force is not None:
            raise ValueError("a step either says something or forces a state, not both")
        if self.call is not None and (self.say is not None or self.force is not None):
            raise ValueError("a step either calls a function or says something or forces a state, not two")
        if self.say is None and self.force is None and self.call is None and self.expect is None:
            raise ValueError("a step needs 'say', 'force', 'call' or 'expect'")
        return self


class _CaseSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    patient: str | None = Field(default=None, min_length=1)
    data: dict[str, Any] | None = None
    steps: list[Any] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_patient(self) -> _CaseSpec:
        if self.patient is not None and self.data is not None:
            raise ValueError("give either 'patient' (a file) or 'data' (inline), not both")
        return self


class _ScriptSpec(_Strict):
    schema_ref: str = Field(alias="schema", min_length=1)
    description: str = ""
    patient: str | None = Field(default=None, min_length=1)
    handlers: str | None = Field(default=None, min_length=1)  # a plain flow's, relative to the script
    state: str | None = Field(default=None, min_length=1)
    cases: list[Any] = Field(min_length=1)


_NESTED: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (_StepSpec, "expect"): _ExpectSpec,
    (_ExpectSpec, "function"): _FunctionSpec,
    (_StepSpec, "call"): _CallSpec,
}


# ----- loading ----------------------------------------------------------------------------------


def load_test_script(path: Path | str, schema: Path | str | CompiledSchema | None = None, *,
                     handlers: Path | None = None, state: Path | None = None,
                     announce: Callable[[Path], None] | None = None) -> TestScript:
    """Load a script and check it against its schema (or `schema`, overriding the script's own);
    `handlers` and `state` override a plain flow's own (`announce` is told before an import).

    Raises TestScriptError with every problem found, a broken schema's too (located in the schema file).
    """
    return _Loader(Path(path), handlers, state, announce).load(schema)


class _Loader:
    def __init__(self, path: Path, handlers: Path | None = None, state: Path | None = None,
                 announce: Callable[[Path], None] | None = None) -> None:
        self.path = path
        self.flow_files = (handlers, state)
        self.announce = announce
        self.problems: list[Problem] = []
        self.positions = Positions(str(path))
        self._patients: dict[Path, Patient | None] = {}

    def load(self, schema_override: Path | str | CompiledSchema | None) -> TestScript:
        try:
            raw, self.positions = load_yaml(self.path, max_bytes=RECORD_MAX_BYTES)
        except YamlLoadError as error:
            raise TestScriptError(error.problems) from error
        if not isinstance(raw, dict):
            self._report((), "a test script must be a mapping of keys to values")
            raise TestScriptError(self.problems)
        spec = self._validate(_ScriptSpec, raw, ())
        compiled = self._schema(spec, schema_override) if spec is not None else None
        cases = self._cases(spec, compiled) if spec is not None and compiled is not None else []
        if self.problems or spec is None or compiled is None:
            raise TestScriptError(self.problems)
        return TestScript(self.path, compiled, tuple(cases), spec.description)

    def _report(self, path: PathKey, message: str) -> None:
        self.problems.append(self.positions.problem(path, message))

    # ----- structure

    def _validate(self, model: type[BaseModel], raw: Any, base: PathKey) -> Any:
        """The model, or None after reporting its problems. When unknown keys are the only fault,
        they are reported and dropped, so that the rest is still checked."""
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            errors = error.errors()
            self.problems += [self._pydantic_problem(model, e, base) for e in errors]
            if not all(e["type"] == "extra_forbidden" for e in errors):
                return None
            try:
                return model.model_validate(_without(raw, [e["loc"] for e in errors]))
            except ValidationError:
                return None

    def _pydantic_problem(self, model: type[BaseModel], error: Any, base: PathKey) -> Problem:
        path = tuple(part for part in error["loc"] if not is_union_tag(part))
        kind, message = error["type"], error["msg"]
        if kind == "extra_forbidden":
            message = f"unknown field '{path[-1]}'{did_you_mean(str(path[-1]), _allowed_keys(model, path))}"
        elif kind == "missing":
            message = f"missing required field '{path[-1]}'"
        elif kind.startswith("value_error"):
            message = message.removeprefix("Value error, ")
        return self.positions.problem((*base, *path), message)

    # ----- the schema

    def _schema(self, spec: _ScriptSpec,
                override: Path | str | CompiledSchema | None) -> CompiledSchema | None:
        if isinstance(override, CompiledSchema):
            return override
        if override is not None:
            candidates = [Path(override)]
        else:
            candidates = schema_candidates(self.path, spec.schema_ref)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            tried = ", ".join(str(c) for c in candidates)
            self._report(("schema",), f"schema '{spec.schema_ref}' not found (looked for {tried})")
            return None
        try:
            handlers, state = self._flow_files(spec)
            return load_schema(found, handlers=handlers, state=state, announce=self.announce)
        except SchemaError as error:
            self.problems += error.problems
            return None

    def _flow_files(self, spec: _ScriptSpec) -> tuple[Path | None, dict[str, Any] | None]:
        """A plain flow's handlers module and initial state: as given, else the script's own."""
        handlers, state_file = self.flow_files
        handlers = handlers or (self.path.parent / spec.handlers if spec.handlers else None)
        state_file = state_file or (self.path.parent / spec.state if spec.state else None)
        if state_file is None:
            return handlers, None
        from engine.interop.handlers import load_state  # imports Pipecat Flows: only for a flow

        return handlers, load_state(state_file)

    # ----- cases

    def _cases(self, spec: _ScriptSpec, compiled: CompiledSchema) -> list[TestCase]:
        default_patient = self._patient_file(spec.patient, ("patient",), compiled) if spec.patient else None
        cases: list[TestCase] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(spec.cases):
            base = ("cases", index)
            case_spec = self._validate(_CaseSpec, raw, base)
            if case_spec is None:
                continue
            if case_spec.name in seen:
                line = self.positions.locate(("cases", seen[case_spec.name], "name"))[0]
                message = f"duplicate case name '{case_spec.name}' (first on line {line})"
                self._report((*base, "name"), message)
            seen.setdefault(case_spec.name, index)
            patient = self._case_patient(case_spec, base, compiled, default_patient, spec.patient is not None)
            steps = self._steps(case_spec, base, compiled)
            if patient is not None and steps is not None:
                patient_id, record = patient
                cases.append(TestCase(case_spec.name, patient_id, record, tuple(steps),
                                      self.positions.locate(base)[0], case_spec.description))
        return cases

    def _case_patient(self, spec: _CaseSpec, base: PathKey, compiled: CompiledSchema,
                      default: Patient | None, has_default: bool) -> Patient | None:
        if spec.data is not None:
            return self._inline_patient(spec, base, compiled)
        if spec.patient is not None:
            return self._patient_file(spec.patient, (*base, "patient"), compiled)
        if compiled.is_flow:
            return default or ("flow", {})  # a plain flow has no data contract
        if not has_default:
            self._report(base, "missing 'patient' (a patient file) or 'data' (an inline record); "
                               "or set 'patient' at the top")
        return default

    def _inline_patient(self, spec: _CaseSpec, base: PathKey, compiled: CompiledSchema) -> Patient | None:
        try:
            record = compiled.validate_data(spec.data, positions=self.positions, file=str(self.path),
                                            base_path=(*base, "data"))
        except PatientDataError as error:
            self.problems += error.problems
            return None
        return f"inline:{spec.name}", record

    def _patient_file(self, value: str, where: PathKey, compiled: CompiledSchema) -> Patient | None:
        candidates = patient_candidates(self.path, value)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            tried = ", ".join(str(c) for c in candidates)
            self._report(where, f"patient file '{value}' not found (looked for {tried})")
            return None
        if found not in self._patients:
            self._patients[found] = self._read_patient(found, where, compiled)
        return self._patients[found]

    def _read_patient(self, path: Path, where: PathKey, compiled: CompiledSchema) -> Patient | None:
        try:
            patient = load_patient(path)
            if patient.schema and patient.schema != compiled.name:
                self._report(where, f"patient file '{path.name}' is for schema '{patient.schema}', "
                                    f"not '{compiled.name}'")
                return None
            return patient.id, patient.validated(compiled)
        except PatientDataError as error:
            self.problems += error.problems
            return None

    # ----- steps

    def _steps(self, spec: _CaseSpec, base: PathKey, compiled: CompiledSchema) -> list[Step] | None:
        steps: list[Step] = []
        before = len(self.problems)
        for index, raw in enumerate(spec.steps):
            where = (*base, "steps", index)
            step_spec = self._validate(_StepSpec, raw, where)
            if step_spec is not None:
                steps.append(self._step(step_spec, where, compiled))
        return steps if len(self.problems) == before else None

    def _step(self, spec: _StepSpec, where: PathKey, compiled: CompiledSchema) -> Step:
        states = list(compiled.schema.nodes)
        if spec.force is not None:
            self._check_name(spec.force, states, (*where, "force"), "state")
        offered = sorted({e.tool for n in compiled.schema.nodes for e in compiled.entries_of(n)})
        if spec.call is not None:
            self._check_name(spec.call.function, offered, (*where, "call", "function"), "function")
        expect = Expectation()
        if spec.expect is not None:
            expect = self._expectation(spec.expect, (*where, "expect"), compiled)
        line = self.positions.locate(where)[0]
        if spec.call is not None:
            return Step("call", spec.call.function, expect, line, dict(spec.call.args), spec.call.result)
        action: StepAction = "say" if spec.say is not None else "force" if spec.force is not None else "check"
        text = spec.say if spec.say is not None else spec.force or ""
        return Step(action, " ".join(text.split()), expect, line)

    def _expectation(self, spec: _ExpectSpec, where: PathKey, compiled: CompiledSchema) -> Expectation:
        schema = compiled.schema
        if spec.state is not None:
            self._check_name(spec.state, list(schema.nodes), (*where, "state"), "state")
        if spec.intent is not None:
            self._check_name(spec.intent, list(schema.intents), (*where, "intent"), "intent")
        if spec.function is not None:
            self._check_function(spec.function, (*where, "function"), compiled)
        for stage in spec.within_ms:
            if stage not in STAGES:
                hint = did_you_mean(stage, list(STAGES))
                self._report((*where, "within_ms", stage),
                             f"unknown latency stage '{stage}'{hint} (stages: {', '.join(STAGES)})")
        function = None
        if spec.function is not None:
            function = FunctionExpectation(spec.function.name, dict(spec.function.arguments),
                                           dict(spec.function.result))
        return Expectation(
            state=spec.state, intent=spec.intent, function=function,
            prompt_contains=tuple(spec.prompt_contains), say_contains=tuple(spec.say_contains),
            bot_says=tuple(spec.bot_says), bot_avoids=tuple(spec.bot_avoids),
            forced=spec.forced, ended=spec.ended, within_ms=dict(spec.within_ms),
        )

    def _check_name(self, name: str, known: list[str], where: PathKey, kind: str) -> None:
        if name not in known:
            self._report(where, f"unknown {kind} '{name}'{did_you_mean(name, known)}")

    def _check_function(self, spec: _FunctionSpec, where: PathKey, compiled: CompiledSchema) -> None:
        callable_here = schema_functions(compiled)
        if spec.name not in callable_here:
            written_as_mapping = (*where, "name") in self.positions.marks
            at_name = (*where, "name") if written_as_mapping else where
            self._report(at_name, unknown_function(spec.name, compiled))
            return
        parameters = parameters_of(spec.name, compiled)
        for argument in spec.arguments:
            if argument not in parameters:
                hint = did_you_mean(argument, parameters)
                self._report((*where, "arguments", argument),
                             f"function '{spec.name}' has no parameter '{argument}'{hint} "
                             f"(parameters: {', '.join(parameters) or 'none'})")


# ----- helpers ----------------------------------------------------------------------------------


def _allowed_keys(model: type[BaseModel], path: PathKey) -> list[str]:
    """The keys allowed where `path` (relative to `model`) ends."""
    owner = model
    for part in path[:-1]:
        if isinstance(part, str):
            owner = _NESTED.get((owner, part), owner)
    return [info.alias or name for name, info in owner.model_fields.items()]


def _without(raw: Any, locations: list[PathKey]) -> Any:
    """A copy of `raw` with the keys at `locations` removed."""
    copied = copy.deepcopy(raw)
    for location in locations:
        parent = copied
        for part in location[:-1]:
            parent = parent[part]
        parent.pop(location[-1], None)
    return copied
