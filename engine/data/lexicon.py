"""Pronunciation lexicon: replace written forms with how the voice should say them."""

from __future__ import annotations

import re


def _key(written: str) -> str:
    """Lookup key: lower case, runs of whitespace collapsed."""
    return " ".join(written.split()).lower()


class Lexicon:
    """Whole-word, case-insensitive replacement of written forms, longest first, in one regex."""

    def __init__(self, pronunciations: dict[str, str] | None = None) -> None:
        pairs = (pronunciations or {}).items()
        self._spoken = {_key(written): spoken for written, spoken in pairs if _key(written)}
        self._pattern = self._compile(self._spoken) if self._spoken else None
        self._written = {_key(spoken): written for written, spoken in pairs if _key(written) and _key(spoken)}
        self._spoken_pattern = self._compile(self._written) if self._written else None

    @staticmethod
    def _compile(forms: dict[str, str]) -> re.Pattern[str]:
        by_length = sorted(forms, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(re.escape, written.split())) for written in by_length)
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __len__(self) -> int:
        return len(self._spoken)

    def apply(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        return self._spoken.get(_key(match.group()), match.group())

    def restore(self, text: str) -> str:
        """The written words back in place of their spoken forms (what a reader should see)."""
        if self._spoken_pattern is None or not text:
            return text
        written = self._written
        return self._spoken_pattern.sub(lambda match: written.get(_key(match.group()), match.group()), text)
