"""Does a caller turn mention a symptom? Guards "all clear" intents taken by similarity alone."""

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
