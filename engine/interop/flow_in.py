"""Plain Pipecat flows in: a FlowConfig file (YAML or JSON) opened as a schema.

Pipecat's own `FlowConfig` validates it, and `Flow(config, handlers=module)` checks its references
to code when a handlers module is named. Their errors become located `Problem`s. The flow maps
onto our model as a schema with an empty data contract, no intents and no scripted lines; its
`{{ key }}` placeholders are left for FlowManager to fill from `flow_manager.state`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipecat.flows import Flow, FlowConfig, FlowReferenceError
from pipecat.flows.types import FlowsDirectFunctionWrapper
from pydantic import ValidationError

from engine.errors import Problem, SchemaError
from engine.interop.handlers import Announce, FlowParts, import_handlers
from engine.schema.model import FlowSchema, is_union_tag
from engine.schema.yaml_loader import PathKey, Positions

PLACEHOLDER = re.compile(r"(\\?)\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
_WHERE_FUNCTION = re.compile(r"^(?:node '(?P<node>[^']+)'|global_functions) function '(?P<function>[^']+)'")


def load_flow(path: Path, raw: dict[str, Any], positions: Positions, *, handlers: Path | None = None,
              state: Mapping[str, Any] | None = None,
              announce: Announce | None = None) -> tuple[FlowSchema, FlowParts]:
    """Validate a plain flow with Pipecat's loader and join its handlers: the flow as our schema model,
    and what it brings beside its nodes (compiled by engine.schema.compiled.load_schema)."""
    config = _validated_config(raw, positions)
    parts = FlowParts(initial_state=dict(state or {}))
    if handlers is not None:
        parts = _joined(config, raw, positions, handlers, announce, parts.initial_state)
    schema = FlowSchema.model_validate(_as_schema(path, raw))
    if problems := placeholder_problems(schema_raw=raw, positions=positions, parts=parts,
                                        initial=config.initial_node):
        raise SchemaError(problems)
    return schema, parts


def _validated_config(raw: dict[str, Any], positions: Positions) -> FlowConfig:
    try:
        return FlowConfig.model_validate(raw)
    except ValidationError as error:
        raise SchemaError([_config_problem(e, raw, positions) for e in error.errors()]) from error


def _config_problem(error: Any, raw: dict[str, Any], positions: Positions) -> Problem:
    path = _real_path(raw, error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown field '{error['loc'][-1]}' (Pipecat's FlowConfig does not take it)"
    elif error["type"] == "missing":
        message = f"missing required field '{error['loc'][-1]}'"
    return positions.problem(path or _path_named_in(message, raw), message)


def _real_path(raw: Any, loc: tuple[Any, ...]) -> PathKey:
    """The part of a pydantic location that exists in the document (union tags left out)."""
    path: list[str | int] = []
    current = raw
    for part in loc:
        if is_union_tag(part) or (isinstance(part, str) and part.startswith("FlowConfig.")):
            continue
        present = part in current if isinstance(current, dict) else (
            isinstance(current, list) and isinstance(part, int) and part < len(current))
        if present:
            current = current[part]
        else:
            path.append(part)
            break
        path.append(part)
    return tuple(path)


def _path_named_in(message: str, raw: dict[str, Any]) -> PathKey:
    """Where a whole-config check's message points: `node 'a' function 'b' ...`, `initial_node ...`."""
    if message.startswith("initial_node"):
        return ("initial_node",)
    found = _WHERE_FUNCTION.match(message)
    if found is None:
        return ()
    node = found.group("node")
    owner = ("nodes", node, "functions") if node else ("global_functions",)
    entries = raw.get("nodes", {}).get(node, {}).get("functions", []) if node else raw.get("global_functions")
    index = _index_of(entries, found.group("function"))
    return owner + ((index, "transition_to") if "transitions to" in message else (index,)) if index >= 0 \
        else owner


def _index_of(entries: Any, name: str) -> int:
    if not isinstance(entries, list):
        return -1
    return next((i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("name") == name), -1)


def _joined(config: FlowConfig, raw: dict[str, Any], positions: Positions, handlers: Path,
            announce: Announce | None, state: dict[str, Any]) -> FlowParts:
    """Import the handlers module and join it with Pipecat's `Flow`, which checks every reference."""
    module = import_handlers(handlers, announce)
    try:
        Flow(config, handlers=module)
    except FlowReferenceError as error:
        raise SchemaError([positions.problem(_problem_path(p.node, p.function, p.message, raw), p.message)
                           for p in error.problems]) from error
    functions = {name: FlowsDirectFunctionWrapper(getattr(module, name)) for name in _direct_names(config)}
    actions = {a.handler: getattr(module, a.handler) for a in _actions(config) if a.handler}
    return FlowParts(handlers_path=handlers, functions=functions, actions=actions, initial_state=state)


def _problem_path(node: str | None, function: str | None, message: str, raw: dict[str, Any]) -> PathKey:
    if node is None:
        index = _index_of(raw.get("global_functions"), function or "")
        return ("global_functions", index) if index >= 0 else ("global_functions",)
    spec = raw["nodes"][node]
    if function is not None:
        index = _index_of(spec.get("functions"), function)
        return ("nodes", node, "functions", index) if index >= 0 else ("nodes", node)
    for key in ("pre_actions", "post_actions"):
        for index, action in enumerate(spec.get(key) or []):
            if key in message and isinstance(action, dict) and f"'{action.get('handler')}'" in message:
                return ("nodes", node, key, index, "handler")
    return ("nodes", node)


def _direct_names(config: FlowConfig) -> list[str]:
    entries = [*config.global_functions, *(f for n in config.nodes.values() for f in n.functions)]
    return list(dict.fromkeys(f.name for f in entries if not f.transition_only))


def _actions(config: FlowConfig) -> Iterator[FlowConfig.Action]:
    for node in config.nodes.values():
        yield from node.pre_actions
        yield from node.post_actions


def _as_schema(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """The flow as our model's keys; its texts kept verbatim (FlowManager fills their placeholders)."""
    nodes = {name: _node(spec) for name, spec in raw["nodes"].items()}
    return {"name": _identifier(path.stem), "description": f"Pipecat flow {path.name}",
            "initial_node": raw["initial_node"], "nodes": nodes,
            "global_functions": raw.get("global_functions") or []}


def _node(spec: dict[str, Any]) -> dict[str, Any]:
    node = dict(spec)
    node["task_messages"] = [{**m, "content": verbatim(m["content"])} for m in spec["task_messages"]]
    if spec.get("role_message") is not None:
        node["role_message"] = verbatim(spec["role_message"])
    for key in ("pre_actions", "post_actions"):
        if spec.get(key):
            node[key] = [{**a, "text": verbatim(a["text"])} if isinstance(a.get("text"), str) else a
                         for a in spec[key]]
    return node


def verbatim(text: str) -> str:
    """Text our Jinja renderer passes through unchanged."""
    return "{% raw %}" + text.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}") + \
        "{% endraw %}"


def original(text: str) -> str:
    """The text `verbatim` wrapped, as the flow's author wrote it."""
    inner = text.removeprefix("{% raw %}").removesuffix("{% endraw %}")
    return inner.replace("{% endraw %}{{ '{% endraw %}' }}{% raw %}", "{% endraw %}")


def _identifier(stem: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", stem.lower()).strip("_")
    return name if name[:1].isalpha() else f"flow_{name}"


# ----- placeholders ------------------------------------------------------------------------------


def fill(text: str, state: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Pipecat's placeholder rule (`{{ key }}`, `{{ a.b }}`, `\\{{ key }}` literal): the text, and
    the keys that have no value (left in place)."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]
        value = lookup(state, match.group(2))
        if value is None:
            missing.append(match.group(2))
            return match.group(0)
        return str(value[0])

    return PLACEHOLDER.sub(substitute, text), missing


def lookup(state: Mapping[str, Any], key: str) -> tuple[Any] | None:
    current: Any = state
    for part in key.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return (current,)


def node_texts(spec: dict[str, Any]) -> Iterator[tuple[PathKey, str]]:
    """A raw flow node's texts that take placeholders, with their paths below the node."""
    if isinstance(spec.get("role_message"), str):
        yield ("role_message",), spec["role_message"]
    for index, message in enumerate(spec.get("task_messages") or []):
        yield ("task_messages", index, "content"), message["content"]
    for key in ("pre_actions", "post_actions"):
        for index, action in enumerate(spec.get(key) or []):
            if action.get("type") == "tts_say" and isinstance(action.get("text"), str):
                yield (key, index, "text"), action["text"]


def placeholder_problems(*, schema_raw: dict[str, Any], positions: Positions, parts: FlowParts,
                         initial: str) -> list[Problem]:
    """Placeholders with no value where that is knowable before the call: in the first node (no
    handler has run yet), and anywhere when no handlers module can store values."""
    problems = []
    for name, spec in schema_raw["nodes"].items():
        if name != initial and parts.handlers_path is not None:
            continue
        for path, text in node_texts(spec):
            for key in fill(text, parts.initial_state)[1]:
                message = (f"node '{name}' {path[0]}: placeholder '{{{{ {key} }}}}' has no value "
                           f"(key '{key}' is not in the initial state; give it with --state FILE.json)")
                problems.append(positions.problem(("nodes", name, *path), message))
    return problems
