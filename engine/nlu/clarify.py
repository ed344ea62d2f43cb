"""The clarifying question on a near tie: "Do you mean ..., or ...?" in the schema's own words."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.schema.model import Intent


def clarifying_question(intents: dict[str, Intent], tie: tuple[str, str]) -> str:
    """Names both intents by their first example phrase."""
    first, second = (_phrase(intents[name]) for name in tie)
    return f"Sorry, I want to be sure I understood. Do you mean \u201c{first}\u201d, or \u201c{second}\u201d?"


def _phrase(intent: Intent) -> str:
    return intent.examples[0].strip().rstrip(".?!")
