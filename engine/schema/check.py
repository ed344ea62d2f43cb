"""Cross-reference checks that pydantic cannot do alone.

Each check returns a list of located problems; the loader reports them all.
"""

from __future__ import annotations

import re
from collections import deque

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from rapidfuzz import process

from engine.errors import Problem
from engine.functions import FunctionsRegistry
from engine.schema.model import Schema
from engine.schema.yaml_loader import PathKey, Positions, dotted

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
TEMPLATE_GLOBALS = frozenset({"slots"})


def did_you_mean(word: str, choices: list[str]) -> str:
    match = process.extractOne(word, choices, score_cutoff=70) if choices else None
    return f" (did you mean '{match[0]}'?)" if match else ""


def template_fields(schema: Schema) -> list[tuple[PathKey, str]]:
    """Every template in the schema with its path."""
    found: list[tuple[PathKey, str]] = [(("role",), schema.role)]
    for name, state in schema.states.items():
        found.append((("states", name, "prompt"), state.prompt))
        found.append((("states", name, "say"), state.say))
        if state.reprompt is not None:
            found.append((("states", name, "reprompt"), state.reprompt))
    return found


def check_schema(
    schema: Schema, positions: Positions, registry: FunctionsRegistry, env: SandboxedEnvironment
) -> list[Problem]:
    return [
        *check_names(schema, positions),
        *check_initial_state(schema, positions),
        *check_references(schema, positions, registry),
        *check_templates(schema, positions, env),
        *check_graph(schema, positions),
    ]


def check_names(schema: Schema, positions: Positions) -> list[Problem]:
    problems = []
    for section in ("data", "intents", "states"):
        for key in getattr(schema, section):
            if not IDENTIFIER.match(key):
                problems.append(positions.problem((section, key), f"'{key}' is not a lower_snake_case name"))
    return problems


def check_initial_state(schema: Schema, positions: Positions) -> list[Problem]:
    if schema.initial_state in schema.states:
        return []
    hint = did_you_mean(schema.initial_state, list(schema.states))
    return [positions.problem(("initial_state",), f"unknown state '{schema.initial_state}'{hint}")]


def check_references(schema: Schema, positions: Positions, registry: FunctionsRegistry) -> list[Problem]:
    problems: list[Problem] = []
    states, intents, functions = list(schema.states), list(schema.intents), registry.names()
    for name, state in schema.states.items():
        for i, function in enumerate(state.functions):
            if function not in registry:
                message = f"unknown function '{function}'{did_you_mean(function, functions)}"
                problems.append(positions.problem(("states", name, "functions", i), message))
        seen_intents: set[str] = set()
        for i, transition in enumerate(state.transitions):
            path = ("states", name, "transitions", i)
            if transition.to not in schema.states:
                message = f"unknown state '{transition.to}'{did_you_mean(transition.to, states)}"
                problems.append(positions.problem((*path, "to"), message))
            if transition.intent not in schema.intents:
                message = f"unknown intent '{transition.intent}'{did_you_mean(transition.intent, intents)}"
                problems.append(positions.problem((*path, "intent"), message))
            elif transition.intent in seen_intents:
                message = f"intent '{transition.intent}' already has a transition in this state"
                problems.append(positions.problem((*path, "intent"), message))
            seen_intents.add(transition.intent)
            problems += check_call(transition.call, transition.args, path, positions, registry)
    return problems


def check_call(call: str | None, args: dict[str, bool | str], path: PathKey, positions: Positions,
               registry: FunctionsRegistry) -> list[Problem]:
    if call is None:
        if args:
            return [positions.problem((*path, "args"), "'args' needs a 'call' to pass them to")]
        return []
    if call not in registry:
        message = f"unknown function '{call}'{did_you_mean(call, registry.names())}"
        return [positions.problem((*path, "call"), message)]
    function = registry[call]
    problems = []
    for arg, value in args.items():
        parameter = function.parameter(arg)
        if parameter is None:
            hint = did_you_mean(arg, function.parameter_names)
            message = f"'{call}' has no parameter '{arg}'{hint}"
            problems.append(positions.problem((*path, "args", arg), message))
        elif not parameter.accepts(value):
            expected = " or ".join(parameter.choices) if parameter.choices else f"a {parameter.type}"
            problems.append(positions.problem((*path, "args", arg), f"expected {expected}"))
    return problems


def check_templates(schema: Schema, positions: Positions, env: SandboxedEnvironment) -> list[Problem]:
    problems: list[Problem] = []
    declared = set(schema.data) | TEMPLATE_GLOBALS
    for path, source in template_fields(schema):
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as error:
            problems.append(_template_problem(positions, path, error, env))
            continue
        for variable in sorted(meta.find_undeclared_variables(ast) - declared):
            hint = did_you_mean(variable, sorted(schema.data))
            message = f"template uses '{variable}', which the data contract does not declare{hint}"
            problems.append(positions.problem(path, message))
    return problems


def _template_problem(positions: Positions, path: PathKey, error: TemplateSyntaxError,
                      env: SandboxedEnvironment) -> Problem:
    line, column = positions.locate(path)
    lineno = error.lineno or 1
    if path in positions.block_scalars:
        # A folded (>) block joins lines; parse the block as written to find the original line.
        lineno = _syntax_error_line(env, positions.block_text(line)) or lineno
        line += 1
    offset = lineno - 1
    return Problem(positions.file, line + offset, column if offset == 0 else 1,
                   dotted(path), f"template syntax: {error.message}")


def _syntax_error_line(env: SandboxedEnvironment, source: str) -> int | None:
    try:
        env.parse(source)
    except TemplateSyntaxError as error:
        return error.lineno
    return None


def check_graph(schema: Schema, positions: Positions) -> list[Problem]:
    if schema.initial_state not in schema.states:
        return []
    problems: list[Problem] = []
    reachable = reachable_states(schema)
    for name, state in schema.states.items():
        if name not in reachable:
            problems.append(positions.problem(("states", name), f"state '{name}' is unreachable from "
                                                                f"'{schema.initial_state}'"))
        elif not state.end and not state.transitions:
            problems.append(positions.problem(("states", name), f"state '{name}' has no transitions "
                                                                "and is not an ending state (end: true)"))
    if not any(schema.states[name].end for name in reachable):
        problems.append(positions.problem(("initial_state",), "no ending state (end: true) is reachable "
                                                              f"from '{schema.initial_state}'"))
    return problems


def reachable_states(schema: Schema) -> set[str]:
    seen = {schema.initial_state}
    queue = deque([schema.initial_state])
    while queue:
        for transition in schema.states[queue.popleft()].transitions:
            if transition.to in schema.states and transition.to not in seen:
                seen.add(transition.to)
                queue.append(transition.to)
    return seen
