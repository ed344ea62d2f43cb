"""The bundled schemas and patients: they load, their patients validate, their intents classify."""

from __future__ import annotations

import pytest

from engine.paths import PATIENTS_DIR, bundled_schemas
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.prompts import PROMPT, SAY
from engine.schema.compiled import load_schema

SCHEMAS = bundled_schemas()


@pytest.fixture(params=SCHEMAS, ids=[p.stem for p in SCHEMAS])
def compiled(request):
    return load_schema(request.param)


def test_three_realistic_schemas_are_bundled() -> None:
    bundled = {p.stem for p in SCHEMAS}
    assert bundled >= {"appointment_reminder", "medication_adherence", "post_discharge_followup",
                       "lab_results_callback"}


def test_each_schema_has_enough_states_and_patients(compiled) -> None:
    assert len(compiled.schema.nodes) >= 8
    assert any(node.ending for node in compiled.schema.nodes.values())
    assert len(list(PATIENTS_DIR.glob(f"{compiled.name}__*.json"))) >= 3


def test_every_patient_validates_and_renders_every_state(compiled) -> None:
    for path in sorted(PATIENTS_DIR.glob(f"{compiled.name}__*.json")):
        patient = load_patient(path)
        assert patient.schema == compiled.name
        precomputed = DataPrecomputer(compiled).precompute_all(patient.validated(compiled))
        for state, node in compiled.schema.nodes.items():
            if node.decide is not None:
                continue  # a decision node says nothing
            for kind in (PROMPT, SAY):
                text = compiled.renderer.render(state, kind, precomputed)
                assert text and "{{" not in text and "{%" not in text, (path.name, state, kind)
                assert "None" not in text.split(), (path.name, state, kind, text)


def test_every_intent_example_classifies_to_its_intent_where_it_is_offered(compiled) -> None:
    misses = []
    for state in compiled.schema.nodes:
        candidates = compiled.intents_of(state)
        for intent in candidates:
            for example in compiled.schema.intents[intent].examples:
                decided = compiled.classifier.classify(example, candidates)
                if decided.intent != intent:
                    misses.append(f"{state}: {example!r} -> {decided.intent} (wanted {intent})")
    assert not misses, "\n".join(misses)


def test_schema_is_parsed_once_and_shared(compiled) -> None:
    assert load_schema(compiled.path) is compiled
