"""Careful YAML loading that remembers where every value came from.

The loader is PyYAML's SafeLoader with YAML 1.1 surprises switched off: only
`true`/`false` are booleans (not yes/no/on/off), `010` is not octal, `1:30`
is not sexagesimal, and dates stay strings. Duplicate keys are errors.
JSON is YAML, so patient records load through here too and get line numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Problem

PathKey = tuple[str | int, ...]


@dataclass
class Positions:
    """Maps a value's path inside the document to its 1-based (line, column)."""

    file: str
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    load_problems: list[Problem] = field(default_factory=list)
    block_scalars: set[PathKey] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)

    def locate(self, path: PathKey) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if (found := self.marks.get(tuple(path[:end]))) is not None:
                return found
        return (1, 1)

    def block_text(self, indicator_line: int) -> str:
        """The lines of the block scalar whose `|` or `>` is on `indicator_line`, as written."""
        body: list[str] = []
        indent: int | None = None
        for text in self.lines[indicator_line:]:
            stripped = text.lstrip(" ")
            if stripped:
                width = len(text) - len(stripped)
                indent = width if indent is None else indent
                if width < indent:
                    break
            body.append(text[indent or 0:])
        return "\n".join(body)

    def problem(self, path: PathKey, message: str) -> Problem:
        line, column = self.locate(path)
        return Problem(self.file, line, column, dotted(path), message)


def dotted(path: PathKey) -> str:
    """('nodes', 'a', 'functions', 1, 'name') -> 'nodes.a.functions[1].name'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that resolves only YAML 1.2 core booleans, ints and floats, and refuses aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_marks: list[yaml.Mark] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event: yaml.Event = self.get_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it untyped
            start, end = _python_mark(event.start_mark), _python_mark(event.end_mark)
            if start is not None:
                self.alias_marks.append(start)
            return yaml.ScalarNode("tag:yaml.org,2002:null", "", start, end)
        return super().compose_node(parent, index)


_StrictLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", [*"~nN", ""]),
    ("tag:yaml.org,2002:merge", r"^<<$", "<"),
):
    _StrictLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


class YamlLoadError(Exception):
    """Raised with located problems when a document cannot be parsed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_yaml(path: Path | str, display_name: str | None = None) -> tuple[Any, Positions]:
    """Parse a YAML (or JSON) file into plain values and their positions."""
    name = display_name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise YamlLoadError([Problem(name, line, 1, "", f"not UTF-8 text ({error.reason})")]) from error
    except OSError as error:
        raise YamlLoadError([Problem(name, 0, 0, "", f"cannot read file: {error.strerror}")]) from error
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str) -> tuple[Any, Positions]:
    positions = Positions(name, lines=text.splitlines())
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(part) for part in (error.context, error.problem) if part)
        raise YamlLoadError([Problem(name, line, column, "", f"YAML syntax: {message}")]) from error
    except yaml.YAMLError as error:
        raise YamlLoadError([Problem(name, 1, 1, "", f"YAML syntax: {error}")]) from error
    finally:
        loader.dispose()
    if node is None:
        return None, positions
    value = _construct(node, (), positions)
    positions.load_problems += [_alias_problem(positions, mark) for mark in loader.alias_marks]
    if positions.load_problems:
        raise YamlLoadError(positions.load_problems)
    return value, positions


def _python_mark(mark: object) -> yaml.Mark | None:
    """The pure-Python loader's mark (the stubs also allow libyaml's, which this loader never makes)."""
    return mark if isinstance(mark, yaml.Mark) else None


def _alias_problem(positions: Positions, mark: yaml.Mark) -> Problem:
    where = (mark.line + 1, mark.column + 1)
    path = next((p for p, found in positions.marks.items() if found == where), ())
    return Problem(positions.file, *where, dotted(path), "YAML anchors and aliases are not supported")


def _construct(node: yaml.Node, path: PathKey, positions: Positions) -> Any:
    positions.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.CollectionNode) and node.tag not in _COLLECTION_TAGS:
        positions.load_problems.append(positions.problem(path, f"unsupported YAML tag {node.tag}"))
        return None
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(node, path, positions)
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), positions) for i, item in enumerate(node.value)]
    if not isinstance(node, yaml.ScalarNode):
        return None  # PyYAML composes no other kind of node
    if node.style in ("|", ">"):
        positions.block_scalars.add(path)
    if node.tag not in _SCALAR_TAGS:
        positions.load_problems.append(positions.problem(path, f"unsupported YAML tag {node.tag}"))
        return None
    return _scalar(node)


_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


def _scalar(node: yaml.ScalarNode) -> Any:
    value: str = node.value
    tag = node.tag
    if tag == "tag:yaml.org,2002:str":
        return value
    if tag == "tag:yaml.org,2002:int":
        return int(value)
    if tag == "tag:yaml.org,2002:float":
        lowered = value.lower().lstrip("+")
        if lowered in (".inf", "-.inf", ".nan"):
            return float(lowered.replace(".", ""))
        return float(value)
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() == "true"
    return None


def _construct_mapping(node: yaml.MappingNode, path: PathKey, positions: Positions) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            mark = key_node.start_mark
            problem = Problem(positions.file, mark.line + 1, mark.column + 1, dotted(path),
                              "YAML merge keys (<<) are not supported")
            positions.load_problems.append(problem)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            mark = key_node.start_mark
            problem = Problem(positions.file, mark.line + 1, mark.column + 1, dotted(path),
                              "keys must be plain text")
            positions.load_problems.append(problem)
            continue
        key = key_node.value
        key_path = (*path, key)
        if key in result:
            line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            first_line = positions.marks[key_path][0]
            message = f"duplicate key '{key}' (first defined on line {first_line})"
            positions.load_problems.append(Problem(positions.file, line, column, dotted(key_path), message))
            continue
        result[key] = _construct(value_node, key_path, positions)
        if isinstance(value_node, yaml.CollectionNode) and not value_node.flow_style:
            # a block mapping or list starts on the next line; its entry is the key's line
            positions.marks[key_path] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    return result
