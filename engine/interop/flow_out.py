"""A compiled schema as a flow stock Pipecat runs: flow.yaml, handlers.py and a README.

`export_flow(compiled, out_dir)` writes `Flow(FlowConfig.from_file("flow.yaml"), handlers=handlers)`
material. What a FlowConfig cannot say itself goes into handlers.py (engine/interop/flow_handlers.py):
- prompts are Jinja over the record: plain `{{ field }}` placeholders stay, and every other part
  becomes a text block the handlers keep in the state (engine/interop/jinja_python.py);
- decision nodes have no Pipecat form: a tool whose move passes through one, or that a node's
  `attempts` can redirect, decides the node itself and flow.yaml branches on its `next_node`;
- a node with `attempts` offers a `not_understood` tool, for turns the bot could not understand;
- global functions are written into each node that offers them (never on ending nodes, as here).
A construct with no faithful form is a located `FlowExportError`, never a wrong flow.
"""

from __future__ import annotations

import importlib.util
import keyword
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from jinja2 import Environment
from pipecat.flows import Flow, FlowConfig

from engine.errors import FlowExportError, Problem
from engine.interop import flow_runtime as rt
from engine.interop.flow_handlers import NOT_UNDERSTOOD, RESERVED_NAMES, HandlersPlan, Tool, handlers_source
from engine.interop.jinja_python import STATE_KEYS, Block, Untranslatable, split_template, whole_block
from engine.schema.compiled import CompiledEntry, CompiledSchema
from engine.schema.model import Branch, DataField
from engine.schema.yaml_loader import PathKey

FLOW_FILE, HANDLERS_FILE, README_FILE = "flow.yaml", "handlers.py", "README.md"
NEXT_NODE = "next_node"


@dataclass(frozen=True)
class ExportedFlow:
    flow_yaml: str
    handlers_py: str
    readme: str

    def write(self, out_dir: Path) -> list[Path]:
        """Write the three files into `out_dir`; FlowExportError naming the path that cannot be written."""
        path = out_dir
        written = []
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for name, text in ((FLOW_FILE, self.flow_yaml), (HANDLERS_FILE, self.handlers_py),
                               (README_FILE, self.readme)):
                (path := out_dir / name).write_text(text, encoding="utf-8")
                written.append(path)
        except OSError as error:
            problem = Problem(str(path), 0, 0, "", f"cannot write: {error.strerror or error}")
            raise FlowExportError([problem]) from error
        return written


def export_flow(compiled: CompiledSchema, out_dir: Path) -> list[Path]:
    """Write the schema's flow.yaml, handlers.py and README.md into `out_dir`; FlowExportError if the
    schema has a construct with no faithful Pipecat form."""
    return build_export(compiled).write(out_dir)


def load_exported(folder: Path, module_name: str) -> tuple[Flow, ModuleType]:
    """An export as a Pipecat user loads it: `FlowConfig.from_file` and its handlers module, imported
    as `module_name` (the bench and the tests run exports this way)."""
    spec = importlib.util.spec_from_file_location(module_name, folder / HANDLERS_FILE)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(folder / HANDLERS_FILE)
    handlers = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = handlers  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(handlers)
    return Flow(FlowConfig.from_file(folder / FLOW_FILE), handlers=handlers), handlers


def build_export(compiled: CompiledSchema) -> ExportedFlow:
    exporter = _Exporter(compiled)
    flow = exporter.flow()
    if exporter.problems:
        raise FlowExportError(exporter.problems)
    plan = exporter.handlers_plan()
    header = (f"# The {compiled.name} flow, exported by voice-console from {compiled.path.name}.\n"
              f"# Its tools are the direct functions in {HANDLERS_FILE}; see {README_FILE}.\n")
    return ExportedFlow(header + _dump_yaml(flow), handlers_source(plan), _readme(compiled.name))


class _Exporter:
    def __init__(self, compiled: CompiledSchema) -> None:
        self.compiled = compiled
        self.schema = compiled.schema
        # parsed only, never rendered: the same whitespace rules as engine/prompts.py, without the
        # sandbox's rewriting of loops
        self.env = Environment(trim_blocks=True, lstrip_blocks=True)
        self.problems: list[Problem] = []
        self.blocks: list[Block] = []
        self.arg_keys: set[str] = set()
        self.calls: dict[tuple[str, str], rt.Call] = {}
        self.tools: dict[str, Tool] = {}
        self.decisions = {name: _branch(node.decide) for name, node in self.schema.nodes.items()
                          if node.decide is not None}
        self.attempts = {name: (node.attempts.max, node.attempts.then)
                         for name, node in self.schema.nodes.items() if node.attempts is not None}

    def problem(self, path: PathKey, message: str) -> None:
        self.problems.append(self.compiled.positions.problem(path, message))

    # ----- flow.yaml --------------------------------------------------------------------------

    def flow(self) -> dict[str, Any]:
        self._check_names()
        if self.schema.initial_node in self.decisions:
            self.problem(("initial_node",), "a decision node cannot start a Pipecat flow (it has no "
                                            "FlowConfig form); start at a node that speaks")
        nodes = {name: self._node(name) for name in self.schema.nodes if name not in self.decisions}
        self._check_block_names()
        return {"initial_node": self.schema.initial_node, "nodes": nodes}

    def _check_block_names(self) -> None:
        """A text block is a function and a state key in handlers.py: it must not shadow another name."""
        taken = set(self.schema.data) | set(self.tools) | RESERVED_NAMES
        for block in self.blocks:
            if block.key in taken:
                self.problem(("nodes",), f"the text block '{block.key}' would shadow a name of the same "
                                         "spelling in handlers.py; rename the node or that name")

    def _check_names(self) -> None:
        for name in self.schema.data:
            if name in STATE_KEYS:
                self.problem(("data", name), f"'{name}' is a state key the exported handlers keep; "
                                             "rename the field to export")

    def _node(self, name: str) -> dict[str, Any]:
        spec = self.schema.nodes[name]
        node: dict[str, Any] = {}
        role = spec.role_message or (self.schema.role_message if name == self.schema.initial_node else None)
        if role is not None:
            path: PathKey = ("nodes", name, "role_message") if spec.role_message else ("role_message",)
            key = f"{name}_role" if spec.role_message else "role"
            node["role_message"] = self._text(role, key, path)
        prompt = "\n\n".join(message.content for message in spec.task_messages)
        content = self._text(prompt, f"{name}_prompt", ("nodes", name, "task_messages"))
        node["task_messages"] = [{"role": spec.task_messages[0].role, "content": content}]
        functions = [self._function(name, entry, index) for index, entry in
                     enumerate(self.compiled.entries_of(name))]
        if name in self.attempts:
            functions.append(self._not_understood(name))
        if functions:
            node["functions"] = functions
        for key in ("pre_actions", "post_actions"):
            for index, action in enumerate(getattr(spec, key)):
                if action.handler is not None:
                    self.problem(("nodes", name, key, index, "handler"), f"the handler '{action.handler}' "
                                 "is Python the export cannot write into handlers.py")
            if actions := getattr(spec, key):
                node[key] = [action.model_dump(exclude_none=True) for action in actions]
        if spec.context_strategy is not None:
            node["context_strategy"] = spec.context_strategy
        if not spec.respond_immediately:
            node["respond_immediately"] = False
        return node

    def _text(self, source: str, key: str, path: PathKey) -> str:
        try:
            split = split_template(self.env, source, self.schema.data, key)
        except Untranslatable as error:
            self.problem(path, f"cannot export to Pipecat: {error} has no Python form here")
            return source
        self.blocks += split.blocks
        return split.text

    # ----- functions --------------------------------------------------------------------------

    def _function(self, node: str, entry: CompiledEntry, index: int) -> dict[str, Any]:
        if entry.tool in RESERVED_NAMES:  # transition-only ones too: Pipecat looks tools up by name
            self.problem(self._entry_path(node, index), f"'{entry.tool}' is a name the exported handlers.py "
                         f"uses itself (a node with attempts offers '{NOT_UNDERSTOOD}'); rename the function")
        routed = self._routed(node, entry)
        if entry.function is None and not routed:
            return {"name": entry.tool, "transition_only": True, "description": entry.description,
                    "transition_to": entry.transition_to}
        self._tool(node, entry, index)
        exported: dict[str, Any] = {"name": entry.tool}
        state_args = {arg: self._arg_block(node, entry, arg, index) for arg in entry.template_args}
        record_fields: tuple[str, ...] = ()
        if routed:
            finals = self._finals(node, entry)
            exported["transition_to"] = _next_node(finals)
        elif entry.transition_to is not None:
            exported["transition_to"] = _yaml_transition(entry.transition_to)
            if isinstance(entry.transition_to, Branch):
                record_fields = (entry.transition_to.field,)
        self.calls[(node, entry.tool)] = rt.Call(
            function=entry.name, intent=entry.intent, args=dict(entry.fixed_args), state_args=state_args,
            record_fields=record_fields, routed=routed,
            transition_to=_runtime_transition(entry.transition_to) if routed else None)
        return exported

    def _routed(self, node: str, entry: CompiledEntry) -> bool:
        """Whether the handler must pick the node: attempts can redirect it, or it passes a decision."""
        targets = entry.targets()
        can_fail = entry.function is not None and entry.function.verify is not None
        if node in self.attempts and (can_fail or node in targets):
            return True
        return any(target in self.decisions for target in targets)

    def _finals(self, node: str, entry: CompiledEntry) -> list[str]:
        reach = [*entry.targets(), *([self.attempts[node][1]] if node in self.attempts else [])]
        return self._through_decisions(reach)

    def _through_decisions(self, targets: list[str]) -> list[str]:
        finals: list[str] = []
        pending, seen = list(targets), set()
        while pending:
            target = pending.pop(0)
            if target in seen:
                continue
            seen.add(target)
            decide = self.schema.nodes[target].decide
            if decide is None:
                finals.append(target)
            else:
                pending += decide.targets()
        return finals

    def _not_understood(self, node: str) -> dict[str, Any]:
        self.tools.setdefault(NOT_UNDERSTOOD, Tool(
            NOT_UNDERSTOOD, "Call this when you could not understand the caller's answer to your question."))
        finals = self._through_decisions([self.attempts[node][1]])
        return {"name": NOT_UNDERSTOOD, "transition_to": _next_node(finals)}

    def _tool(self, node: str, entry: CompiledEntry, index: int) -> None:
        """The direct function for `entry.tool`; nodes that offer it must agree on its parameters."""
        parameters = {name: p for name, p in (entry.function.parameters if entry.function else {}).items()
                      if name in entry.properties}
        tool = self.tools.setdefault(entry.tool, Tool(entry.tool, entry.description))
        for name, parameter in parameters.items():
            known = tool.parameters.setdefault(name, parameter)
            if (known.type, known.values, known.of) != (parameter.type, parameter.values, parameter.of):
                self.problem(self._entry_path(node, index), f"the tool '{entry.tool}' takes '{name}' as "
                             f"another type in another node; Pipecat gives a tool one signature")
        if not entry.tool.isidentifier() or keyword.iskeyword(entry.tool) \
                or any(name == "flow_manager" or keyword.iskeyword(name) for name in parameters):
            self.problem(self._entry_path(node, index), f"'{entry.tool}' cannot be a Python function name")

    def _arg_block(self, node: str, entry: CompiledEntry, arg: str, index: int) -> str:
        key = f"{node}_{entry.tool}_{arg}"
        source = str(self._entry_spec(node, index).args[arg])
        try:
            self.blocks.append(whole_block(self.env, source, self.schema.data, key))
        except Untranslatable as error:
            self.problem((*self._entry_path(node, index), "args", arg),
                         f"cannot export to Pipecat: {error} has no Python form here")
        self.arg_keys.add(key)
        return key

    def _entry_path(self, node: str, index: int) -> PathKey:
        own = len(self.schema.nodes[node].functions)
        return ("nodes", node, "functions", index) if index < own else ("global_functions", index - own)

    def _entry_spec(self, node: str, index: int) -> Any:
        own = self.schema.nodes[node].functions
        return own[index] if index < len(own) else self.schema.global_functions[index - len(own)]

    # ----- handlers.py ------------------------------------------------------------------------

    def handlers_plan(self) -> HandlersPlan:
        used = {call.function for call in self.calls.values() if call.function is not None}
        return HandlersPlan(
            schema_name=self.compiled.name, source_file=self.compiled.path.name,
            contract={name: _field(spec) for name, spec in self.schema.data.items()},
            pronunciations=dict(self.schema.pronunciations),
            functions={name: self._runtime_function(name) for name in sorted(used)},
            calls=self.calls, decisions=self.decisions, attempts=self.attempts, blocks=self.blocks,
            arg_keys=self.arg_keys, tools=self.tools)

    def _runtime_function(self, name: str) -> rt.Function:
        declared = self.compiled.functions[name]
        parameters = {key: rt.Param(p.type.value, tuple(p.values or ()))
                      for key, p in declared.parameters.items()}
        verify = None
        if declared.verify is not None:
            kind = self.compiled.data_type(declared.verify.against)
            verify = (declared.verify.parameter, declared.verify.against, kind.value if kind else "string")
        escalate, transfer = declared.escalate, declared.transfer
        return rt.Function(declared.outcome, parameters, verify,
                           escalate=(escalate.reason, escalate.urgency) if escalate else None,
                           transfer=(transfer.reason, transfer.urgency) if transfer else None)


def _next_node(finals: list[str]) -> dict[str, Any]:
    """A branch on the `next_node` the handler picked; an empty one matches no case, so the node stays."""
    return {"field": NEXT_NODE, "cases": {name: name for name in finals}}


def _field(spec: DataField) -> rt.Field:
    nested = {name: _field(inner) for name, inner in (spec.fields or {}).items()}
    return rt.Field(spec.type.value, spec.required, tuple(spec.values or ()), spec.max_length,
                    spec.pronounce, spec.say_year, nested)


def _branch(branch: Branch) -> rt.Branch:
    return rt.Branch(branch.field, dict(branch.cases), branch.default)


def _runtime_transition(transition: str | Branch | None) -> str | rt.Branch | None:
    return _branch(transition) if isinstance(transition, Branch) else transition


def _yaml_transition(transition: str | Branch) -> str | dict[str, Any]:
    if isinstance(transition, str):
        return transition
    return transition.model_dump(exclude_none=True)


class _FlowDumper(yaml.SafeDumper):
    """Multi-line text as YAML literal blocks, so prompts read as written."""


def _text_representer(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_FlowDumper.add_representer(str, _text_representer)


def _dump_yaml(flow: dict[str, Any]) -> str:
    return yaml.dump(flow, Dumper=_FlowDumper, sort_keys=False, allow_unicode=True, width=100)


def _readme(name: str) -> str:
    return f"""# The {name} flow for stock Pipecat

Exported by `voice-console export-flow`. `{FLOW_FILE}` is a Pipecat `FlowConfig`; `{HANDLERS_FILE}`
holds its tools (typed direct functions), the data contract's checks and the text blocks its prompts
name. It needs only `pipecat-ai` (Pipecat Flows ships inside it).

```python
from pipecat.flows import Flow, FlowConfig, FlowManager
import handlers

flow = Flow(FlowConfig.from_file("{FLOW_FILE}"), handlers=handlers)
flow_manager = FlowManager(worker=worker, llm=llm, context_aggregator=context_aggregator)
flow_manager.state.update(handlers.initial_state(patient_record))  # RecordError if it breaks the contract
await flow_manager.initialize(flow.initial_node)
```

- `patient_record` holds the schema's data fields (dates as `YYYY-MM-DD`, times as `HH:MM`).
- The state holds each field's spoken form under its name, the checked record under `record`, what
  the tools recorded under `slots` and the attempts made under `attempts`.
- Tools that move through a decision node, or whose node caps its attempts, pick the next node
  themselves; `{FLOW_FILE}` branches on their `next_node`. A node with attempts also offers
  `{NOT_UNDERSTOOD}`, for the LLM to call when it could not understand the caller.
- The schema's scripted lines (`say`, `reprompt`) are this console's rehearsal responder; here the
  LLM speaks from the task messages.
"""
