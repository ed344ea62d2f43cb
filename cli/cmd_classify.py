"""`voice-console classify`: what the intent classifier makes of caller turns, and why."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.errors import UnknownStateError
from engine.nlu import Classification, IntentClassifier, clarifying_question


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("classify",
                            help="classify caller turns at a state: intent, confidence, candidates")
    parser.add_argument("schema", type=Path)
    parser.add_argument("--state", required=True, help="the state whose intents the turn may mean")
    parser.add_argument("text", help="the caller's turn, or - to read one turn per line from standard input")
    parser.add_argument("--json", action="store_true", help="one JSON object per turn")
    parser.set_defaults(run=run_classify)


def run_classify(args: argparse.Namespace) -> int:
    from engine.schema.compiled import load_schema

    compiled = load_schema(args.schema)
    if args.state not in compiled.schema.nodes:
        raise UnknownStateError(f"unknown node '{args.state}' in schema '{compiled.name}' (nodes: "
                                f"{', '.join(compiled.schema.nodes)})")
    candidates = compiled.intents_of(args.state)
    classifier = compiled.classifier
    turns = (line.rstrip("\n") for line in sys.stdin) if args.text == "-" else iter([args.text])
    for text in turns:
        decided = classifier.classify(text, candidates)
        print(json.dumps(as_json(text, decided, classifier)) if args.json else as_line(decided, classifier),
              flush=True)
    return 0


def as_json(text: str, decided: Classification, classifier: IntentClassifier) -> dict[str, Any]:
    return {"text": text, "intent": decided.intent, "confidence": decided.confidence,
            "margin": decided.margin, "rule": decided.rule.value, "matched": decided.matched,
            "mode": classifier.mode.value,
            "candidates": [{"intent": c.intent, "score": c.score} for c in decided.candidates],
            "asks": list(decided.tie) if decided.tie else None}


def as_line(decided: Classification, classifier: IntentClassifier) -> str:
    scores = ", ".join(f"{c.intent} {c.score:.3f}" for c in decided.candidates) or "none"
    line = (f"{decided.intent or '(none)'}  confidence {decided.confidence:.3f}  "
            f"margin {decided.margin:.3f}  rule {decided.rule.value}  candidates: {scores}")
    if decided.matched:
        line += f"  matched: {decided.matched!r}"
    if decided.tie:
        line += f"  asks: {clarifying_question(classifier.intents, decided.tie)}"
    return line
