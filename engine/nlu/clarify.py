"""The clarifying question on a near tie: "Do you mean ..., or ...?" in the schema's own words."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.nlu.classifier import IntentClassifier
    from engine.nlu.result import Classification
    from engine.schema.model import Intent


def clarifying_question(intents: dict[str, Intent], tie: tuple[str, str]) -> str:
    """Names both intents by their first example phrase."""
    first, second = (_phrase(intents[name]) for name in tie)
    return f"Sorry, I want to be sure I understood. Do you mean \u201c{first}\u201d, or \u201c{second}\u201d?"


def _phrase(intent: Intent) -> str:
    return intent.examples[0].strip().rstrip(".?!")


class ClarifyingTurns:
    """One call's caller turns: a near tie asks which was meant, and the next turn answers it."""

    def __init__(self) -> None:
        self._pending: tuple[str, str] | None = None
        self._asked_in: str | None = None  # the node the question was asked in

    def classify(self, classifier: IntentClassifier, node: str, candidates: tuple[str, ...],
                 text: str) -> Classification:
        """`text` said at `node`, whose intents are `candidates`."""
        if self._pending is not None and self._asked_in == node:
            tie, self._pending = self._pending, None
            answer = classifier.resolve_tie(text, tie)
            if answer.intent is not None:
                return answer
        decided = classifier.classify(text, candidates)
        self._pending, self._asked_in = decided.tie, node
        return decided
