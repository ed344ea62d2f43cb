"""The clarifying question on a near tie: "Do you mean ..., or ...?" in the schema's own words."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.nlu.result import Classification
    from engine.schema.model import Intent
    from engine.state import ConversationState


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

    def classify(self, conversation: ConversationState, text: str) -> Classification:
        if self._pending is not None and self._asked_in == conversation.current:
            tie, self._pending = self._pending, None
            answer = conversation.compiled.classifier.resolve_tie(text, tie)
            if answer.intent is not None:
                return answer
        decided = conversation.classify(text)
        self._pending, self._asked_in = decided.tie, conversation.current
        return decided
