"""Plain yes and no answers: "yep", "sure", "that's right" say what "yes" says, and "nope", "nah",
"not at all" what "no" says. A turn made of nothing but such words (and fillers) is matched as
"yes" or "no" when no keyword of its own matched, so a schema that keys an intent on "yes" takes
all of them, as a listener would."""

from __future__ import annotations

from engine.nlu.keywords import normalize

YES, NO = "yes", "no"
# Normalized (lower case, no apostrophes). Left out on purpose: "okay" and "fine" (an
# acknowledgement as often as an agreement), and "right now" or "no problem" style phrases
# (they are not answers on their own).
AFFIRMATIONS = frozenset({
    "yes", "yeah", "yep", "yup", "yea", "yah", "ya", "aye", "sure", "sure thing", "certainly",
    "definitely", "absolutely", "of course", "correct", "thats correct", "thats right", "right",
    "exactly", "indeed", "uh huh", "mm hm", "mhm", "mm hmm", "you bet", "affirmative", "yes please",
    "yes indeed", "that is correct", "that is right",
})
NEGATIONS = frozenset({
    "no", "nope", "nah", "no thanks", "no thank you", "not at all", "negative", "uh uh", "certainly not",
    "absolutely not", "definitely not", "of course not", "no way", "not really",
})
FILLERS = frozenset({"um", "uh", "er", "erm", "uhm", "oh", "well", "so", "hmm", "mm", "i mean", "i guess",
                     "i think", "thanks", "thank you", "please"})
_PHRASES = AFFIRMATIONS | NEGATIONS | FILLERS
_LONGEST = max(len(phrase.split()) for phrase in _PHRASES)


def plain_answer(text: str) -> str | None:
    """YES or NO when `text` is nothing but affirmations or nothing but negations (fillers aside);
    None for anything else, a question included ("right?")."""
    if text.rstrip().endswith("?"):
        return None
    words = normalize(text).split()
    said: set[str] = set()
    while words:
        size = next((n for n in range(min(_LONGEST, len(words)), 0, -1)
                     if " ".join(words[:n]) in _PHRASES), 0)
        if size == 0:
            return None
        phrase = " ".join(words[:size])
        said |= {YES} if phrase in AFFIRMATIONS else {NO} if phrase in NEGATIONS else set()
        words = words[size:]
    return said.pop() if len(said) == 1 else None
