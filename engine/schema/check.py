"""Cross-reference checks that pydantic cannot do alone.

Each check returns a list of located problems; the loader reports them all.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from rapidfuzz import process

from engine.errors import Problem
from engine.functions.effects import accepts
from engine.schema.model import (
    Branch,
    DataField,
    FieldType,
    FunctionDecl,
    FunctionEntry,
    Node,
    ParamType,
    Schema,
    is_template,
)
from engine.schema.yaml_loader import PathKey, Positions, dotted

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
TEMPLATE_GLOBALS = frozenset({"slots"})
EFFECT_OUTPUTS = {"verify": "verified", "escalate": "escalated", "transfer": "transferred"}
_COMPATIBLE = {  # verify: parameter type -> the data field types it can be checked against
    ParamType.DATE: {FieldType.DATE}, ParamType.PHONE: {FieldType.PHONE},
    ParamType.NAME: {FieldType.NAME, FieldType.STRING},
    ParamType.STRING: {FieldType.STRING, FieldType.NAME, FieldType.ENUM},
    ParamType.INTEGER: {FieldType.INTEGER, FieldType.NUMBER},
    ParamType.NUMBER: {FieldType.INTEGER, FieldType.NUMBER}, ParamType.ENUM: {FieldType.ENUM},
}


def did_you_mean(word: str, choices: list[str]) -> str:
    match = process.extractOne(word, choices, score_cutoff=70) if choices else None
    return f" (did you mean '{match[0]}'?)" if match else ""


def node_entries(schema: Schema, name: str) -> Iterator[tuple[PathKey, FunctionEntry]]:
    """A node's function entries with their paths, then the global ones (not on ending nodes)."""
    node = schema.nodes[name]
    for i, entry in enumerate(node.functions):
        yield ("nodes", name, "functions", i), entry
    if not node.ending and node.decide is None:
        for i, entry in enumerate(schema.global_functions):
            yield ("global_functions", i), entry


def template_fields(schema: Schema) -> list[tuple[PathKey, str]]:
    """Every speech and prompt template in the schema with its path."""
    found: list[tuple[PathKey, str]] = [(("role_message",), schema.role_message)]
    for name, node in schema.nodes.items():
        if node.role_message is not None:
            found.append((("nodes", name, "role_message"), node.role_message))
        for i, message in enumerate(node.task_messages):
            found.append((("nodes", name, "task_messages", i, "content"), message.content))
        for key in ("say", "reprompt"):
            if (text := getattr(node, key)) is not None:
                found.append((("nodes", name, key), text))
    return found


def check_schema(schema: Schema, positions: Positions, functions: Mapping[str, FunctionDecl],
                 env: SandboxedEnvironment) -> list[Problem]:
    return [
        *check_names(schema, positions),
        *check_initial_node(schema, positions),
        *check_declarations(schema, positions),
        *check_nodes(schema, positions, functions, env),
        *check_templates(schema, positions, env),
        *check_graph(schema, positions),
    ]


def check_names(schema: Schema, positions: Positions) -> list[Problem]:
    problems = []
    for section in ("data", "intents", "nodes", "functions"):
        for key in getattr(schema, section):
            if not IDENTIFIER.match(key):
                problems.append(positions.problem((section, key), f"'{key}' is not a lower_snake_case name"))
    return problems


def check_initial_node(schema: Schema, positions: Positions) -> list[Problem]:
    if schema.initial_node in schema.nodes:
        return []
    hint = did_you_mean(schema.initial_node, list(schema.nodes))
    return [positions.problem(("initial_node",), f"unknown node '{schema.initial_node}'{hint}")]


# ----- declared functions -----------------------------------------------------------------------


def check_declarations(schema: Schema, positions: Positions) -> list[Problem]:
    problems: list[Problem] = []
    for name, function in schema.functions.items():
        base: PathKey = ("functions", name)
        for parameter_name, parameter in function.parameters.items():
            if parameter.of is not None:
                field = schema.data.get(parameter.of)
                if field is None or field.type is not FieldType.LIST:
                    message = f"'{parameter.of}' is not a list field of the data contract"
                    problems.append(positions.problem((*base, "parameters", parameter_name, "of"), message))
        if function.verify is not None:
            problems += _check_verify(schema, function, (*base, "verify"), positions)
    return problems


def _check_verify(schema: Schema, function: FunctionDecl, base: PathKey,
                  positions: Positions) -> list[Problem]:
    verify = function.verify
    assert verify is not None
    parameter = function.parameters.get(verify.parameter)
    if parameter is None:
        hint = did_you_mean(verify.parameter, list(function.parameters))
        return [positions.problem((*base, "parameter"), f"no parameter '{verify.parameter}'{hint}")]
    field = schema.data.get(verify.against)
    if field is None:
        hint = did_you_mean(verify.against, list(schema.data))
        return [positions.problem((*base, "against"), f"'{verify.against}' is not a data field{hint}")]
    if field.type not in _COMPATIBLE.get(parameter.type, set()):
        message = (f"a {parameter.type} parameter cannot be verified against '{verify.against}', "
                   f"a {field.type} field")
        return [positions.problem((*base, "against"), message)]
    return []


# ----- nodes ------------------------------------------------------------------------------------


def check_nodes(schema: Schema, positions: Positions, functions: Mapping[str, FunctionDecl],
                env: SandboxedEnvironment) -> list[Problem]:
    problems: list[Problem] = []
    for name, node in schema.nodes.items():
        tools: set[str] = set()
        for path, entry in node_entries(schema, name):
            if path[0] == "nodes":
                problems += _check_entry(schema, entry, path, positions, functions, env)
            if entry.tool in tools:
                problems.append(positions.problem((*path, "intent" if entry.intent else "name"),
                                                  f"'{entry.tool}' is already a function of this node"))
            tools.add(entry.tool)
        problems += _check_node_links(schema, name, node, positions)
    for i, entry in enumerate(schema.global_functions):
        problems += _check_entry(schema, entry, ("global_functions", i), positions, functions, env)
    return problems


def _check_node_links(schema: Schema, name: str, node: Node, positions: Positions) -> list[Problem]:
    problems: list[Problem] = []
    base: PathKey = ("nodes", name)
    if node.attempts is not None:
        problems += _check_target(schema, node.attempts.then, (*base, "attempts", "then"), positions)
    if node.decide is not None:
        field = schema.data.get(node.decide.field)
        if field is None:
            hint = did_you_mean(node.decide.field, list(schema.data))
            message = f"a decision branches on a data field; '{node.decide.field}' is not one{hint}"
            problems.append(positions.problem((*base, "decide", "field"), message))
        else:
            problems += _check_branch(schema, node.decide, _data_values(field), (*base, "decide"), positions)
    return problems


def _check_entry(schema: Schema, entry: FunctionEntry, path: PathKey, positions: Positions,
                 functions: Mapping[str, FunctionDecl], env: SandboxedEnvironment) -> list[Problem]:
    problems: list[Problem] = []
    if entry.intent is not None and entry.intent not in schema.intents:
        hint = did_you_mean(entry.intent, list(schema.intents))
        problems.append(positions.problem((*path, "intent"), f"unknown intent '{entry.intent}'{hint}"))
    function = None
    if not entry.only_transitions and entry.name is not None:
        function = functions.get(entry.name)
        if function is None:
            hint = did_you_mean(entry.name, sorted(functions))
            problems.append(positions.problem((*path, "name"), f"unknown function '{entry.name}'{hint}"))
    elif entry.description is None and entry.intent is None:
        message = "a transition-only entry needs a 'description' or an 'intent'"
        problems.append(positions.problem(path, message))
    if isinstance(entry.transition_to, str):
        problems += _check_target(schema, entry.transition_to, (*path, "transition_to"), positions)
    elif isinstance(entry.transition_to, Branch) and (function is not None or entry.only_transitions):
        problems += _check_result_branch(schema, entry, function, path, positions)
    if function is not None:
        problems += _check_args(schema, entry, function, path, positions, env)
    return problems


def _check_target(schema: Schema, target: str, path: PathKey, positions: Positions) -> list[Problem]:
    if target in schema.nodes:
        return []
    return [positions.problem(path, f"unknown node '{target}'{did_you_mean(target, list(schema.nodes))}")]


def _check_result_branch(schema: Schema, entry: FunctionEntry, function: FunctionDecl | None,
                         path: PathKey, positions: Positions) -> list[Problem]:
    branch = entry.transition_to
    assert isinstance(branch, Branch)
    base = (*path, "transition_to")
    values: list[str] | None
    if branch.field in schema.data:
        values = _data_values(schema.data[branch.field])
    elif function is not None and branch.field in _result_fields(function):
        values = _result_values(function, branch.field)
    else:
        known = sorted(_result_fields(function) if function else set()) + sorted(schema.data)
        hint = did_you_mean(branch.field, known)
        message = f"'{branch.field}' is neither in the result of '{entry.name}' nor a data field{hint}"
        return [positions.problem((*base, "field"), message)]
    return _check_branch(schema, branch, values, base, positions)


def _result_fields(function: FunctionDecl) -> set[str]:
    fields = {"status", "function", *function.parameters}
    fields |= {output for effect, output in EFFECT_OUTPUTS.items() if getattr(function, effect) is not None}
    return fields


def _result_values(function: FunctionDecl, field: str) -> list[str] | None:
    if field in EFFECT_OUTPUTS.values():
        return ["true", "false"]
    parameter = function.parameters.get(field)
    if parameter is None or parameter.type not in (ParamType.ENUM, ParamType.BOOLEAN):
        return None
    return list(parameter.values or []) if parameter.type is ParamType.ENUM else ["true", "false"]


def _data_values(field: DataField) -> list[str] | None:
    """The values a branch on a data field must cover; an optional field may be missing: None."""
    return _field_values(field.type, field.values) if field.required else None


def _field_values(kind: FieldType, values: list[str] | None) -> list[str] | None:
    """The values a branch must cover, when the type has few: an enum's, or true/false."""
    if kind is FieldType.ENUM:
        return list(values or [])
    return ["true", "false"] if kind is FieldType.BOOLEAN else None


def _check_branch(schema: Schema, branch: Branch, values: list[str] | None, base: PathKey,
                  positions: Positions) -> list[Problem]:
    problems: list[Problem] = []
    for case, target in branch.cases.items():
        if values is not None and case not in values:
            message = f"case '{case}' is not a value of '{branch.field}' (values: {', '.join(values)})"
            problems.append(positions.problem((*base, "cases", case), message))
        problems += _check_target(schema, target, (*base, "cases", case), positions)
    if branch.default is not None:
        problems += _check_target(schema, branch.default, (*base, "default"), positions)
    elif values is None:
        problems.append(positions.problem(base, f"a branch on '{branch.field}' needs a 'default': "
                                                "its values cannot all be listed"))
    elif missing := [v for v in values if v not in branch.cases]:
        problems.append(positions.problem((*base, "cases"), f"no case for {', '.join(missing)} of "
                                                            f"'{branch.field}', and no 'default'"))
    return problems


def _check_args(schema: Schema, entry: FunctionEntry, function: FunctionDecl, path: PathKey,
                positions: Positions, env: SandboxedEnvironment) -> list[Problem]:
    problems: list[Problem] = []
    for arg, value in entry.args.items():
        where = (*path, "args", arg)
        parameter = function.parameters.get(arg)
        if parameter is None:
            hint = did_you_mean(arg, list(function.parameters))
            problems.append(positions.problem(where, f"'{entry.name}' has no parameter '{arg}'{hint}"))
        elif is_template(value):
            problems += _check_template(schema, where, str(value), positions, env, allowed=set(schema.data))
        elif not accepts(parameter, value):
            expected = " or ".join(parameter.values) if parameter.values else f"a {parameter.type}"
            problems.append(positions.problem(where, f"expected {expected}"))
    return problems


# ----- templates --------------------------------------------------------------------------------


def check_templates(schema: Schema, positions: Positions, env: SandboxedEnvironment) -> list[Problem]:
    problems: list[Problem] = []
    declared = set(schema.data) | TEMPLATE_GLOBALS
    for path, source in template_fields(schema):
        problems += _check_template(schema, path, source, positions, env, declared)
    return problems


def _check_template(schema: Schema, path: PathKey, source: str, positions: Positions,
                    env: SandboxedEnvironment, allowed: set[str]) -> list[Problem]:
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as error:
        return [_template_problem(positions, path, error, env)]
    problems = []
    for variable in sorted(meta.find_undeclared_variables(ast) - allowed):
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


# ----- the graph --------------------------------------------------------------------------------


def node_targets(schema: Schema, name: str) -> list[str]:
    """Every node `name` can move to: its functions' targets, its decision, its attempts' `then`."""
    node = schema.nodes[name]
    targets = [t for _, entry in node_entries(schema, name) for t in entry.targets()]
    if node.decide is not None:
        targets += node.decide.targets()
    if node.attempts is not None:
        targets.append(node.attempts.then)
    return [t for t in dict.fromkeys(targets) if t in schema.nodes]


def check_graph(schema: Schema, positions: Positions) -> list[Problem]:
    if schema.initial_node not in schema.nodes:
        return []
    problems: list[Problem] = []
    reachable = reachable_nodes(schema)
    for name, node in schema.nodes.items():
        if name not in reachable:
            problems.append(positions.problem(("nodes", name), f"node '{name}' is unreachable from "
                                                               f"'{schema.initial_node}'"))
        elif not node.ending and not node_targets(schema, name):
            problems.append(positions.problem(("nodes", name), f"node '{name}' leads nowhere and is not "
                                                               "an ending node (post_actions: "
                                                               "end_conversation)"))
    if not any(schema.nodes[name].ending for name in reachable):
        message = f"no ending node (post_actions: end_conversation) is reachable from '{schema.initial_node}'"
        problems.append(positions.problem(("initial_node",), message))
    return problems


def reachable_nodes(schema: Schema) -> set[str]:
    seen = {schema.initial_node}
    queue = deque([schema.initial_node])
    while queue:
        for target in node_targets(schema, queue.popleft()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen
