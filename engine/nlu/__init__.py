"""Offline understanding of caller turns: keyword stage, embedding stage, decision rule."""

from engine.nlu.clarify import ClarifyingTurns, clarifying_question
from engine.nlu.classifier import IntentClassifier
from engine.nlu.decision import ALERT, ALL_CLEAR, DecisionRule
from engine.nlu.keywords import normalize
from engine.nlu.mode import NLU_ENV, NluMode, nlu_mode, using_mode
from engine.nlu.result import NO_MATCH, Candidate, Classification, Rule

__all__ = ["ALERT", "ALL_CLEAR", "NLU_ENV", "NO_MATCH", "Candidate", "ClarifyingTurns", "Classification",
           "DecisionRule", "IntentClassifier", "NluMode", "Rule", "clarifying_question", "nlu_mode",
           "normalize", "using_mode"]
