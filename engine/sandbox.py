"""The Jinja sandbox with bounded work: no template can take long or grow large.

Jinja's `SandboxedEnvironment` stops attribute escapes but not work: `'a' * 10**9`,
`10**100000000`, nested loops, `lipsum(n=1000000)` and `'%999999999s'` all run.
`BoundedEnvironment` checks each intercepted operator, each call, each filter and
each loop step against the render's `Budget` (set by `render_bounded`), and
`TemplateLimitError` says which bound a template crossed.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from engine.errors import EngineError

MAX_TEXT = 100_000  # characters (or items) of any value or of one render's output
MAX_INT_BITS = 4096  # about 1,200 digits
MAX_LOOP_STEPS = 10_000  # loop iterations in one render, all loops together
MAX_RENDER_S = 1.0
MAX_LIPSUM_PARAGRAPHS = 10
MAX_NESTING = 50  # levels of brackets and operators in one expression
_NUMBER = re.compile(r"\d+")
_SIZED = (str, list, tuple, dict)


class TemplateLimitError(EngineError):
    """A template that would take too long or grow too large."""


class Budget:
    """What one render may still spend: loop steps and time."""

    def __init__(self) -> None:
        self.steps_left = MAX_LOOP_STEPS
        self.deadline = time.monotonic() + MAX_RENDER_S

    def step(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise TemplateLimitError(f"loops ran more than {MAX_LOOP_STEPS:,} steps")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"rendering took longer than {MAX_RENDER_S:g} s")


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget", default=None)


def _budget() -> Budget:
    """The current render's budget; outside `render_bounded`, a fresh one per use."""
    return _BUDGET.get() or Budget()


def bounded_text(chunks: Iterable[str]) -> str:
    """Join a template's output, stopping once it passes MAX_TEXT characters."""
    size, parts = 0, []
    for chunk in chunks:
        size = _grow(size, chunk)
        parts.append(chunk)
    return "".join(parts)


def render_bounded(template: Template, values: Mapping[str, Any], **names: Any) -> str:
    """`template` rendered with `values` and `names` in a budget of its own."""
    token = _BUDGET.set(Budget())
    try:
        return bounded_text(run_template(template, values, **names))
    finally:
        _BUDGET.reset(token)


def _grow(size: int, chunk: str) -> int:
    size += len(chunk)
    if size > MAX_TEXT:
        raise TemplateLimitError(f"the output is longer than {MAX_TEXT:,} characters")
    return size


def run_template(template: Template, values: Mapping[str, Any], **names: Any) -> Iterator[str]:
    """`template.generate({**values, **names})`, with one copy of the context where Jinja makes three."""
    context = {**template.globals, **values, **names}
    try:
        yield from template.root_render_func(template.new_context(context, shared=True))
    except Exception:
        template.environment.handle_exception()  # raises, with the template's lines in the traceback


def bounded_stream(generate: Callable[[], Iterator[str]]) -> Iterator[str]:
    """The chunks of `generate()`, each made within one budget of its own (a generator can't hold a
    context variable across its yields, so each step runs in a copied context)."""
    context = contextvars.copy_context()
    context.run(_BUDGET.set, Budget())
    chunks = context.run(generate)
    size = 0
    while (chunk := context.run(next, chunks, None)) is not None:
        size = _grow(size, chunk)
        yield chunk


def bounded_loop(items: Any) -> Iterator[Any]:
    """Every `{% for %}` iterates through here (see `BoundedEnvironment._parse`)."""
    budget = _budget()
    for item in items:
        budget.step()
        yield item


class BoundedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=checked_value, **options)
        self.globals["range"] = _bounded_range
        self.globals["lipsum"] = _bounded_lipsum
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then route every loop's iterable through `bounded_loop`."""
        try:
            tree = super()._parse(source, name, filename)
        except RecursionError:
            raise _too_deep(name, filename) from None
        if _depth(tree) > MAX_NESTING:
            raise _too_deep(name, filename)
        for loop in tree.find_all(nodes.For):
            bounded = nodes.ImportedName(f"{__name__}.bounded_loop")
            loop.iter = nodes.Call(bounded, [loop.iter], [], None, None)
        for concat in tree.find_all(nodes.Concat):  # `a ~ b` is no binop Jinja lets us intercept
            checked = nodes.ImportedName(f"{__name__}.checked_value")
            concat.nodes = [nodes.Call(checked, [operand], [], None, None) for operand in concat.nodes]
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().check_time()
        _check_binop(operator, left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().check_time()
        receiver = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        method = getattr(__obj, "__name__", "")
        _check_arguments(receiver, method, args, kwargs)
        return _checked(SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs))


def _too_deep(name: str | None, filename: str | None) -> TemplateSyntaxError:
    return TemplateSyntaxError(f"expressions nested more than {MAX_NESTING} levels deep", 1, name, filename)


def _depth(node: nodes.Node) -> int:
    """How deep the tree goes, without recursion (a deep tree must not exhaust the stack here)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in current.iter_child_nodes())
    return deepest


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        _check_product(left, right)
    elif operator == "**":
        _check_power(left, right)
    elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
        _check_size(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_format_string(left)


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(f"a product larger than {MAX_INT_BITS} bits")
        return
    sequence, count = (left, right) if _is_int(right) else (right, left)
    if isinstance(sequence, _SIZED) and _is_int(count):
        _check_size(count)  # even an empty text: it will not stay empty during the call
        _check_size(_weight(sequence) * max(count, 0))


def _check_power(base: Any, exponent: Any) -> None:
    if _is_int(base) and _is_int(exponent) and abs(base) > 1 and exponent > 0 \
            and exponent * base.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"a power larger than {MAX_INT_BITS} bits")


def _check_arguments(receiver: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if _is_int(value) and abs(value) > MAX_TEXT:
            raise TemplateLimitError(f"an argument larger than {MAX_TEXT:,}")
        if isinstance(value, (list, tuple, dict)):
            _check_size(_weight(value))
    if isinstance(receiver, str):
        if method in ("format", "format_map"):
            _check_format_string(receiver)
        elif method == "replace" and len(args) >= 2:
            _check_replace(receiver, args[0], args[1])


def _check_format_string(text: str) -> None:
    if any(len(number) > len(str(MAX_TEXT)) or int(number) > MAX_TEXT for number in _NUMBER.findall(text)):
        raise TemplateLimitError(f"a format width larger than {MAX_TEXT:,}")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        _check_size(len(text) + count * len(new))


def _check_size(size: int) -> None:
    if size > MAX_TEXT:
        raise TemplateLimitError(f"a value longer than {MAX_TEXT:,} characters or items")


def checked_value(value: Any) -> Any:
    """`value`, once it is known to be within the bounds (every output and `~` operand passes here)."""
    return _checked(value)


def _checked(value: Any) -> Any:
    if isinstance(value, str):
        _check_size(len(value))
    elif isinstance(value, _SIZED):
        _check_size(_weight(value))
    elif _is_int(value) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"a number larger than {MAX_INT_BITS} bits")
    return value


def _weight(sequence: Any) -> int:
    """Items counted at every depth, each shared reference again (printing repeats it), stopping
    once past MAX_TEXT: so `[[[0] * 100] * 100] * 100` weighs a million, not a hundred."""
    weight, stack = 0, [sequence]
    while stack and weight <= MAX_TEXT:
        value = stack.pop()
        if isinstance(value, str):
            weight += len(value)
        elif isinstance(value, dict):
            weight += len(value)
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            weight += len(value)
            stack.extend(value)
    return weight


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounded_filter(name: str, filter_function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(filter_function)  # keeps Jinja's pass_context markers
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _budget().check_time()
        texts = [a for a in args if isinstance(a, str)]
        if name == "format" and texts:
            _check_format_string(texts[0])
        if name == "replace" and len(texts) >= 3:
            _check_replace(*texts[:3])
        _check_arguments(None, name, args, kwargs)
        return _checked(filter_function(*args, **kwargs))

    return bounded


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    _check_size(len(numbers))
    return numbers


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if n > MAX_LIPSUM_PARAGRAPHS or max > 1000:
        raise TemplateLimitError(f"lipsum allows at most {MAX_LIPSUM_PARAGRAPHS} paragraphs")
    text: str = generate_lorem_ipsum(n=n, html=html, min=min, max=max)
    return text
