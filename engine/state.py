"""Call state: the intent classifier and the light per-call ConversationState."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

from engine.errors import UnknownStateError

if TYPE_CHECKING:
    from engine.schema.compiled import CompiledSchema
    from engine.schema.model import Intent, Schema

KEYWORD_CONFIDENCE = 0.9
DEFAULT_THRESHOLD = 0.62
_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower case, apostrophes dropped, other punctuation to spaces, single-spaced."""
    lowered = text.lower().replace("'", "").replace("\u2019", "")
    return _SPACES.sub(" ", _NON_WORD.sub(" ", lowered)).strip()


@dataclass(frozen=True, slots=True)
class Classification:
    intent: str | None
    confidence: float
    matched: str = ""  # the keyword or example that decided it


NO_MATCH = Classification(None, 0.0)


class IntentClassifier:
    """Deterministic keyword-then-fuzzy classifier, built once per schema."""

    def __init__(self, intents: dict[str, Intent], threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._keywords = {
            name: sorted({f" {normalize(k)} " for k in intent.keywords if normalize(k)}, key=len, reverse=True)
            for name, intent in intents.items()
        }
        self._examples = {name: [normalize(e) for e in intent.examples] for name, intent in intents.items()}

    def classify(self, text: str, candidates: tuple[str, ...]) -> Classification:
        """The best of `candidates` for `text`, or no intent below the threshold."""
        words = normalize(text)
        if not words or not candidates:
            return NO_MATCH
        by_keyword = self._match_keyword(f" {words} ", candidates)
        if by_keyword is not None:
            return by_keyword
        best = self._match_examples(words, candidates)
        return best if best.confidence >= self.threshold else Classification(None, best.confidence, best.matched)

    def _match_keyword(self, padded: str, candidates: tuple[str, ...]) -> Classification | None:
        best: tuple[int, str, str] | None = None
        for intent in candidates:
            for keyword in self._keywords[intent]:
                if keyword in padded:
                    if best is None or len(keyword) > best[0]:
                        best = (len(keyword), intent, keyword.strip())
                    break
        return Classification(best[1], KEYWORD_CONFIDENCE, best[2]) if best else None

    def _match_examples(self, words: str, candidates: tuple[str, ...]) -> Classification:
        choices = [(intent, example) for intent in candidates for example in self._examples[intent]]
        found = process.extractOne(words, [example for _, example in choices], scorer=fuzz.token_sort_ratio)
        if found is None:
            return NO_MATCH
        _, score, index = found
        return Classification(choices[index][0], round(score / 100, 3), choices[index][1])


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
