"""The NLU set in tests/data/nlu/ with the real model: its floors, and that the set itself is sound."""

from __future__ import annotations

import pytest

from bench.nlu import classify_set, load_nlu_set, score
from engine.nlu import NluMode, normalize
from engine.paths import bundled_schemas
from engine.schema.compiled import load_schema

KINDS = {"paraphrase", "disfluent", "safety", "offtopic", "ambiguous"}


@pytest.fixture(scope="module")
def schemas():
    return {c.name: c for c in (load_schema(path) for path in bundled_schemas())}


@pytest.fixture(scope="module")
def figures(schemas):
    turns = load_nlu_set()
    return {mode: score(classify_set(turns, mode, repeat=1), schemas) for mode in NluMode}


def test_the_set_is_large_and_every_turn_names_a_real_state_and_intent(schemas) -> None:
    turns = load_nlu_set()
    assert len(turns) >= 200
    for turn in turns:
        compiled = schemas[turn.schema]
        assert turn.kind in KINDS, turn
        assert turn.expect is None or turn.expect in compiled.intents_of(turn.state), turn
        if turn.kind in {"offtopic", "ambiguous"}:
            assert turn.expect is None, turn


def test_paraphrases_avoid_their_intents_examples(schemas) -> None:
    for turn in load_nlu_set():
        if turn.expect is not None:
            examples = {normalize(e) for e in schemas[turn.schema].schema.intents[turn.expect].examples}
            assert normalize(turn.text) not in examples, turn


def test_semantic_stage_meets_its_floors_on_the_set(figures) -> None:
    semantic, keywords = figures[NluMode.SEMANTIC], figures[NluMode.KEYWORDS]
    assert semantic["safety_wrong"] == 0, semantic["wrong"]
    assert semantic["wrong_intent_rate"] <= 0.02, semantic["wrong"]
    assert semantic["offtopic_rejected"] >= 0.85
    assert semantic["paraphrase_accuracy"] >= 0.35
    assert semantic["paraphrase_accuracy"] >= 3 * keywords["paraphrase_accuracy"]
    assert semantic["paraphrase_recognised_or_asked"] >= 0.55
