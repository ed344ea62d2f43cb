"""Plain yes and no answers: every way of saying "yes" goes where "yes" goes, in every bundled schema."""

from __future__ import annotations

import pytest

from engine.nlu import IntentClassifier, NluMode, Rule
from engine.nlu.answers import NO, YES, plain_answer
from engine.paths import bundled_schemas
from engine.schema.compiled import load_schema

SAYING_YES = ("Yep.", "Yup", "Sure.", "Yeah, definitely.", "That's right.", "Uh-huh.", "Mm-hm",
              "um, yes please", "Absolutely!", "Of course.", "Correct.")
SAYING_NO = ("Nope.", "Nah.", "No thanks.", "Not at all.", "uh, no, no", "Of course not.", "Absolutely not.")


@pytest.mark.parametrize("text, answer", [
    *((text, YES) for text in SAYING_YES), *((text, NO) for text in SAYING_NO),
    ("Right?", None), ("Sure?", None), ("yes, no", None), ("Okay.", None), ("Fine.", None), ("um", None),
    ("", None), ("yes, I'll be there", None), ("no, I have chest pain", None), ("right now", None),
])
def test_a_plain_answer_is_yes_or_no_and_anything_more_is_neither(text: str, answer: str | None) -> None:
    assert plain_answer(text) == answer


def _states_answered(answer: str) -> list[tuple[IntentClassifier, tuple[str, ...], str]]:
    """(classifier, candidates, intent) wherever a bundled schema's keyword takes `answer` itself."""
    found = []
    for path in bundled_schemas():
        compiled = load_schema(path)
        classifier = IntentClassifier(compiled.schema.intents, NluMode.KEYWORDS)
        for state in compiled.schema.nodes:
            candidates = compiled.intents_of(state)
            decided = classifier.classify(answer, candidates)
            if decided.rule is Rule.KEYWORD and decided.intent is not None:
                found.append((classifier, candidates, decided.intent))
    return found


@pytest.mark.parametrize(("answer", "ways"), [(YES, SAYING_YES), (NO, SAYING_NO)])
def test_every_way_of_saying_it_goes_where_the_word_itself_goes(answer: str, ways: tuple[str, ...]) -> None:
    answered = _states_answered(answer)
    assert len(answered) >= 8  # the bundled schemas ask many yes-or-no questions
    for classifier, candidates, intent in answered:
        for way in ways:
            decided = classifier.classify(way, candidates)
            own_keyword = decided.rule is Rule.KEYWORD and decided.matched != answer  # "no thanks": decline
            assert decided.intent == intent or own_keyword, (way, candidates, decided)


def test_a_question_is_not_taken_for_the_answer() -> None:
    compiled = load_schema(next(p for p in bundled_schemas() if p.stem == "appointment_reminder"))
    classifier = IntentClassifier(compiled.schema.intents, NluMode.KEYWORDS)
    assert classifier.classify("Yep.", compiled.intents_of("greeting")).intent == "is_patient"
    assert classifier.classify("Right?", compiled.intents_of("greeting")).intent is None
