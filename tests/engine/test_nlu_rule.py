"""The embedding stage's decision rule, on hand-made scores: threshold, margin, ties and safety."""

from __future__ import annotations

import numpy as np
import pytest

from engine.nlu import ALERT, ALL_CLEAR, Candidate, DecisionRule, IntentClassifier, NluMode, Rule
from engine.nlu.index import _top_k_mean
from engine.nlu.symptoms import before_question, is_question, mentions_symptom
from engine.schema.model import Intent

RULE = DecisionRule(threshold=0.35, anchor_lead=0.1, margin=0.15, safety_threshold=0.5, safety_margin=0.15)
SAFETY = {"emergency": ALERT, "all_clear": ALL_CLEAR, "confirm": None, "cancel": None}


def decide(*scores: tuple[str, float], symptom: bool = False, question: bool = False,
           off_topic: float = -1.0):
    return RULE.decide([Candidate(i, s) for i, s in scores], SAFETY, symptom, question,
                       frozenset({"emergency", "confirm"}), off_topic)


def test_a_clear_winner_is_accepted_with_its_margin_and_candidates() -> None:
    decided = decide(("confirm", 0.6), ("cancel", 0.3))
    assert (decided.intent, decided.rule, decided.margin) == ("confirm", Rule.SEMANTIC, 0.3)
    assert [c.intent for c in decided.candidates] == ["confirm", "cancel"]


@pytest.mark.parametrize("scores, rule", [
    ((("confirm", 0.34), ("cancel", 0.1)), Rule.BELOW_THRESHOLD),
    ((("confirm", 0.45), ("cancel", 0.32)), Rule.LOW_MARGIN),
    ((("confirm", 0.5), ("cancel", 0.4)), Rule.NEAR_TIE),
])
def test_weak_or_close_scores_take_no_intent(scores, rule) -> None:
    decided = decide(*scores)
    assert decided.intent is None and decided.rule is rule


def test_a_near_tie_names_both_intents() -> None:
    assert decide(("cancel", 0.5), ("confirm", 0.45)).tie == ("cancel", "confirm")
    assert decide(("cancel", 0.6), ("confirm", 0.3)).tie is None


def test_safety_intents_need_the_stricter_bar() -> None:
    assert decide(("emergency", 0.48), ("confirm", 0.1)).rule is Rule.SAFETY_BAR
    assert decide(("emergency", 0.55), ("confirm", 0.1)).intent == "emergency"


def test_a_question_is_taken_only_by_a_non_alert_intent_asked_as_questions() -> None:
    assert decide(("emergency", 0.8), ("confirm", 0.1), question=True).rule is Rule.QUESTION_GUARD
    assert decide(("cancel", 0.8), ("confirm", 0.1), question=True).rule is Rule.QUESTION_GUARD
    assert decide(("confirm", 0.8), ("cancel", 0.1), question=True).intent == "confirm"


def test_an_all_clear_is_never_taken_when_the_turn_names_a_symptom() -> None:
    assert decide(("all_clear", 0.9), ("emergency", 0.1), symptom=True).rule is Rule.SYMPTOM_GUARD
    assert decide(("all_clear", 0.9), ("emergency", 0.1)).intent == "all_clear"


@pytest.mark.parametrize("text, expected", [
    ("I feel fine except my heart has been racing", True), ("a touch of heartburn", True),
    ("I've been a bit dizzy", True), ("nothing on that list, thankfully", False), ("I'm all good", False),
])
def test_symptom_mentions(text: str, expected: bool) -> None:
    assert mentions_symptom(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("who is this?", True), ("whos calling", True), ("what is this about", True), ("that would be me", False),
])
def test_questions(text: str, expected: bool) -> None:
    assert is_question(text) is expected


def test_a_turn_nearer_small_talk_than_any_intent_is_off_topic_and_never_asked_about() -> None:
    assert decide(("confirm", 0.6), ("cancel", 0.3), off_topic=0.55).rule is Rule.OFF_TOPIC
    assert decide(("confirm", 0.6), ("cancel", 0.3), off_topic=0.45).intent == "confirm"
    close = decide(("confirm", 0.6), ("cancel", 0.5), off_topic=0.45)  # the runner-up is not plausible
    assert (close.rule, close.tie) == (Rule.LOW_MARGIN, None)
    assert decide(("confirm", 0.6), ("cancel", 0.5), off_topic=0.3).rule is Rule.NEAR_TIE


def test_an_intent_scores_the_mean_of_its_two_nearest_texts() -> None:
    assert _top_k_mean(np.array([0.2, 0.9, 0.5], dtype=np.float32)) == pytest.approx(0.7)
    assert _top_k_mean(np.array([0.4], dtype=np.float32)) == pytest.approx(0.4)


@pytest.mark.parametrize("text, said", [
    ("yes, who's calling?", "yes"), ("who am I speaking with?", ""), ("is this a sales call?", ""),
    ("speaking", "speaking"), ("it's me, what's this about?", "its me"),
])
def test_what_is_said_before_the_question(text: str, said: str) -> None:
    assert before_question(text) == said


def intent(*examples: str, keywords: tuple[str, ...] = (), safety: str | None = None) -> Intent:
    return Intent(description="a test intent", examples=list(examples), keywords=list(keywords),
                  safety=safety)


KEYWORD_ONLY = IntentClassifier({
    "is_patient": intent("speaking", "yes, who's calling?", keywords=("yes", "speaking"), safety=ALERT),
    "dob_refused": intent("why do you need that?", keywords=("why do you need",), safety=ALERT),
    "no_side_effects": intent("no side effects", "I'm fine, a little tired but fine", keywords=("no", "fine"),
                              safety=ALL_CLEAR),
    "emergency": intent("I have chest pain", keywords=("chest pain",), safety=ALERT),
}, NluMode.KEYWORDS)


@pytest.mark.parametrize("text, candidates, expected, rule", [
    ("who am I speaking with?", ("is_patient",), None, Rule.QUESTION_GUARD),
    ("yes, who's calling?", ("is_patient",), "is_patient", Rule.KEYWORD),
    ("why do you need my birthday?", ("dob_refused",), "dob_refused", Rule.KEYWORD),
    ("why is my chest pain back?", ("emergency",), "emergency", Rule.KEYWORD),
    ("no problems, apart from some pain in my chest", ("no_side_effects", "emergency"), None,
     Rule.BELOW_THRESHOLD),
    ("no, but I've got chest pain", ("no_side_effects", "emergency"), "emergency", Rule.KEYWORD),
    ("I'm fine, a little tired but fine", ("no_side_effects",), "no_side_effects", Rule.KEYWORD),
])
def test_keyword_guards(text: str, candidates: tuple[str, ...], expected: str | None, rule: Rule) -> None:
    decided = KEYWORD_ONLY.classify(text, candidates)
    assert (decided.intent, decided.rule) == (expected, rule)
