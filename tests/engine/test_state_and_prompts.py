"""Classifier, ConversationState, StateManagerFactory and PromptRenderer on the minimal schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import UnknownStateError
from engine.patients import load_patient
from engine.precompute import DataPrecomputer
from engine.prompts import PROMPT, SAY
from engine.schema.classifier import normalize
from engine.schema.compiled import load_schema
from engine.state import StateManagerFactory

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def compiled():
    return load_schema(DATA / "minimal_schema.yaml")


@pytest.fixture
def precomputed(compiled):
    record = load_patient(DATA / "minimal_patient.json").validated(compiled)
    return DataPrecomputer(compiled).precompute_all(record)


def test_normalize_drops_case_punctuation_and_apostrophes() -> None:
    assert normalize("  Yes!  I'll BE there, thanks. ") == "yes ill be there thanks"


def test_keyword_wins_and_is_deterministic(compiled) -> None:
    results = {compiled.classifier.classify("Sure, why not", ("yes", "nope")) for _ in range(5)}
    assert len(results) == 1
    (result,) = results
    assert (result.intent, result.confidence, result.matched) == ("yes", 0.9, "sure")


def test_fuzzy_match_on_examples_without_keywords(compiled) -> None:
    result = compiled.classifier.classify("that is fine yes", ("yes",))
    assert result.intent == "yes"
    assert compiled.classifier.classify("thanks no", ("nope",)).intent == "nope"


def test_below_threshold_stays_in_state(compiled) -> None:
    state = StateManagerFactory(compiled).create_state("c1")
    result = state.classify("the weather is lovely today")
    assert result.intent is None and result.confidence < compiled.classifier.threshold
    assert state.process_user_message("the weather is lovely today") == "greet"
    assert state.transitions == []


def test_process_user_message_moves_and_records_history(compiled) -> None:
    state = StateManagerFactory(compiled).create_state("c2")
    assert state.process_user_message("no thanks") == "bye"
    assert state.visited == ["greet", "bye"]
    (record,) = state.transitions
    assert (record.source, record.target, record.intent, record.forced) == ("greet", "bye", "nope", False)
    assert state.ended


def test_force_moves_anywhere_and_is_marked_forced(compiled) -> None:
    state = StateManagerFactory(compiled).create_state("c3")
    state.force("done")
    assert state.current == "done" and state.transitions[-1].forced
    with pytest.raises(UnknownStateError, match="'dne'"):
        state.force("dne")


def test_states_share_the_schema_and_stay_small(compiled) -> None:
    factory = StateManagerFactory(compiled)
    first, second = factory.create_state("a"), factory.create_state("b")
    assert first.schema is second.schema is compiled.schema
    assert not hasattr(first, "__dict__")  # __slots__ only


def test_render_is_precomputed_for_static_templates(compiled, precomputed) -> None:
    assert precomputed.static_texts[("greet", SAY)] == "Hi Ann, see you Tuesday, December first?"
    assert compiled.renderer.render_state_prompt("greet", precomputed) == (
        "Remind Ann about Tuesday, December first. met-FOR-min five hundred milligrams")
    assert ("done", SAY) not in precomputed.static_texts  # reads slots: rendered on entry


def test_dynamic_template_renders_with_slots(compiled, precomputed) -> None:
    assert compiled.renderer.render("done", SAY, precomputed, {}) == "Thanks friend!"
    assert compiled.renderer.render("done", SAY, precomputed, {"reason": "Ann"}) == "Thanks Ann!"


def test_streaming_yields_the_precomputed_prefix_first(compiled, precomputed) -> None:
    chunks = list(compiled.renderer.render_state_prompt("greet", precomputed, streaming=True))
    assert chunks[0].startswith("Remind Ann")
    assert "".join(chunks) == compiled.renderer.render_state_prompt("greet", precomputed)


def test_one_pass_static_render_equals_rendering_each_template(compiled, precomputed) -> None:
    for (state, kind), text in precomputed.static_texts.items():
        assert text == compiled.renderer.render_template(state, kind, precomputed.values)


def test_templates_know_the_fields_they_read(compiled) -> None:
    assert compiled.renderer.template("greet", PROMPT).fields == ("appt", "first_name", "meds")
    assert compiled.renderer.template("done", SAY).dynamic
