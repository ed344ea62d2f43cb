"""The bounded Jinja sandbox: hostile templates fail fast with a named bound; ordinary ones render."""

from __future__ import annotations

import time

import pytest
from jinja2 import TemplateSyntaxError

from engine.prompts import make_environment
from engine.sandbox import MAX_TEXT, TemplateLimitError, bounded_stream, render_bounded


def render(source: str, **values: object) -> str:
    template = make_environment().from_string(source)
    return render_bounded(template, values)


@pytest.mark.parametrize("source, message", [
    ("{{ 'a' * 10**9 }}", "a value longer than 100,000"),
    ("{{ 10**100000000 }}", "a power larger than 4096 bits"),
    ("{{ (10**1000) * (10**1000) * (10**1000) * (10**1000) * (10**1000) }}", "a product larger than"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loops ran"),
    ("{% set s = 'x' * 99999 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", "loops ran"),
    ("{{ lipsum(n=1000000) }}", "an argument larger than"),
    ("{{ lipsum(n=1000) }}", "lipsum allows at most 10 paragraphs"),
    ("{{ '%999999999s' % 'a' }}", "a format width larger than"),
    ("{{ '{:>999999999}'.format(1) }}", "a format width larger than"),
    ("{{ '%999999999s'|format('a') }}", "a format width larger than"),
    ("{{ 'a'.center(10**9) }}", "an argument larger than"),
    ("{{ 'a'|center(999999999) }}", "an argument larger than"),
    ("{{ ('a' * 99999)|replace('a', 'a' * 99999) }}", "a value longer than"),
    ("{{ ('a' * 99999).replace('a', 'a' * 99999) }}", "a value longer than"),
    ("{{ [range(10000)|list] * 100 }}", "a value longer than"),
    ("{{ reason * 10**7 }}", "a value longer than"),
    ("{{ 'x' * 60000 }}{{ 'y' * 60000 }}", "the output is longer than"),
    ("{{ [[[[0] * 100] * 100] * 100] * 100 }}", "a value longer than"),
    ("{{ ([[[0] * 100] * 100] * 100)|pprint }}", "a value longer than"),
    ("{% set b = [0] * 100000 %}{{ [b, b, b] }}", "a value longer than"),
    ("{% set b = [0] * 100000 %}{{ [b, b, b] ~ '' }}", "a value longer than"),
    ("{% set b = [0] * 100000 %}{{ [b, b, b]|string }}", "a value longer than"),
    ("{% set b = [0] * 60000 %}{{ {'x': b, 'y': b} }}", "a value longer than"),
])
def test_hostile_templates_stop_fast_at_a_named_bound(source: str, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateLimitError, match=message):
        render(source, reason="")
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("depth", [60, 300, 3000])
def test_an_expression_nested_too_deep_is_a_syntax_error_not_a_crash(depth: int) -> None:
    if depth > 100:  # brackets alone make no tree node, but exhaust the parser's stack
        with pytest.raises(TemplateSyntaxError, match="nested more than 50 levels deep"):
            render("{{ " + "(" * depth + "1" + ")" * depth + " }}")
    with pytest.raises(TemplateSyntaxError, match="nested more than 50 levels deep"):
        render("{{ " + "[" * depth + "]" * depth + " }}")


def test_nesting_within_the_bound_renders() -> None:
    assert render("{{ " + "[" * 20 + "]" * 20 + " }}") == "[" * 20 + "]" * 20
    assert render("{{ [1, 2] ~ '!' }} {{ {'a': [1]} }}") == "[1, 2]! {'a': [1]}"


def test_ordinary_templates_render_as_before() -> None:
    source = ("{% for m in meds %}{{ m.name|title }} {{ '%d' % m.dose }}mg{% if not loop.last %}, "
              "{% endif %}{% endfor %}; {{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '{:>5}'.format(7) }} "
              "{{ name|replace('a', 'A') }}")
    meds = [{"name": "metformin", "dose": 500}, {"name": "aspirin", "dose": 81}]
    assert render(source, meds=meds, name="Ann") == "Metformin 500mg, Aspirin 81mg; ababab 1024     7 Ann"


def test_the_loop_budget_is_shared_by_one_render_and_fresh_for_the_next() -> None:
    source = "{% for i in range(6000) %}{% endfor %}"
    twice = make_environment().from_string(source + source)
    with pytest.raises(TemplateLimitError, match="loops ran more than 10,000 steps"):
        render_bounded(twice, {})
    assert render(source) == "" and render(source) == ""


def test_streaming_is_bounded_too() -> None:
    template = make_environment().from_string("{% for i in range(3) %}{{ 'x' * 40000 }}{% endfor %}")
    chunks = bounded_stream(template.generate)
    with pytest.raises(TemplateLimitError, match="the output is longer than"):
        assert sum(len(chunk) for chunk in chunks) <= MAX_TEXT
