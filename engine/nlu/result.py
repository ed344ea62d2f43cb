"""What the classifier decided, with the candidates and the rule that decided it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

KEYWORD_CONFIDENCE = 0.9


class Rule(StrEnum):
    """The rule that produced a classification (shown as "why this intent")."""

    KEYWORD = "keyword"  # a schema keyword is in the turn
    FUZZY = "fuzzy"  # the turn is a near copy of an example
    SEMANTIC = "semantic"  # the embedding similarity cleared the threshold and the margin
    CLARIFIED = "clarified"  # the answer to a clarifying question chose one of two intents
    NEAR_TIE = "near_tie"  # two intents scored too close to call: ask which
    LOW_MARGIN = "low_margin"  # the best intent did not lead the runner-up by enough
    SAFETY_BAR = "safety_bar"  # a safety intent by similarity alone, below its stricter bar
    SYMPTOM_GUARD = "symptom_guard"  # an "all clear" by similarity alone, but the turn names a symptom
    QUESTION_GUARD = "question_guard"  # a question is not an answer: no safety intent, nor one never asked
    OFF_TOPIC = "off_topic"  # the turn is nearer small talk than any intent (engine/nlu/anchors.py)
    BELOW_THRESHOLD = "below_threshold"  # nothing close enough
    NO_MATCH = "no_match"  # an empty turn, or no intents to choose from


@dataclass(frozen=True, slots=True)
class Candidate:
    intent: str
    score: float


@dataclass(frozen=True, slots=True)
class Classification:
    intent: str | None
    confidence: float
    matched: str = ""  # the keyword or example that decided it
    margin: float = 0.0  # the best score minus the runner-up's
    rule: Rule = Rule.NO_MATCH
    candidates: tuple[Candidate, ...] = ()  # best first
    tie: tuple[str, str] | None = None  # on a near tie: the two intents to ask about


NO_MATCH = Classification(None, 0.0)
