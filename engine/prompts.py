"""PromptRenderer: every template compiled once, when the schema loads.

A template that uses only data-contract fields is "static": it depends only on
the patient record, so `DataPrecomputer` renders it once per call and a render
during the call is a lookup. A template that reads `slots` (values recorded by
functions during the call) is rendered when its node is entered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jinja2 import StrictUndefined, Template, meta
from jinja2.sandbox import SandboxedEnvironment

from engine.sandbox import BoundedEnvironment, bounded_stream, render_bounded, run_template
from engine.schema.model import Schema, is_template

_SEPARATOR = "\x1e"  # ASCII record separator; never in a schema's text
ROLE = "role"
PROMPT, SAY, REPROMPT = "prompt", "say", "reprompt"


def args_key(tool: str, arg: str) -> str:
    """The template kind of an `args` value bound to a template over the record."""
    return f"args.{tool}.{arg}"


def make_environment() -> SandboxedEnvironment:
    """The sandbox every schema template compiles in; its work is bounded (engine/sandbox.py)."""
    return BoundedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )


class RenderValues(Protocol):
    """One call's template values and its static texts, rendered once (`Precomputed` is one)."""

    @property
    def values(self) -> Mapping[str, Any]: ...

    @property
    def static_texts(self) -> Mapping[tuple[str, str], str]: ...


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    source: str
    template: Template
    fields: tuple[str, ...]  # data-contract fields it reads
    dynamic: bool  # reads `slots`, so it renders per entry


class PromptRenderer:
    """Renders a schema's roles, task messages, scripted lines, reprompts and bound arguments."""

    def __init__(self, schema: Schema, env: SandboxedEnvironment | None = None) -> None:
        self._env = env or make_environment()
        self._templates: dict[tuple[str, str], CompiledTemplate] = {}
        self._compile((ROLE, ROLE), schema.role_message, schema)
        for name, node in schema.nodes.items():
            prompt = "\n\n".join(message.content for message in node.task_messages)
            self._compile((name, PROMPT), prompt, schema)
            self._compile((name, SAY), node.say or "", schema)
            self._compile((name, REPROMPT), node.reprompt or node.say or "", schema)
            if node.role_message is not None:
                self._compile((name, ROLE), node.role_message, schema)
            for entry in node.functions:
                for arg, value in entry.args.items():
                    if is_template(value):
                        self._compile((name, args_key(entry.tool, arg)), str(value), schema)
        self._static_keys, self._static_bundle = self._bundle_static()

    def _bundle_static(self) -> tuple[list[tuple[str, str]], Template | None]:
        """One template rendering every static piece, each in its own scope, split by a separator.

        One render instead of dozens saves Jinja's per-render set-up at call start.
        """
        keys = [key for key, compiled in self._templates.items() if not compiled.dynamic]
        if any(_SEPARATOR in self._templates[key].source for key in keys):
            return keys, None
        source = _SEPARATOR.join(f"{{% with %}}{self._templates[key].source}{{% endwith %}}" for key in keys)
        return keys, self._template(source)

    def _compile(self, key: tuple[str, str], source: str, schema: Schema) -> None:
        variables = meta.find_undeclared_variables(self._env.parse(source))
        fields = tuple(sorted(v for v in variables if v in schema.data))
        self._templates[key] = CompiledTemplate(source, self._template(source), fields, "slots" in variables)

    def _template(self, source: str) -> Template:
        template = self._env.from_string(source)
        template.globals = dict(template.globals)  # one flat dict: Jinja's ChainMap is copied on every render
        return template

    def template(self, state: str, kind: str = PROMPT) -> CompiledTemplate:
        return self._templates[(state, kind)]

    def template_keys(self) -> list[tuple[str, str]]:
        return list(self._templates)

    def has(self, state: str, kind: str) -> bool:
        return (state, kind) in self._templates

    def render_template(self, state: str, kind: str, values: Mapping[str, Any],
                        slots: Mapping[str, Any] | None = None) -> str:
        """Render with Jinja, bypassing the precomputed text."""
        return render_bounded(self._templates[(state, kind)].template, values, slots=slots or {}).strip()

    def render(self, state: str, kind: str, precomputed: RenderValues,
               slots: Mapping[str, Any] | None = None) -> str:
        """The text of one template: precomputed if static, rendered now if dynamic."""
        text = precomputed.static_texts.get((state, kind))
        if text is not None:
            return text
        return self.render_template(state, kind, precomputed.values, slots)

    def render_state_prompt(self, state: str, precomputed: RenderValues, streaming: bool = False,
                            slots: Mapping[str, Any] | None = None) -> str | Iterator[str]:
        """The task prompt of `state`; with `streaming`, an iterator of chunks."""
        if not streaming:
            return self.render(state, PROMPT, precomputed, slots)
        return self._stream(state, precomputed, slots)

    def _stream(self, state: str, precomputed: RenderValues,
                slots: Mapping[str, Any] | None) -> Iterator[str]:
        text = precomputed.static_texts.get((state, PROMPT))
        if text is not None:
            yield text
            return
        template = self._templates[(state, PROMPT)].template
        yield from bounded_stream(lambda: run_template(template, precomputed.values, slots=slots or {}))

    def render_static(self, values: Mapping[str, Any]) -> dict[tuple[str, str], str]:
        """Render every template that depends only on the record."""
        if self._static_bundle is None:
            return {key: self.render_template(*key, values) for key in self._static_keys}
        pieces = render_bounded(self._static_bundle, values, slots={}).split(_SEPARATOR)
        return {key: piece.strip() for key, piece in zip(self._static_keys, pieces, strict=True)}
