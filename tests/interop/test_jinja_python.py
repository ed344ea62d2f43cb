"""Jinja blocks translated to Python for an exported flow's handlers module give the same text."""

from __future__ import annotations

from jinja2 import Environment

from engine.interop.jinja_python import whole_block
from engine.schema.model import DataField

CONTRACT = {"flag": DataField.model_validate({"type": "boolean"})}


def rendered(source: str, state: dict[str, object]) -> str:
    block = whole_block(Environment(trim_blocks=True, lstrip_blocks=True), source, CONTRACT, "k")
    code = "def block(state):\n    parts = []\n" + "\n".join(block.body) + "\n    return ''.join(parts)\n"
    namespace: dict[str, object] = {}
    exec(compile(code, "<block>", "exec"), namespace)
    return str(namespace["block"](state))  # type: ignore[operator]  # the function exec just defined


def test_literal_braces_inside_a_block_stay_single() -> None:
    assert rendered("{% if flag %}use {braces} and }{% endif %}", {"flag": "yes"}) == "use {braces} and }"
    assert rendered("{% if flag %}use {braces}{% endif %}", {"flag": "no"}) == ""
