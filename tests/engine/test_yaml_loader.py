"""The strict YAML loader: YAML 1.1 surprises switched off, and a position for every value."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.errors import Problem
from engine.schema.yaml_loader import Positions, YamlLoadError, dotted, load_yaml, load_yaml_text


def load(text: str) -> object:
    return load_yaml_text(text, "f.yaml")[0]


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text(text, "f.yaml")
    return caught.value.problems


# --- scalars: only YAML 1.2 core booleans, ints and floats -------------------------------------


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF"])
def test_yaml_11_booleans_stay_text(word: str) -> None:
    assert load(f"a: {word}\n") == {"a": word}


@pytest.mark.parametrize(("word", "value"), [("true", True), ("false", False), ("True", True),
                                             ("FALSE", False)])
def test_true_and_false_are_booleans(word: str, value: bool) -> None:
    loaded = load(f"a: {word}\n")
    assert loaded == {"a": value} and isinstance(loaded["a"], bool)


@pytest.mark.parametrize("word", ["010", "0x10", "0o7", "0b101", "1_000", "+010"])
def test_octal_hex_binary_and_underscored_numbers_stay_text(word: str) -> None:
    assert load(f"a: {word}\n") == {"a": word}


@pytest.mark.parametrize("word", ["1:30", "12:30:45", "190:20:30"])
def test_sexagesimal_numbers_stay_text(word: str) -> None:
    assert load(f"a: {word}\n") == {"a": word}


@pytest.mark.parametrize("word", ["2026-01-01", "2026-01-01T10:15:00", "2026-01-01 10:15"])
def test_dates_and_timestamps_stay_text(word: str) -> None:
    assert load(f"a: {word}\n") == {"a": word}


@pytest.mark.parametrize(("word", "value"), [("0", 0), ("7", 7), ("-3", -3), ("+3", 3), ("500", 500)])
def test_decimal_integers(word: str, value: int) -> None:
    loaded = load(f"a: {word}\n")["a"]
    assert loaded == value and type(loaded) is int


@pytest.mark.parametrize(("word", "value"), [("1e5", 100000.0), ("1E-2", 0.01), ("0.5e+3", 500.0),
                                             ("1.5", 1.5), (".5", 0.5), ("1.", 1.0), ("-2.25", -2.25)])
def test_floats(word: str, value: float) -> None:
    loaded = load(f"a: {word}\n")["a"]
    assert loaded == value and type(loaded) is float


def test_infinity_and_nan() -> None:
    loaded = load("a: .inf\nb: -.inf\nc: .nan\n")
    assert loaded["a"] == math.inf and loaded["b"] == -math.inf and math.isnan(loaded["c"])


@pytest.mark.parametrize("word", ["~", "null", "Null", "NULL", ""])
def test_nulls(word: str) -> None:
    assert load(f"a: {word}\n") == {"a": None}


def test_quoted_scalars_are_always_text() -> None:
    assert load("a: 'true'\nb: \"1\"\nc: '1e5'\n") == {"a": "true", "b": "1", "c": "1e5"}


def test_keys_are_always_text() -> None:
    assert load("1: a\ntrue: b\nyes: c\n") == {"1": "a", "true": "b", "yes": "c"}


def test_empty_document_is_none() -> None:
    assert load_yaml_text("", "f.yaml")[0] is None
    assert load_yaml_text("# only a comment\n", "f.yaml")[0] is None


def test_json_is_yaml() -> None:
    value, positions = load_yaml_text('{\n  "data": {\n    "age": 46,\n    "ok": true\n  }\n}\n', "p.json")
    assert value == {"data": {"age": 46, "ok": True}}
    assert positions.marks[("data", "age")] == (3, 12)
    assert positions.marks[("data", "ok")] == (4, 11)


# --- duplicate keys ------------------------------------------------------------------------------


def test_duplicate_key_names_both_lines() -> None:
    [problem] = problems_of("a: 1\nb: 2\na: 3\n")
    assert (problem.file, problem.line, problem.column, problem.field) == ("f.yaml", 3, 1, "a")
    assert problem.message == "duplicate key 'a' (first defined on line 1)"


def test_nested_duplicate_key_has_its_path() -> None:
    [problem] = problems_of("states:\n  greet:\n    say: hi\n    prompt: p\n    say: again\n")
    assert (problem.line, problem.column, problem.field) == (5, 5, "states.greet.say")
    assert "first defined on line 3" in problem.message


def test_every_duplicate_is_reported() -> None:
    problems = problems_of("a: 1\na: 2\nb: 1\nb: 2\na: 3\n")
    assert [(p.line, p.field) for p in problems] == [(2, "a"), (4, "b"), (5, "a")]


def test_duplicate_of_a_block_mapping_points_at_the_first_key_line() -> None:
    """The first `a:` is on line 1, even though its value starts on line 2."""
    [problem] = problems_of("a:\n  x: 1\nb: 2\na:\n  y: 2\n")
    assert (problem.line, problem.field) == (4, "a")
    assert problem.message == "duplicate key 'a' (first defined on line 1)"


def test_same_key_in_different_mappings_is_fine() -> None:
    assert load("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}


# --- positions -----------------------------------------------------------------------------------

NESTED = """\
states:
  greet:
    say: hi
    transitions:
      - intent: yes
        to: done
      - {intent: no, to: bye}
    functions: [a, b]
"""


def test_positions_of_nested_values_and_list_items() -> None:
    value, positions = load_yaml_text(NESTED, "f.yaml")
    assert value["states"]["greet"]["transitions"][0] == {"intent": "yes", "to": "done"}
    marks = positions.marks
    assert marks[("states", "greet", "say")] == (3, 10)
    assert marks[("states", "greet", "transitions", 0)] == (5, 9)
    assert marks[("states", "greet", "transitions", 0, "intent")] == (5, 17)
    assert marks[("states", "greet", "transitions", 0, "to")] == (6, 13)
    assert marks[("states", "greet", "transitions", 1)] == (7, 9)
    assert marks[("states", "greet", "transitions", 1, "intent")] == (7, 18)
    assert marks[("states", "greet", "transitions", 1, "to")] == (7, 26)
    assert marks[("states", "greet", "functions", 0)] == (8, 17)
    assert marks[("states", "greet", "functions", 1)] == (8, 20)


def test_locate_falls_back_to_the_nearest_ancestor() -> None:
    _, positions = load_yaml_text(NESTED, "f.yaml")
    assert positions.locate(("states", "greet", "transitions", 1, "call")) == (7, 9)
    assert positions.locate(("nowhere", "at", "all")) == (1, 1)
    problem = positions.problem(("states", "greet", "transitions", 1, "call"), "bad")
    assert str(problem) == "f.yaml:7:9: states.greet.transitions[1].call: bad"


def test_positions_with_crlf_line_endings() -> None:
    _, positions = load_yaml_text("a: 1\r\nb:\r\n  - x\r\n  - y\r\n", "f.yaml")
    assert positions.marks[("b", 1)] == (4, 5)


def test_positions_after_a_byte_order_mark() -> None:
    value, positions = load_yaml_text("\ufeffa: 1\nb: 2\n", "f.yaml")
    assert value == {"a": 1, "b": 2}
    assert positions.marks[("b",)] == (2, 4)


def test_dotted_paths() -> None:
    assert dotted(("states", "a", "transitions", 1, "to")) == "states.a.transitions[1].to"
    assert dotted(("data", "meds", 0)) == "data.meds[0]"
    assert dotted(()) == ""


def test_load_yaml_reads_a_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("a: yes\n", encoding="utf-8")
    value, positions = load_yaml(path)
    assert value == {"a": "yes"} and positions.file == str(path)
    assert load_yaml(path, display_name="shown.yaml")[1].file == "shown.yaml"


# --- block scalars -------------------------------------------------------------------------------


def test_block_scalars_are_tracked() -> None:
    text = "a: |\n  x\n  y\nb: >\n  x\nc: 'q'\nd: \"q\"\ne: plain\nf:\n  - |\n    item\n"
    value, positions = load_yaml_text(text, "f.yaml")
    assert value["a"] == "x\ny\n" and value["b"] == "x\n" and value["f"] == ["item\n"]
    assert positions.block_scalars == {("a",), ("b",), ("f", 0)}
    assert positions.marks[("a",)] == (1, 4)  # at the indicator; the text starts one line below


def test_block_scalar_with_chomping_indicator_is_tracked() -> None:
    value, positions = load_yaml_text("a: |-\n  x\n  y\nb: >+\n  z\n", "f.yaml")
    assert value == {"a": "x\ny", "b": "z\n"}
    assert positions.block_scalars == {("a",), ("b",)}


# --- rejected constructs -------------------------------------------------------------------------


def test_aliases_are_rejected() -> None:
    problems = problems_of("a: &x [1]\nb: *x\n")
    assert [(p.field, p.message) for p in problems] == [("b", "YAML anchors and aliases are not supported")]


def test_alias_is_reported_where_the_alias_is_written() -> None:
    """The alias `*x` is on line 3, column 4; the anchor it repeats is on line 1."""
    [problem] = problems_of("a: &x hello\nb: 2\nc: *x\n")
    assert (problem.line, problem.column, problem.field) == (3, 4, "c")


def test_merge_keys_are_rejected() -> None:
    problems = problems_of("base:\n  a: 1\nchild:\n  <<: {a: 1}\n  b: 2\n")
    assert any("merge keys (<<) are not supported" in p.message for p in problems), problems


def test_non_scalar_keys_are_rejected() -> None:
    [problem] = problems_of("top:\n  ? [a, b]\n  : 1\n")
    where = (problem.line, problem.column, problem.field, problem.message)
    assert where == (2, 5, "top", "keys must be plain text")
    [problem] = problems_of("{a: 1}: 2\n")
    assert problem.message == "keys must be plain text"


@pytest.mark.parametrize("tagged", ["!!timestamp 2026-01-01", "!!binary aGk=", "!custom x",
                                    "!!python/name:os.system"])
def test_unsupported_tags_are_rejected(tagged: str) -> None:
    problems = problems_of(f"a: 1\nb: {tagged}\n")
    assert [(p.line, p.column, p.field) for p in problems] == [(2, 4, "b")]
    assert problems[0].message.startswith("unsupported YAML tag")


@pytest.mark.parametrize("tagged", ["!!set {x}", "!!omap [{x: 1}]", "!custom {x: 1}",
                                    "!!python/object/apply:os.system [ls]"])
def test_unsupported_tags_on_collections_are_rejected(tagged: str) -> None:
    """A tag on a mapping or a list changes what it means; it must not be silently dropped."""
    problems = problems_of(f"a: 1\nb: {tagged}\n")
    assert [(p.line, p.column, p.field) for p in problems] == [(2, 4, "b")]
    assert problems[0].message.startswith("unsupported YAML tag")


def test_explicit_core_tags_are_allowed() -> None:
    assert load("a: !!str 010\nb: !!int 7\nc: !!float 1\n") == {"a": "010", "b": 7, "c": 1.0}


def test_several_documents_are_rejected() -> None:
    [problem] = problems_of("a: 1\n---\nb: 2\n")
    assert problem.line == 2 and "single document" in problem.message


def test_syntax_error_is_located() -> None:
    [problem] = problems_of("a: 1\nb: c: d\n")
    assert (problem.line, problem.column, problem.field) == (2, 5, "")
    assert problem.message == "YAML syntax: mapping values are not allowed here"


def test_tab_indentation_is_a_located_syntax_error() -> None:
    [problem] = problems_of("a:\n  b: 1\n\tc: 2\n")
    assert problem.line == 3 and problem.message.startswith("YAML syntax:")


def test_problems_are_reported_together() -> None:
    problems = problems_of("a: 1\na: 2\nb: !!binary aGk=\nc: 1\nd: {[x]: 1}\n")
    assert [p.line for p in problems] == [2, 3, 5]


def test_not_utf8_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"a: 1\nb: 2\nc: caf\xe9\n")
    with pytest.raises(YamlLoadError) as caught:
        load_yaml(path)
    [problem] = caught.value.problems
    assert problem.message.startswith("not UTF-8 text")
    assert problem.line == 3


def test_missing_file_is_a_problem_not_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(YamlLoadError) as caught:
        load_yaml(tmp_path / "missing.yaml")
    [problem] = caught.value.problems
    assert problem.line == 0 and problem.message.startswith("cannot read file")
    assert str(problem).startswith(f"{tmp_path / 'missing.yaml'}: cannot read file")


def test_positions_problem_uses_its_file() -> None:
    positions = Positions("x.yaml", marks={("a",): (4, 2)})
    assert positions.problem(("a", "b"), "m") == Problem("x.yaml", 4, 2, "a.b", "m")
