"""IntentClassifier: deterministic keyword-then-fuzzy intent matching, built once per schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

if TYPE_CHECKING:
    from engine.schema.model import Intent

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
            name: sorted({f" {normalize(k)} " for k in intent.keywords if normalize(k)}, key=len,
                         reverse=True)
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
        if best.confidence >= self.threshold:
            return best
        return Classification(None, best.confidence, best.matched)

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
