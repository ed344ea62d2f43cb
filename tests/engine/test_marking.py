"""Marked rendering: each patient value in a rendered node names the field it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.marking import Marked, RenderContext, marked_values, plain_segments, split_marked
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.prompts import PROMPT, REPROMPT, SAY
from engine.schema.compiled import load_schema

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def schema_cases() -> list[tuple[Path, Path]]:
    cases = [(DATA / "minimal_schema.yaml", DATA / "minimal_patient.json")]
    for schema in sorted((ROOT / "schemas").glob("*.yaml")):
        cases += [(schema, patient) for patient in sorted((ROOT / "resources" / "patients").glob(
            f"{schema.stem}__*.json"))[:1]]
    return cases


@pytest.mark.parametrize(("schema_path", "patient_path"), schema_cases(), ids=lambda p: p.stem)
def test_marked_render_equals_the_call_text_and_names_each_value(schema_path: Path,
                                                                 patient_path: Path) -> None:
    compiled = load_schema(schema_path)
    record = load_patient(patient_path).validated(compiled)
    precomputed = DataPrecomputer(compiled).precompute_all(record)
    values, raws = marked_values(compiled, precomputed, record)
    fields_seen = set()
    for state in compiled.schema.nodes:
        for kind in (PROMPT, SAY, REPROMPT):
            segments = split_marked(compiled.renderer.render_template(state, kind, values, {}), raws)
            plain = compiled.renderer.render(state, kind, precomputed)
            assert "".join(text for text, _f, _r in segments) == plain
            fields_seen |= {field for _t, field, _r in segments if field}
    assert fields_seen, "no value was highlighted"
    assert {field.split("[")[0] for field in fields_seen} <= set(compiled.schema.data)


def test_list_items_are_marked_with_their_index_and_raw_value() -> None:
    compiled = load_schema(DATA / "minimal_schema.yaml")
    record = load_patient(DATA / "minimal_patient.json").validated(compiled)
    precomputed = DataPrecomputer(compiled).precompute_all(record)
    values, raws = marked_values(compiled, precomputed, record)
    segments = split_marked(compiled.renderer.render_template("greet", PROMPT, values, {}), raws)
    marked = {field: (text, raw) for text, field, raw in segments if field}
    assert marked["meds[0].name"] == ("met-FOR-min", "metformin")
    assert marked["meds[0].dose"] == ("five hundred", "500")
    assert marked["appt"] == ("Tuesday, December first", "2026-12-01")


def test_a_marked_value_compares_as_its_plain_text() -> None:
    value = Marked("Ann", "first_name")
    assert value == "Ann" and value.upper() == "ANN" and value[:2] == "An"
    assert str(value) != "Ann" and split_marked(f"Hi {value}!", {"first_name": "ann"}) == [
        ("Hi ", "", ""), ("Ann", "first_name", "ann"), ("!", "", "")]


def test_text_without_markers_is_one_plain_segment() -> None:
    assert split_marked("Hello there", {}) == [("Hello there", "", "")]
    assert plain_segments("Hello") == [("Hello", "", "")]
    assert plain_segments("") == []


def test_a_render_context_gives_the_segments_of_a_node() -> None:
    compiled = load_schema(DATA / "minimal_schema.yaml")
    record = load_patient(DATA / "minimal_patient.json").validated(compiled)
    context = RenderContext(compiled, DataPrecomputer(compiled).precompute_all(record), record, {})
    say = context.segments("greet", SAY)
    assert "".join(text for text, _f, _r in say) == "Hi Ann, see you Tuesday, December first?"
    assert ("Ann", "first_name", "Ann") in say
