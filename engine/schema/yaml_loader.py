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
from yaml._yaml import CParser  # libyaml, which PyYAML's wheels bundle

from engine.errors import Problem
from engine.files import SCHEMA_MAX_BYTES, InputFileError, read_bounded_bytes

MAX_DEPTH = 64  # nesting of mappings and lists; far beyond any schema, far below Python's recursion limit
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


class _StrictResolver(yaml.resolver.Resolver):
    """Resolves only YAML 1.2 core booleans, ints and floats (no yes/no, octal or sexagesimal)."""


_StrictResolver.yaml_implicit_resolvers = {}
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
    _StrictResolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


class _StrictComposer(yaml.composer.Composer):
    """Composes nodes no deeper than MAX_DEPTH, and turns aliases into nulls it remembers."""

    def __init__(self) -> None:
        super().__init__()
        self.alias_positions: list[tuple[int, int]] = []
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event: yaml.Event = self.peek_event()  # type: ignore[attr-defined]  # from the parser half
                raise _TooDeepError(_position(event.start_mark))
            return self._compose_node(parent, index)
        finally:
            self.depth -= 1

    def _compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]  # from the parser half
            event: yaml.Event = self.get_event()  # type: ignore[attr-defined]  # from the parser half
            line, column = _position(event.start_mark)
            self.alias_positions.append((line, column))
            mark = yaml.Mark("", 0, line - 1, column - 1, None, 0)
            return yaml.ScalarNode("tag:yaml.org,2002:null", "", mark, mark)
        return super().compose_node(parent, index)


class _StrictLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _StrictComposer,
                    yaml.constructor.SafeConstructor, _StrictResolver):
    """PyYAML's pure-Python parser: slow, but its error messages are the ones users see."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _StrictComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _StrictResolver.__init__(self)


class _FastStrictLoader(_StrictComposer, CParser, yaml.constructor.SafeConstructor, _StrictResolver):
    """libyaml's parser under the same composer: several times faster on large files."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _StrictComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _StrictResolver.__init__(self)


def _position(mark: Any) -> tuple[int, int]:
    """A 1-based (line, column) from a pure-Python or a libyaml mark."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


class _TooDeepError(Exception):
    def __init__(self, position: tuple[int, int]) -> None:
        self.position = position
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


class YamlLoadError(Exception):
    """Raised with located problems when a document cannot be parsed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_yaml(path: Path | str, display_name: str | None = None,
              max_bytes: int = SCHEMA_MAX_BYTES) -> tuple[Any, Positions]:
    """Parse a YAML (or JSON) regular file of at most `max_bytes` into plain values and their positions."""
    name = display_name or str(path)
    try:
        data = read_bounded_bytes(path, max_bytes)
        text = data.decode("utf-8")
    except InputFileError as error:
        raise YamlLoadError([Problem(name, 0, 0, "", str(error))]) from error
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise YamlLoadError([Problem(name, line, 1, "", f"not UTF-8 text ({error.reason})")]) from error
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str) -> tuple[Any, Positions]:
    """Parse with libyaml when it is there; a document it refuses is parsed again in pure Python,
    whose messages (and control-character checks) are the ones reported."""
    try:
        return _load_with(_FastStrictLoader, text, name)
    except yaml.YAMLError:
        return _load_with(_StrictLoader, text, name)


def _load_with(loader_class: type[_StrictLoader | _FastStrictLoader], text: str,
               name: str) -> tuple[Any, Positions]:
    positions = Positions(name, lines=text.splitlines())
    loader: _StrictLoader | _FastStrictLoader | None = None
    try:
        loader = loader_class(text)
        node = loader.get_single_node()
    except _TooDeepError as error:
        raise YamlLoadError([Problem(name, *error.position, "", str(error))]) from error
    except yaml.YAMLError as error:
        if loader_class is _FastStrictLoader:
            raise
        raise YamlLoadError([_syntax_problem(name, text, error)]) from error
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, positions
    value = _construct(node, (), positions)
    positions.load_problems += [_alias_problem(positions, where) for where in loader.alias_positions]
    if positions.load_problems:
        raise YamlLoadError(positions.load_problems)
    return value, positions


def _syntax_problem(name: str, text: str, error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.reader.ReaderError):
        return _control_character_problem(name, text, error)
    if isinstance(error, yaml.MarkedYAMLError):
        line, column = _position(error.problem_mark or error.context_mark)
        message = " ".join(str(part) for part in (error.context, error.problem) if part)
        return Problem(name, line, column, "", f"YAML syntax: {message}")
    return Problem(name, 1, 1, "", f"YAML syntax: {error}")


def _control_character_problem(name: str, text: str, error: yaml.reader.ReaderError) -> Problem:
    before = text[: error.position]
    line = before.count("\n") + 1
    column = error.position - (before.rfind("\n") + 1) + 1
    code = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or " ")
    return Problem(name, line, column, "", f"control character U+{code:04X} is not allowed "
                                           "(write it as an escape in a double-quoted string)")


def _alias_problem(positions: Positions, where: tuple[int, int]) -> Problem:
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
    if node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_INT_DIGITS:
        message = f"integer literal too long ({len(node.value):,} digits; at most {MAX_INT_DIGITS})"
        positions.load_problems.append(positions.problem(path, message))
        return None
    return _scalar(node)


MAX_INT_DIGITS = 100
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
