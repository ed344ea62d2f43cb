"""A schema's Jinja templates as Pipecat prompts: `{{ key }}` placeholders and Python text blocks.

A Pipecat placeholder can only insert a state value. So a template is split at load into its
literal text, its plain `{{ field }}` placeholders (kept as they are: the state holds each
field's spoken value) and its other parts (`{% if %}`, `{% for %}`, filters, expressions), each
of which becomes a *block*: a Python function of the state, written out in handlers.py, whose
text the handlers put into a state key that the prompt names with `{{ key }}`. A construct this
cannot translate raises `Untranslatable`, never a wrong text.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

from jinja2 import nodes
from jinja2.environment import Environment

from engine.schema.model import DataField, FieldType

_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "lteq": "<=", "gteq": ">=", "in": "in",
            "notin": "not in"}
_BINARY = {nodes.Add: "+", nodes.Sub: "-", nodes.Mul: "*", nodes.Div: "/", nodes.FloorDiv: "//",
           nodes.Mod: "%"}
_STR_FILTERS = {"lower": "lower", "upper": "upper", "title": "title", "capitalize": "capitalize",
                "trim": "strip"}
_LOOP = {"first": "{i} == 0", "last": "{i} == len({items}) - 1", "index": "{i} + 1", "index0": "{i}",
         "length": "len({items})"}
STATE_KEYS = ("record", "slots", "attempts", "next_node")  # what the runtime keeps in the state itself
_FSTRING_UNSAFE = re.compile(r'["\\{}!:#]')  # an expression that cannot sit inside f"..." as it is


class Untranslatable(Exception):
    """A template construct with no faithful Python form here."""


@dataclass(frozen=True)
class Block:
    key: str  # the state key its text goes in
    source: str  # the Jinja it came from, for the comment above its function
    body: tuple[str, ...]  # Python statements appending to `parts`


@dataclass
class SplitTemplate:
    text: str  # the Pipecat prompt: literal text, `{{ field }}` and `{{ block key }}`
    blocks: list[Block] = field(default_factory=list)


def split_template(env: Environment, source: str, contract: dict[str, DataField], key: str) -> SplitTemplate:
    """`source` as Pipecat prompt text plus the blocks it needs, named `key_1`, `key_2`…"""
    body = env.parse(source).body
    split = SplitTemplate("")
    pending: list[nodes.Node] = []
    for node in _pieces(body):
        if isinstance(node, nodes.TemplateData):
            split.text += _flush(pending, split, contract, key, source) + _escape(node.data)
        elif isinstance(node, nodes.Name) and _plain_field(node.name, contract):
            split.text += _flush(pending, split, contract, key, source) + f"{{{{ {node.name} }}}}"
        else:
            pending.append(node)
    split.text += _flush(pending, split, contract, key, source)
    split.text = split.text.strip()
    return split


def whole_block(env: Environment, source: str, contract: dict[str, DataField], key: str) -> Block:
    """All of `source` as one block (a function argument rendered from the record)."""
    writer = _Writer(contract)
    writer.statements(env.parse(source).body, 1)
    return Block(key, source, tuple(writer.lines))


def _pieces(body: list[nodes.Node]) -> list[nodes.Node]:
    """Top-level statements, with each `Output` opened into its text and expressions."""
    found: list[nodes.Node] = []
    for node in body:
        found += node.nodes if isinstance(node, nodes.Output) else [node]
    return found


def _plain_field(name: str, contract: dict[str, DataField]) -> bool:
    data = contract.get(name)
    return data is not None and data.type is not FieldType.LIST


def _escape(text: str) -> str:
    """Literal text that must not read as a Pipecat placeholder."""
    return text.replace("{{", "\\{{")


def _flush(pending: list[nodes.Node], split: SplitTemplate, contract: dict[str, DataField],
           key: str, source: str) -> str:
    if not pending:
        return ""
    block_key = f"{key}_{len(split.blocks) + 1}"
    writer = _Writer(contract)
    writer.statements(pending, 1)
    split.blocks.append(Block(block_key, source, tuple(writer.lines)))
    pending.clear()
    return f"{{{{ {block_key} }}}}"


class _Writer:
    """Python statements for Jinja statements; expressions read `state` and loop variables."""

    def __init__(self, contract: dict[str, DataField]) -> None:
        self.contract = contract
        self.lines: list[str] = []
        self.loops: dict[str, tuple[str, str]] = {}  # Jinja loop variable -> (index name, items name)
        self.loop_stack: list[str] = []

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def statements(self, body: list[nodes.Node], depth: int) -> None:
        """Each run of text and expressions becomes one `parts.append(f"...")`."""
        run: list[nodes.Node] = []
        for node in body:
            if isinstance(node, nodes.Output):
                run += node.nodes
            elif isinstance(node, nodes.Expr):
                run.append(node)
            else:
                self._output(run, depth)
                run = []
                self._statement(node, depth)
        self._output(run, depth)

    def _statement(self, node: nodes.Node, depth: int) -> None:
        if isinstance(node, nodes.If):
            self._if(node, depth)
        elif isinstance(node, nodes.For):
            self._for(node, depth)
        else:
            raise Untranslatable(f"the '{type(node).__name__.lower()}' statement")

    def _output(self, run: list[nodes.Node], depth: int) -> None:
        pieces: list[str] = []  # f-string content: escaped text and {expressions}
        for node in run:
            text = _literal_text(node)
            if text is not None:
                pieces += [_fstring_text(word) for word in re.findall(r"\S+\s*|\s+", text)]
                continue
            code = _bare(self.expr(node))
            if _FSTRING_UNSAFE.search(code):
                self._append(pieces, depth)
                pieces = []
                self.emit(depth, f"parts.append(str({code}))")
            else:
                pieces.append(f"{{{code}}}")
        self._append(pieces, depth)

    def _append(self, pieces: list[str], depth: int) -> None:
        """`parts.append(...)` of the pieces, as adjacent strings of at most the line width."""
        if not pieces:
            return
        width = max(40, 100 - 4 * (depth + 1) - 3)
        lines, line = [], ""
        for piece in pieces:
            if line and len(line) + len(piece) > width:
                lines.append(line)
                line = ""
            line += piece
        lines.append(line)
        strings = [("f" if "{" in text or "}" in text else "") + f'"{text}"' for text in lines]
        if len(strings) == 1 and len(strings[0]) + 4 * depth + 14 <= 110:
            self.emit(depth, f"parts.append({strings[0]})")
            return
        self.emit(depth, "parts.append(")
        for string in strings:
            self.emit(depth + 1, string)
        self.emit(depth, ")")

    def _if(self, node: nodes.If, depth: int) -> None:
        self.emit(depth, f"if {_bare(self.test(node.test))}:")
        self._body(node.body, depth + 1)
        for branch in node.elif_:
            self.emit(depth, f"elif {_bare(self.test(branch.test))}:")
            self._body(branch.body, depth + 1)
        if node.else_:
            self.emit(depth, "else:")
            self._body(node.else_, depth + 1)

    def _for(self, node: nodes.For, depth: int) -> None:
        if not isinstance(node.target, nodes.Name) or node.else_ or node.test is not None or node.recursive:
            raise Untranslatable("a 'for' loop other than 'for x in items'")
        number = len(self.loop_stack) + 1
        index, items = f"i{number}", f"items{number}"
        start = len(self.lines)
        self.loops[node.target.name] = (index, items)
        self.loop_stack.append(node.target.name)
        self._body(node.body, depth + 1)
        self.loop_stack.pop()
        del self.loops[node.target.name]
        body = "\n".join(self.lines[start:])
        iterable = self.expr(node.iter)
        if items not in body:
            header = [f"for {node.target.name} in {iterable}:"]
        else:
            loop = f"enumerate({items})" if index in body else items
            target = f"{index}, {node.target.name}" if index in body else node.target.name
            header = [f"{items} = {iterable}", f"for {target} in {loop}:"]
        self.lines[start:start] = ["    " * depth + line for line in header]

    def _body(self, body: list[nodes.Node], depth: int) -> None:
        before = len(self.lines)
        self.statements(body, depth)
        if len(self.lines) == before:
            self.emit(depth, "pass")

    def test(self, node: nodes.Node) -> str:
        """An expression used as a condition: a boolean field is true only when it was true."""
        if isinstance(node, nodes.Name) and (data := self.contract.get(node.name)) is not None \
                and data.type is FieldType.BOOLEAN:
            return f"state[{node.name!r}] == 'yes'"
        if isinstance(node, nodes.Not):
            return f"not ({self.test(node.node)})"
        if isinstance(node, nodes.And | nodes.Or):
            joiner = " and " if isinstance(node, nodes.And) else " or "
            return f"({self.test(node.left)}{joiner}{self.test(node.right)})"
        return self.expr(node)

    def expr(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Name):
            return self._name(node.name)
        if isinstance(node, nodes.Const):
            return repr(node.value)
        if isinstance(node, nodes.Getattr):
            return self._attribute(node)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            return f"{self.expr(node.node)}[{node.arg.value!r}]"
        if isinstance(node, nodes.Call):
            return self._call(node)
        if isinstance(node, nodes.Filter):
            return self._filter(node)
        if isinstance(node, nodes.Test):
            return self._test(node)
        if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
            return f"({self.expr(node.expr1)} if {self.test(node.test)} else {self.expr(node.expr2)})"
        if isinstance(node, nodes.Concat):
            return "(" + " + ".join(self._text(part) for part in node.nodes) + ")"
        if isinstance(node, nodes.And | nodes.Or):
            joiner = " and " if isinstance(node, nodes.And) else " or "
            return f"({self.expr(node.left)}{joiner}{self.expr(node.right)})"
        if isinstance(node, nodes.Not):
            return f"(not {self.test(node.node)})"
        if isinstance(node, nodes.Compare):
            parts = [self.expr(node.expr)]
            for operand in node.ops:
                if operand.op not in _COMPARE:
                    raise Untranslatable(f"the comparison '{operand.op}'")
                parts += [_COMPARE[operand.op], self.expr(operand.expr)]
            return "(" + " ".join(parts) + ")"
        if isinstance(node, nodes.BinExpr) and type(node) in _BINARY:
            return f"({self.expr(node.left)} {_BINARY[type(node)]} {self.expr(node.right)})"
        raise Untranslatable(f"the expression '{type(node).__name__}'")

    def _text(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            return repr(node.value)
        return f"str({_bare(self.expr(node))})"

    def _name(self, name: str) -> str:
        if name in self.loops:
            return name
        if name == "slots":
            return "state['slots']"
        if name in self.contract:
            return f"state[{name!r}]"
        raise Untranslatable(f"the name '{name}', which is not a data field")

    def _attribute(self, node: nodes.Getattr) -> str:
        if isinstance(node.node, nodes.Name) and node.node.name == "loop" and self.loop_stack:
            if node.attr not in _LOOP:
                raise Untranslatable(f"'loop.{node.attr}'")
            index, items = self.loops[self.loop_stack[-1]]
            return "(" + _LOOP[node.attr].format(i=index, items=items) + ")"
        return f"{self.expr(node.node)}[{node.attr!r}]"

    def _call(self, node: nodes.Call) -> str:
        method = node.node
        if not (isinstance(method, nodes.Getattr) and method.attr == "get") or node.kwargs \
                or node.dyn_args or node.dyn_kwargs or not 1 <= len(node.args) <= 2:
            raise Untranslatable("a call other than mapping.get(key[, default])")
        arguments = ", ".join(self.expr(argument) for argument in node.args)
        return f"{self.expr(method.node)}.get({arguments})"

    def _filter(self, node: nodes.Filter) -> str:
        if node.node is None or node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise Untranslatable(f"the filter '{node.name}' used this way")
        value = self.expr(node.node)
        if node.name in ("length", "count") and not node.args:
            return f"len({value})"
        if node.name in _STR_FILTERS and not node.args:
            return f"str({value}).{_STR_FILTERS[node.name]}()"
        if node.name == "join" and len(node.args) <= 1:
            separator = self.expr(node.args[0]) if node.args else "''"
            return f"{separator}.join(str(item) for item in {value})"
        raise Untranslatable(f"the filter '{node.name}'")

    def _test(self, node: nodes.Test) -> str:
        if node.name in ("defined", "undefined") and isinstance(node.node, nodes.Getattr) and not node.args:
            negate = "not " if node.name == "undefined" else ""
            return f"({node.node.attr!r} {negate}in {self.expr(node.node.node)})"
        if node.name == "none" and not node.args:
            return f"({self.expr(node.node)} is None)"
        raise Untranslatable(f"the test 'is {node.name}'")


def _bare(expression: str) -> str:
    """The expression without the parentheses around all of it, when dropping them changes nothing."""
    if not (expression.startswith("(") and expression.endswith(")")):
        return expression
    try:
        inner, whole = (ast.dump(ast.parse(text, mode="eval")) for text in (expression[1:-1], expression))
        same = inner == whole
    except SyntaxError:
        return expression
    return expression[1:-1] if same else expression


def _fstring_text(text: str) -> str:
    """Literal text as the inside of an f"..." string."""
    return json.dumps(text, ensure_ascii=False)[1:-1].replace("{", "{{").replace("}", "}}")


def _literal_text(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.TemplateData):
        return str(node.data)
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None
