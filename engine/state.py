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

    __slots__ = ("session_id", "current", "visited", "transitions", "slots", "_compiled")

    def __init__(self, session_id: str, compiled: CompiledSchema) -> None:
        self.session_id = session_id
        self._compiled = compiled
        self.current: str = compiled.schema.initial_state
        self.visited: list[str] = [self.current]
        self.transitions: list[TransitionRecord] = []
        self.slots: dict[str, Any] = {}

    @property
    def schema(self) -> Schema:
        return self._compiled.schema

    @property
    def compiled(self) -> CompiledSchema:
        return self._compiled

    @property
    def ended(self) -> bool:
        return self._compiled.schema.states[self.current].end

    def classify(self, text: str) -> Classification:
        return self._compiled.classifier.classify(text, self._compiled.intents_of(self.current))

    def process_user_message(self, text: str) -> str:
        """Classify `text` and move on its intent; below the threshold, stay. Returns the state."""
        intent = self.classify(text).intent
        if intent is not None:
            self.transition_to(self._compiled.target_of(self.current, intent), intent)
        return self.current

    def transition_to(self, target: str, intent: str | None = None, *, forced: bool = False) -> None:
        if target not in self._compiled.schema.states:
            raise UnknownStateError(f"unknown state '{target}' in schema '{self.schema.name}'")
        self.transitions.append(TransitionRecord(self.current, target, intent, forced, time.perf_counter()))
        self.current = target
        self.visited.append(target)

    def force(self, target: str) -> None:
        """Move anywhere, recording that the move was forced."""
        self.transition_to(target, forced=True)


class StateManagerFactory:
    """Creates light per-call states that share one compiled schema."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self._compiled = compiled

    def create_state(self, session_id: str) -> ConversationState:
        return ConversationState(session_id, self._compiled)
