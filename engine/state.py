"""Call state: the light per-call ConversationState."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import UnknownStateError
from engine.nlu import Classification

if TYPE_CHECKING:
    from engine.schema.compiled import CompiledSchema
    from engine.schema.model import Schema

@dataclass(frozen=True, slots=True)
class TransitionRecord:
    source: str
    target: str
    intent: str | None
    forced: bool
    at: float  # time.perf_counter() when it happened


class ConversationState:
    """One call's position in its schema: current state, history and slots.

    It holds no schema copy: the compiled schema is shared, read-only.
    """

    __slots__ = ("session_id", "current", "transitions", "slots", "attempts", "_compiled")

    def __init__(self, session_id: str, compiled: CompiledSchema) -> None:
        self.session_id = session_id
        self._compiled = compiled
        self.current: str = compiled.schema.initial_node
        self.transitions: list[TransitionRecord] = []
        self.slots: dict[str, Any] = {}
        self.attempts: dict[str, int] = {}  # node -> reprompts and failed checks so far

    @property
    def visited(self) -> list[str]:
        """Every state entered, in order, from the first (kept as the transitions, one list a call)."""
        first = self.transitions[0].source if self.transitions else self.current
        return [first, *(record.target for record in self.transitions)]

    @property
    def schema(self) -> Schema:
        return self._compiled.schema

    @property
    def compiled(self) -> CompiledSchema:
        return self._compiled

    @property
    def ended(self) -> bool:
        return self._compiled.is_ending(self.current)

    def classify(self, text: str) -> Classification:
        return self._compiled.classifier.classify(text, self._compiled.intents_of(self.current))

    def process_user_message(self, text: str) -> str:
        """Classify `text` and move on its intent when that leads to one node (no function runs).

        Below the threshold, or on a branch, it stays. Returns the node."""
        intent = self.classify(text).intent
        if intent is not None and len(targets := self._compiled.targets_of(self.current, intent)) == 1:
            self.transition_to(targets[0], intent)
        return self.current

    def count_attempt(self, node: str) -> int:
        """One more reprompt or failed check in `node`; the count so far."""
        self.attempts[node] = self.attempts.get(node, 0) + 1
        return self.attempts[node]

    def transition_to(self, target: str, intent: str | None = None, *, forced: bool = False) -> None:
        """Move to `target`; `intent` is the edge's label (an intent, a decided field, or 'attempts')."""
        if target not in self._compiled.schema.nodes:
            raise UnknownStateError(f"unknown state '{target}' in schema '{self.schema.name}'")
        self.transitions.append(TransitionRecord(self.current, target, intent, forced, time.perf_counter()))
        self.current = target

    def force(self, target: str) -> None:
        """Move anywhere, recording that the move was forced."""
        self.transition_to(target, forced=True)


class StateManagerFactory:
    """Creates light per-call states that share one compiled schema."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self._compiled = compiled

    def create_state(self, session_id: str) -> ConversationState:
        return ConversationState(session_id, self._compiled)
