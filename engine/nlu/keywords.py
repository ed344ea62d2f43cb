"""The keyword stage: a schema keyword in the turn, then a close fuzzy match of an example."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from engine.nlu.result import KEYWORD_CONFIDENCE, Candidate, Classification, Rule

if TYPE_CHECKING:
    from engine.schema.model import Intent

FUZZY_THRESHOLD = 0.62  # keywords mode: the closest example decides from here
EXAMPLE_COPY_THRESHOLD = 0.9  # semantic mode: only a near copy of an example skips the embeddings
_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower case, apostrophes dropped, other punctuation to spaces, single-spaced."""
    lowered = text.lower().replace("'", "").replace("\u2019", "")
    return _SPACES.sub(" ", _NON_WORD.sub(" ", lowered)).strip()


class KeywordStage:
    """Deterministic keyword-then-fuzzy matching, built once per schema."""

    def __init__(self, intents: dict[str, Intent], threshold: float = FUZZY_THRESHOLD) -> None:
        self.threshold = threshold
        self._keywords = {
            name: sorted({f" {normalize(k)} " for k in intent.keywords if normalize(k)}, key=len,
                         reverse=True)
            for name, intent in intents.items()
        }
        self._examples = {name: [normalize(e) for e in intent.examples] for name, intent in intents.items()}

    def keyword(self, words: str, candidates: tuple[str, ...]) -> Classification | None:
        """The candidate with the longest keyword found in the normalized `words`, if any."""
        padded = f" {words} "
        best: tuple[int, str, str] | None = None
        for intent in candidates:
            for keyword in self._keywords[intent]:
                if keyword in padded:
                    if best is None or len(keyword) > best[0]:
                        best = (len(keyword), intent, keyword.strip())
                    break
        if best is None:
            return None
        return Classification(best[1], KEYWORD_CONFIDENCE, best[2], rule=Rule.KEYWORD,
                              candidates=(Candidate(best[1], KEYWORD_CONFIDENCE),))

    def copies_example(self, words: str, intent: str) -> bool:
        """Whether the normalized `words` are a near copy of one of `intent`'s own examples."""
        return any(fuzz.token_sort_ratio(words, example) >= EXAMPLE_COPY_THRESHOLD * 100
                   for example in self._examples[intent])

    def fuzzy(self, words: str, candidates: tuple[str, ...]) -> Classification:
        """The closest example by token-sorted edit ratio; an intent only at or above the threshold."""
        choices = [(intent, example) for intent in candidates for example in self._examples[intent]]
        found = process.extractOne(words, [example for _, example in choices], scorer=fuzz.token_sort_ratio)
        if found is None:
            return Classification(None, 0.0, rule=Rule.NO_MATCH)
        _, score, index = found
        intent, example = choices[index]
        confidence = round(score / 100, 3)
        accepted = confidence >= self.threshold
        return Classification(intent if accepted else None, confidence, example,
                              rule=Rule.FUZZY if accepted else Rule.BELOW_THRESHOLD,
                              candidates=(Candidate(intent, confidence),))
