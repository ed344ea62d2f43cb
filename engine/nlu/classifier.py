"""IntentClassifier: keywords first, then a fuzzy match of the examples; in semantic mode the fuzzy
match takes only near copies, and the embeddings and the decision rule do the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.nlu.answers import plain_answer
from engine.nlu.decision import ALERT, ALL_CLEAR, DecisionRule
from engine.nlu.index import SemanticIndex
from engine.nlu.keywords import EXAMPLE_COPY_THRESHOLD, FUZZY_THRESHOLD, KeywordStage, normalize
from engine.nlu.mode import NluMode
from engine.nlu.result import NO_MATCH, Classification, Rule
from engine.nlu.symptoms import before_question, is_question, mentions_symptom

if TYPE_CHECKING:
    from engine.schema.model import Intent


class IntentClassifier:
    """Built once per schema and shared by its calls; `classify` is safe from any thread."""

    def __init__(self, intents: dict[str, Intent], mode: NluMode = NluMode.SEMANTIC,
                 rule: DecisionRule | None = None) -> None:
        self.mode = mode
        self.intents = intents
        self.threshold = FUZZY_THRESHOLD
        self.rule = rule or DecisionRule()
        fuzzy = FUZZY_THRESHOLD if mode is NluMode.KEYWORDS else EXAMPLE_COPY_THRESHOLD
        self._keywords = KeywordStage(intents, fuzzy)
        self._safety = {name: intent.safety for name, intent in intents.items()}
        self._asked_as_questions = frozenset(name for name, intent in intents.items()
                                             if any(is_question(example) for example in intent.examples))
        self._index = SemanticIndex(intents) if mode is NluMode.SEMANTIC else None

    def prepare(self) -> None:
        """Start loading the model and embedding the examples in the background (semantic mode)."""
        if self._index is not None:
            self._index.prepare()

    @property
    def ready(self) -> bool:
        """True once `classify` will not wait for the embedding stage."""
        return self._index is None or self._index.ready

    def wait_ready(self) -> None:
        """Block until every example is embedded (at once in keywords mode)."""
        if self._index is not None:
            self._index.wait_ready()

    def needs_model(self, text: str, candidates: tuple[str, ...]) -> bool:
        """Whether `classify` would go past the keyword and example stages to the embeddings."""
        return self._index is not None and self._without_model(text, candidates) is None

    def classify(self, text: str, candidates: tuple[str, ...]) -> Classification:
        """The best of `candidates` for `text`, or no intent (with the reason in `rule`)."""
        decided = self._without_model(text, candidates)
        if decided is not None:
            return decided
        assert self._index is not None
        ranked, off_topic = self._index.scores(text, candidates)
        return self.rule.decide(ranked, self._safety, mentions_symptom(text), is_question(text),
                                self._asked_as_questions, off_topic)

    def _without_model(self, text: str, candidates: tuple[str, ...]) -> Classification | None:
        """What the keyword and example stages decide; None when the embeddings must."""
        words = normalize(text)
        candidates = self._without_guarded_all_clear(text, words, candidates)
        if not words or not candidates:
            return NO_MATCH
        by_keyword = self._keywords.keyword(words, candidates)
        if by_keyword is None and (answer := plain_answer(text)) is not None:
            by_keyword = self._keywords.keyword(answer, candidates)  # "yep" as "yes", "nope" as "no"
        if by_keyword is not None:
            return self._question_guarded(text, by_keyword)
        by_example = self._keywords.fuzzy(words, candidates)
        if by_example.intent is not None or self._index is None:
            return by_example
        return None

    def _without_guarded_all_clear(self, text: str, words: str,
                                   candidates: tuple[str, ...]) -> tuple[str, ...]:
        """A turn that names a symptom ("no problems, apart from a pain in my chest") is no "all clear",
        whatever keyword it holds, unless the schema lists it as one ("I'm fine, a little tired but
        fine"): the others leave the keyword stage's candidates (the embeddings still rank them, and
        the symptom guard refuses them)."""
        if not mentions_symptom(text):
            return candidates
        return tuple(name for name in candidates
                     if self._safety.get(name) != ALL_CLEAR or self._keywords.copies_example(words, name))

    def _question_guarded(self, text: str, by_keyword: Classification) -> Classification:
        """An alert intent's keyword inside a question ("who am I speaking with?") is no answer,
        unless it is said before the question ("yes, who's calling?"), is itself a question ("why do
        you need"), or the turn names a symptom ("why is my chest pain back?")."""
        alert = self._safety.get(by_keyword.intent or "") == ALERT
        if not alert or not is_question(text) or mentions_symptom(text):
            return by_keyword
        keyword = by_keyword.matched
        if f" {keyword} " in f" {before_question(text)} " or is_question(keyword):
            return by_keyword
        return Classification(None, by_keyword.confidence, by_keyword.matched, rule=Rule.QUESTION_GUARD,
                              candidates=by_keyword.candidates)

    def resolve_tie(self, text: str, tie: tuple[str, str]) -> Classification:
        """The caller's answer to "do you mean A, or B?": one of the two, or no intent."""
        decided = self.classify(text, tie)
        if decided.intent is None:
            return decided
        return Classification(decided.intent, decided.confidence, decided.matched, decided.margin,
                              Rule.CLARIFIED, decided.candidates)
