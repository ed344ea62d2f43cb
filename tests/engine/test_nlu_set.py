"""The NLU set in tests/data/nlu/ with the real model: its floors on both halves, and that the set
itself is sound (the held-out half is new, covers every schema and kind, and no schema copies it)."""

from __future__ import annotations

import pytest
from rapidfuzz import fuzz

from bench.nlu import DEV, HELD_OUT, classify_set, load_nlu_set, score
from engine.nlu import NluMode, Rule, normalize
from engine.nlu.anchors import OFF_TOPIC_ANCHORS
from engine.paths import bundled_schemas
from engine.schema.compiled import load_schema

KINDS = {"paraphrase", "disfluent", "safety", "offtopic", "ambiguous"}
NEAR_COPY = 90  # token-sorted ratio: the keyword stage's "example copy" bar


@pytest.fixture(scope="module")
def schemas():
    return {c.name: c for c in (load_schema(path) for path in bundled_schemas())}


@pytest.fixture(scope="module")
def figures(schemas):
    return {split: {mode: score(classify_set(load_nlu_set(split), mode, repeat=1), schemas)
                    for mode in NluMode} for split in (DEV, HELD_OUT)}


@pytest.mark.parametrize("split, least", [(DEV, 200), (HELD_OUT, 120)])
def test_each_half_is_large_and_every_turn_names_a_real_state_and_intent(schemas, split, least) -> None:
    turns = load_nlu_set(split)
    assert len(turns) >= least
    for turn in turns:
        compiled = schemas[turn.schema]
        assert turn.kind in KINDS, turn
        assert turn.expect is None or turn.expect in compiled.intents_of(turn.state), turn
        if turn.kind in {"offtopic", "ambiguous"}:
            assert turn.expect is None, turn


def test_the_held_out_half_covers_every_bundled_schema_and_kind_with_new_turns(schemas) -> None:
    held_out = load_nlu_set(HELD_OUT)
    assert {t.schema for t in held_out} == set(schemas)
    assert {t.kind for t in held_out} == KINDS
    dev = {normalize(t.text) for t in load_nlu_set(DEV)}
    assert not [t.text for t in held_out if normalize(t.text) in dev]


def test_no_schema_example_or_anchor_copies_a_bench_turn(schemas) -> None:
    written = [*(text for c in schemas.values() for i in c.schema.intents.values() for text in i.examples),
               *OFF_TOPIC_ANCHORS]
    copies = [(turn.text, text) for turn in [*load_nlu_set(DEV), *load_nlu_set(HELD_OUT)] for text in written
              if fuzz.token_sort_ratio(normalize(turn.text), normalize(text)) >= NEAR_COPY]
    assert not copies


# Floors, not the targets (docs/understanding.md): the rule was fitted on dev, so dev must meet the
# error targets; held-out is the honest measure and guards against a regression from what it got.
FLOORS = {DEV: {"safety_wrong": 0, "wrong_intent_rate": 0.02, "paraphrase_accuracy": 0.5},
          HELD_OUT: {"safety_wrong": 1, "wrong_intent_rate": 0.03, "paraphrase_accuracy": 0.5}}


@pytest.mark.parametrize("split", [DEV, HELD_OUT])
def test_semantic_stage_meets_its_floors(figures, split) -> None:
    semantic, keywords = figures[split][NluMode.SEMANTIC], figures[split][NluMode.KEYWORDS]
    floors = FLOORS[split]
    assert semantic["safety_wrong"] <= floors["safety_wrong"], semantic["wrong"]
    assert semantic["wrong_intent_rate"] <= floors["wrong_intent_rate"], semantic["wrong"]
    assert semantic["offtopic_rejected"] >= 0.85
    assert semantic["paraphrase_accuracy"] >= floors["paraphrase_accuracy"]
    assert semantic["paraphrase_accuracy"] >= 2 * keywords["paraphrase_accuracy"]
    assert semantic["safety_recognised"] > keywords["safety_recognised"]
    assert semantic["safety_wrong"] < keywords["safety_wrong"]


def test_the_bench_times_the_model_only_on_turns_the_keyword_stages_left_to_it(figures) -> None:
    outcomes = classify_set(load_nlu_set(DEV), NluMode.SEMANTIC, repeat=1)
    embedded = [o for o in outcomes if o.embedded]
    assert embedded and len(embedded) < len(outcomes)
    assert not [o.turn.text for o in embedded if o.rule in {Rule.KEYWORD, Rule.FUZZY}]
    assert figures[DEV][NluMode.SEMANTIC]["embedded_min_ms"] > 0.0
    assert figures[DEV][NluMode.KEYWORDS]["embedded_min_ms"] == 0.0  # keywords mode loads no model
