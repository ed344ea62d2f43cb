"""The text of an exported handlers.py: header, runtime, the schema's tables, text blocks and tools.

Values are written as Python source by `source()`, which leaves out a dataclass's default fields
and breaks lines that would pass the project's 110 columns.
"""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.interop import flow_runtime
from engine.interop.jinja_python import Block
from engine.schema.model import Parameter, ParamType

_WIDTH = 100
_PY_TYPES = {ParamType.BOOLEAN: "bool", ParamType.INTEGER: "int", ParamType.NUMBER: "float"}
_FORMS = {ParamType.DATE: "a date, as YYYY-MM-DD", ParamType.TIME: "a time, as HH:MM (24-hour)",
          ParamType.PHONE: "a phone number", ParamType.BOOLEAN: "true or false"}
NOT_UNDERSTOOD = "not_understood"


@dataclass
class Tool:
    """One direct function of handlers.py: the tool the LLM sees, in every node that offers it."""

    name: str
    description: str
    parameters: dict[str, Parameter] = field(default_factory=dict)


@dataclass
class HandlersPlan:
    schema_name: str
    source_file: str
    contract: dict[str, flow_runtime.Field]
    pronunciations: dict[str, str]
    functions: dict[str, flow_runtime.Function]
    calls: dict[tuple[str, str], flow_runtime.Call]
    decisions: dict[str, flow_runtime.Branch]
    attempts: dict[str, tuple[int, str]]
    blocks: list[Block]
    arg_keys: set[str]  # blocks that are function arguments: their text is stripped
    tools: dict[str, Tool]


def handlers_source(plan: HandlersPlan) -> str:
    sections = [
        _header(plan), runtime_source(),
        "# ----- this schema " + "-" * 80,
        _assign("CONTRACT: dict[str, Field]", plan.contract),
        _assign("PRONUNCIATIONS: dict[str, str]", plan.pronunciations),
        _assign("FUNCTIONS: dict[str, Function]", plan.functions),
        "# Which function each tool runs in each node (node, tool), and the arguments the schema binds.\n"
        + _assign("CALLS: dict[tuple[str, str], Call]", plan.calls),
        "# Decision nodes: each picks the next node from a record field, with no caller turn.\n"
        + _assign("DECISIONS: dict[str, Branch]", plan.decisions),
        "# Nodes that cap their attempts (failed checks, not-understood turns): (max, node to move to).\n"
        + _assign("ATTEMPTS: dict[str, tuple[int, str]]", plan.attempts),
        *(_block_function(block) for block in plan.blocks),
        _render_blocks(plan),
        "TABLES = Tables(FUNCTIONS, CALLS, DECISIONS, ATTEMPTS, render_blocks)",
        _initial_state(),
        *(_tool_function(tool, plan) for tool in plan.tools.values()),
    ]
    return "\n\n\n".join(section.rstrip("\n") for section in sections) + "\n"


def runtime_source() -> str:
    """engine/interop/flow_runtime.py without its module docstring."""
    text = Path(flow_runtime.__file__).read_text(encoding="utf-8")
    docstring = ast.parse(text).body[0]
    lines = text.splitlines()
    return "\n".join(lines[docstring.end_lineno or 0:]).strip("\n")


def _header(plan: HandlersPlan) -> str:
    return (f'"""Handlers for the {plan.schema_name} flow (flow.yaml).\n\n'
            f"Exported by voice-console from {plan.source_file}. Run it on stock Pipecat:\n\n"
            "    flow = Flow(FlowConfig.from_file(\"flow.yaml\"), handlers=handlers)\n"
            "    flow_manager = FlowManager(worker=worker, llm=llm, context_aggregator=aggregator)\n"
            "    flow_manager.state.update(handlers.initial_state(patient_record))\n"
            "    await flow_manager.initialize(flow.initial_node)\n\n"
            "`initial_state` checks the record against the data contract and puts each field's spoken\n"
            "form in the state, with the text blocks the prompts name. Each tool records its arguments\n"
            "in `state[\"slots\"]`, runs its effect (verify, escalate, transfer) and returns the result\n"
            "flow.yaml branches on. Edit the tables below to change what the tools do.\n"
            '"""')


def _assign(target: str, value: Any) -> str:
    return f"{target} = {source(value, 0, len(target) + 3)}"


def source(value: Any, indent: int, used: int = 0) -> str:
    """`value` as Python source, on one line when it fits after `used` columns, else one item a line."""
    flat = _flat(value)
    expandable = isinstance(value, dict | tuple | list) or dataclasses.is_dataclass(value)
    if used + len(flat) + 1 <= _WIDTH or not expandable:
        return flat
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict):
        items = [_item(inner, f"{_flat(k)}: ", v, indent) for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, tuple | list):
        items = [_item(inner, "", v, indent) for v in value]
        opening, closing = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        return opening + "\n" + "\n".join(items) + f"\n{pad}{closing}"
    items = [_item(inner, f"{name}=", v, indent) for name, v in _fields(value)]
    return f"{type(value).__name__}(\n" + "\n".join(items) + f"\n{pad})"


def _item(inner: str, lead: str, value: Any, indent: int) -> str:
    return f"{inner}{lead}{source(value, indent + 4, len(inner) + len(lead))},"


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inside = ", ".join(_flat(v) for v in value)
        return f"({inside},)" if len(value) == 1 else f"({inside})"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"{type(value).__name__}(" + ", ".join(f"{k}={_flat(v)}" for k, v in _fields(value)) + ")"
    return repr(value)


def _fields(value: Any) -> list[tuple[str, Any]]:
    """A dataclass's fields that differ from their defaults."""
    found = []
    for spec in dataclasses.fields(value):
        current = getattr(value, spec.name)
        if spec.default is not dataclasses.MISSING and current == spec.default:
            continue
        if spec.default_factory is not dataclasses.MISSING and current == spec.default_factory():
            continue
        found.append((spec.name, current))
    return found


def _block_function(block: Block) -> str:
    lines = [f"def {block.key}(state: dict[str, Any]) -> str:",
             '    """A part of a prompt the schema writes with Jinja (if, for, expressions)."""',
             "    parts: list[str] = []", *block.body, '    return "".join(parts)']
    return "\n".join(lines)


def _render_blocks(plan: HandlersPlan) -> str:
    lines = ["def render_blocks(state: dict[str, Any]) -> None:",
             '    """Put every text block the prompts name into the state; again after each tool call,',
             '    as blocks may read `state["slots"]`."""']
    for block in plan.blocks:
        strip = ".strip()" if block.key in plan.arg_keys else ""
        lines.append(f'    state["{block.key}"] = {block.key}(state){strip}')
    if not plan.blocks:
        lines.append("    return")
    return "\n".join(lines)


def _initial_state() -> str:
    return '''def initial_state(record: Mapping[str, Any]) -> dict[str, Any]:
    """The flow's state for one patient record: RecordError if it breaks the data contract.

    Each field's spoken form is under its own name (what `{{ field }}` in flow.yaml inserts); the
    checked record, the slots the tools fill and the attempts made are under "record", "slots" and
    "attempts".
    """
    checked = check_record(record, CONTRACT)
    state: dict[str, Any] = {"record": checked, "slots": {}, "attempts": {}}
    state.update(speak_record(CONTRACT, checked, PRONUNCIATIONS))
    render_blocks(state)
    return state'''


def _tool_function(tool: Tool, plan: HandlersPlan) -> str:
    params = [f"{name}: {_PY_TYPES.get(p.type, 'str')} | None = None" for name, p in tool.parameters.items()]
    signature = f"async def {tool.name}(flow_manager: FlowManager, {', '.join(params)}".rstrip(", ")
    returns = ") -> tuple[dict[str, Any], Any]:"
    if len(signature + returns) > _WIDTH:
        signature = "\n        ".join([f"async def {tool.name}(", "flow_manager: FlowManager,",
                                       *(f"{p}," for p in params)]) + "\n"
    docstring = _docstring(tool, plan)
    if tool.name == NOT_UNDERSTOOD:
        body = "    return count_not_understood(flow_manager, TABLES)"
    else:
        arguments = "{" + ", ".join(f'"{name}": {name}' for name in tool.parameters) + "}"
        body = f'    return run_tool(flow_manager, "{tool.name}", {arguments}, TABLES)'
    return f"{signature}{returns}\n{docstring}\n{body}"


def _docstring(tool: Tool, plan: HandlersPlan) -> str:
    lines = [f'    """{_wrapped(tool.description, 4)}']
    if tool.parameters:
        lines += ["", "    Args:"]
        for name, parameter in tool.parameters.items():
            lines.append(f"        {name}: {_wrapped(_describe(parameter, plan), 12)}")
    lines.append('    """')
    return "\n".join(lines)


def _describe(parameter: Parameter, plan: HandlersPlan) -> str:
    text = (parameter.description or parameter.type.value).rstrip(".")
    if parameter.type is ParamType.ENUM:
        return f"{text}: one of {', '.join(parameter.values or [])}."
    if parameter.type is ParamType.ITEM:
        return f"{text}: the name of one of the patient's {parameter.of}."
    form = _FORMS.get(parameter.type)
    return f"{text} ({form})." if form else f"{text}."


def _wrapped(text: str, indent: int) -> str:
    clean = " ".join(text.replace('"""', "'''").replace("\\", "/").split())
    return ("\n" + " " * indent).join(textwrap.wrap(clean, _WIDTH - indent)) or "-"


def _top_level_names() -> frozenset[str]:
    tree = ast.parse(Path(flow_runtime.__file__).read_text(encoding="utf-8"))
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    names |= {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
              if isinstance(t, ast.Name)}
    imports = (node for node in tree.body if isinstance(node, ast.ImportFrom | ast.Import))
    imported = {alias.asname or alias.name for node in imports for alias in node.names}
    generated = {"CONTRACT", "PRONUNCIATIONS", "FUNCTIONS", "CALLS", "DECISIONS", "ATTEMPTS", "TABLES",
                 "render_blocks", "initial_state", "flow_manager", "state", NOT_UNDERSTOOD}
    return frozenset(names | imported | generated)


RESERVED_NAMES = _top_level_names()  # a tool named one of these would shadow handlers.py's own code
