"""The schema's intent classifier lives in `engine.nlu`; these names stay importable from here."""

from engine.nlu import NO_MATCH, Classification, IntentClassifier, normalize

__all__ = ["NO_MATCH", "Classification", "IntentClassifier", "normalize"]
