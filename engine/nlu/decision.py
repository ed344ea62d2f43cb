"""The decision rule for the embedding stage: threshold, margin, near ties and safety."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.nlu.result import Candidate, Classification, Rule

ALERT = "alert"  # escalation, red flags, identity, wrong person: a keyword or the stricter bar
ALL_CLEAR = "all_clear"  # "no symptoms" and the like: never by similarity when a symptom is named


@dataclass(frozen=True, slots=True)
class DecisionRule:
    # Chosen on the dev half of the NLU set only (docs/understanding.md); the held-out half checks them.
    threshold: float = 0.2  # the best intent's score must reach this ...
    anchor_lead: float = 0.1  # ... and beat the turn's nearest off-topic anchor by this
    margin: float = 0.08  # ... and lead the runner-up intent by this; closer, both plausible: ask
    safety_threshold: float = 0.42  # the stricter bar for safety intents
    safety_margin: float = 0.1

    def decide(self, ranked: list[Candidate], safety: Mapping[str, str | None], mentions_symptom: bool,
               is_question: bool, asked_as_questions: frozenset[str] = frozenset(),
               off_topic: float = -1.0) -> Classification:
        """Accept, ask about a near tie, or reject; `ranked` is best first and `off_topic` the turn's
        similarity to its nearest small-talk anchor. A question is taken by similarity only for an
        intent in `asked_as_questions` (one with a question among its examples) that is not an alert."""
        if not ranked:
            return Classification(None, 0.0, rule=Rule.NO_MATCH)
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        margin = round(best.score - runner_up, 3)

        def plausible(score: float) -> bool:
            return score >= self.threshold and score >= off_topic + self.anchor_lead

        def result(rule: Rule, *, accept: bool = False, tie: tuple[str, str] | None = None) -> Classification:
            return Classification(best.intent if accept else None, best.score, margin=margin, rule=rule,
                                  candidates=tuple(ranked), tie=tie)

        if best.score < self.threshold:
            return result(Rule.BELOW_THRESHOLD)
        if not plausible(best.score):
            return result(Rule.OFF_TOPIC)
        if margin < self.margin:
            if plausible(runner_up):
                return result(Rule.NEAR_TIE, tie=(best.intent, ranked[1].intent))
            return result(Rule.LOW_MARGIN)
        kind = safety.get(best.intent)
        if kind == ALL_CLEAR and mentions_symptom:
            return result(Rule.SYMPTOM_GUARD)
        if is_question and (kind == ALERT or best.intent not in asked_as_questions):
            return result(Rule.QUESTION_GUARD)
        if kind is not None and (best.score < self.safety_threshold or margin < self.safety_margin):
            return result(Rule.SAFETY_BAR)
        return result(Rule.SEMANTIC, accept=True)
