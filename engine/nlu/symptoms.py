"""What the safety guards look for in a turn: a symptom named, or a question asked."""

from __future__ import annotations

from engine.nlu.keywords import normalize

# Word beginnings ("dizz" covers dizzy and dizziness); matched at the start of a word.
SYMPTOM_STEMS = (
    "ache", "aching", "pain", "hurt", "sore", "tender", "sting", "burn", "dizz", "lighthead", "faint",
    "blacked out", "passed out", "nause", "queas", "vomit", "throw up", "throwing up", "sick", "bleed",
    "blood", "fever", "temperature", "chill", "swell", "swollen", "puff", "breath", "wheez", "gasp",
    "cough", "rash", "itch", "hives", "numb", "tingl", "cramp", "headache", "migraine", "chest", "heart",
    "racing", "pounding", "palpitat", "tight", "tired", "exhaust", "weak", "fatigue", "confus", "muddled",
    "diarrh", "constipat", "heartburn", "indigestion", "stomach", "tummy", "bloat", "oozing", "leaking",
    "discharge", "infect", "pus", "drows", "sleepy", "insomnia", "woozy", "shak", "tremor", "seizure",
    "stroke", "slurr", "droop", "vision", "blurr",
)


def mentions_symptom(text: str) -> bool:
    padded = f" {normalize(text)}"
    return any(f" {stem}" in padded for stem in SYMPTOM_STEMS)


_QUESTION_WORDS = ("who", "whos", "what", "whats", "why", "how", "where", "when", "which")


_YES_NO_STARTS = ("is", "are", "am", "do", "does", "did", "can", "could", "will", "would", "have", "has")


def is_question(text: str) -> bool:
    words = normalize(text).split()
    return text.rstrip().endswith("?") or bool(words) and words[0] in _QUESTION_WORDS


def before_question(text: str) -> str:
    """The normalized words said before the turn's question begins ("yes, who's calling?" -> "yes");
    all of them when the turn asks nothing."""
    words = normalize(text).split()
    if not is_question(text):
        return " ".join(words)
    if words and words[0] in _YES_NO_STARTS:
        return ""
    start = next((i for i, word in enumerate(words) if word in _QUESTION_WORDS), len(words))
    return " ".join(words[:start])
