"""The NLU bench: the hand-written caller turns of tests/data/nlu/, classified with the semantic
stage and with the keyword-only baseline in the same run.

The set has two halves: `dev/`, on which the decision rule's numbers were chosen, and `heldout/`,
written before that and never tuned on; the targets are checked on the held-out half. Reports
accuracy on paraphrases, the wrong-intent rate (overall and on safety intents), off-topic
rejection, classify latency, and, from a fresh process, the model's load time and added memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.latency import percentile
from engine.nlu import IntentClassifier, NluMode
from engine.paths import bundled_schemas
from engine.schema.compiled import CompiledSchema, load_schema

NLU_SET_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "nlu"
DEV, HELD_OUT = "dev", "heldout"
RECOGNISED_KINDS = ("paraphrase", "disfluent")
TARGETS = {
    "nlu_paraphrase_accuracy": (">=", 0.80),
    "nlu_wrong_intent_rate": ("<=", 0.02),
    "nlu_safety_wrong": ("<=", 0),
    "nlu_offtopic_rejected": (">=", 0.85),
    "nlu_classify_p99_ms": ("<=", 5.0),
    "nlu_load_s": ("<=", 1.5),
    "nlu_added_memory_mb": ("<=", 250.0),
}


@dataclass(frozen=True, slots=True)
class NluTurn:
    schema: str
    state: str
    text: str
    expect: str | None
    kind: str  # paraphrase, disfluent, safety, offtopic or ambiguous


def load_nlu_set(split: str = HELD_OUT, directory: Path = NLU_SET_DIR) -> list[NluTurn]:
    """The turns of one half of the set: DEV or HELD_OUT."""
    turns = []
    for path in sorted((directory / split).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        turns += [NluTurn(data["schema"], t["state"], t["text"], t["expect"], t["kind"])
                  for t in data["turns"]]
    return turns


@dataclass(frozen=True, slots=True)
class Outcome:
    turn: NluTurn
    intent: str | None
    asked: bool  # a clarifying question on a near tie
    rule: str
    ms: float
    embedded: bool  # went past the keyword and example stages to the model


def classify_set(turns: list[NluTurn], mode: NluMode, repeat: int = 3) -> list[Outcome]:
    """Each turn through a classifier of `mode`, timed `repeat` times (the fastest is kept)."""
    schemas = {c.name: c for c in (load_schema(path) for path in bundled_schemas())}
    classifiers = {name: IntentClassifier(c.schema.intents, mode) for name, c in schemas.items()}
    for classifier in classifiers.values():
        classifier.wait_ready()
    outcomes = []
    for turn in turns:
        classifier, candidates = classifiers[turn.schema], schemas[turn.schema].intents_of(turn.state)
        timings = []
        embedded = classifier.needs_model(turn.text, candidates)
        for _ in range(repeat):
            started = time.perf_counter()
            decided = classifier.classify(turn.text, candidates)
            timings.append((time.perf_counter() - started) * 1000)
        outcomes.append(Outcome(turn, decided.intent, decided.tie is not None, decided.rule, min(timings),
                                embedded))
    return outcomes


def score(outcomes: list[Outcome], schemas: dict[str, CompiledSchema]) -> dict[str, Any]:
    def safety(schema: str, intent: str | None) -> bool:
        return intent is not None and schemas[schema].schema.intents[intent].safety is not None

    recognisable = [o for o in outcomes if o.turn.kind in RECOGNISED_KINDS]
    offtopic = [o for o in outcomes if o.turn.kind == "offtopic"]
    wrong = [o for o in outcomes if o.intent is not None and o.intent != o.turn.expect]
    safety_wrong = [o for o in wrong
                    if safety(o.turn.schema, o.intent) or safety(o.turn.schema, o.turn.expect)]
    safety_expected = [o for o in outcomes if safety(o.turn.schema, o.turn.expect)]
    timings = [o.ms for o in outcomes]
    embedded = [o.ms for o in outcomes if o.embedded] or [0.0]
    return {
        "turns": len(outcomes),
        "paraphrase_accuracy": _share(sum(o.intent == o.turn.expect for o in recognisable),
                                      len(recognisable)),
        "paraphrase_recognised_or_asked": _share(
            sum(o.intent == o.turn.expect or o.asked for o in recognisable), len(recognisable)),
        "wrong_intent_rate": _share(len(wrong), len(outcomes)),
        "wrong_intents": len(wrong),
        "safety_wrong": len(safety_wrong),
        "safety_recognised": _share(sum(o.intent == o.turn.expect for o in safety_expected),
                                    len(safety_expected)),
        "offtopic_rejected": _share(sum(o.intent is None and not o.asked for o in offtopic), len(offtopic)),
        "clarifying_questions": sum(o.asked for o in outcomes),
        "embedded_min_ms": round(min(embedded), 3),  # the model's cost on the least loaded moment
        "embedded_p50_ms": round(percentile(embedded, 50), 3),
        "embedded_p99_ms": round(percentile(embedded, 99), 3),
        "classify_p50_ms": round(percentile(timings, 50), 3),
        "classify_p99_ms": round(percentile(timings, 99), 3),
        "wrong": [f"{o.turn.schema}/{o.turn.state}: {o.turn.text!r} -> {o.intent} ({o.rule}), "
                  f"expected {o.turn.expect}" for o in wrong],
    }


def _share(count: int, total: int) -> float:
    return round(count / total, 3) if total else 0.0


def measure_load() -> dict[str, float]:
    """Model load time and added memory, in a fresh process (this one may hold the model already)."""
    code = "import json, bench.nlu as n; print(json.dumps(n.load_figures()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def load_figures() -> dict[str, float]:
    """Run in a fresh process: load the bundled schemas, then the model and every example embedding."""
    from engine.nlu.anchors import OFF_TOPIC_ANCHORS
    from engine.nlu.encoder import Encoder

    schemas = [load_schema(path) for path in bundled_schemas()] if _keywords_only() else []
    before = _rss_mb()
    started = time.perf_counter()
    encoder = Encoder()
    loaded = time.perf_counter()
    for compiled in schemas:
        intents = compiled.schema.intents.values()
        encoder.embed_examples([t for intent in intents for t in (*intent.examples, intent.description)])
    encoder.embed_examples(list(OFF_TOPIC_ANCHORS))
    embedded = time.perf_counter()
    return {"load_s": round(loaded - started, 3), "embed_examples_s": round(embedded - loaded, 3),
            "added_memory_mb": round(_rss_mb() - before, 1)}


def _keywords_only() -> bool:
    import os

    from engine.nlu import NLU_ENV

    os.environ[NLU_ENV] = NluMode.KEYWORDS.value  # load the schemas without building their index
    return True


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_nlu(repeat: int = 3) -> dict[str, Any]:
    """The held-out half's figures at the top (`semantic`, `keywords`), the dev half's under `dev`."""
    schemas = {c.name: c for c in (load_schema(path) for path in bundled_schemas())}
    load_before = os.getloadavg()[0]
    halves = {split: {mode.value: score(classify_set(load_nlu_set(split), mode, repeat), schemas)
                      for mode in NluMode} for split in (HELD_OUT, DEV)}
    load_average = (round(load_before, 2), round(os.getloadavg()[0], 2))  # latency is relative to it
    return {**halves[HELD_OUT], DEV: halves[DEV], "model": measure_load(), "load_average": load_average}


def nlu_figures(nlu: dict[str, Any]) -> dict[str, Any]:
    """The figures checked against TARGETS."""
    semantic = nlu["semantic"]
    return {"nlu_paraphrase_accuracy": semantic["paraphrase_accuracy"],
            "nlu_wrong_intent_rate": semantic["wrong_intent_rate"],
            "nlu_safety_wrong": semantic["safety_wrong"],
            "nlu_offtopic_rejected": semantic["offtopic_rejected"],
            "nlu_classify_p99_ms": semantic["classify_p99_ms"], "nlu_load_s": nlu["model"]["load_s"],
            "nlu_added_memory_mb": nlu["model"]["added_memory_mb"]}


def print_nlu(nlu: dict[str, Any]) -> None:
    if "skipped" in nlu:
        print(f"NLU: skipped ({nlu['skipped']})")
        return
    _print_half("held-out", nlu["semantic"], nlu["keywords"])
    _print_half("dev", nlu[DEV]["semantic"], nlu[DEV]["keywords"])
    model = nlu["model"]
    before, after = nlu.get("load_average", (0.0, 0.0))
    print(f"  load average {before} before, {after} after the run (2 cores; latency is relative to it)")
    print(f"  model load {model['load_s']} s, example embeddings {model['embed_examples_s']} s, "
          f"+{model['added_memory_mb']} MB")


def _print_half(half: str, semantic: dict[str, Any], keywords: dict[str, Any]) -> None:
    print(f"NLU {half} set ({semantic['turns']} caller turns){'':6} {'semantic':>10} {'keywords':>10}")
    for label, key in (("paraphrases recognised", "paraphrase_accuracy"),
                       ("  ... or asked about (near tie)", "paraphrase_recognised_or_asked"),
                       ("wrong intent rate", "wrong_intent_rate"),
                       ("wrong intents (of which safety)", "wrong_intents"),
                       ("safety intents recognised", "safety_recognised"),
                       ("off-topic rejected", "offtopic_rejected"),
                       ("clarifying questions", "clarifying_questions"),
                       ("classify p50 ms", "classify_p50_ms"), ("classify p99 ms", "classify_p99_ms"),
                       ("  turns through the model: fastest ms", "embedded_min_ms"),
                       ("  turns through the model: p50 ms", "embedded_p50_ms"),
                       ("  turns through the model: p99 ms", "embedded_p99_ms")):
        shown = [f"{run[key]} ({run['safety_wrong']})" if key == "wrong_intents" else str(run[key])
                 for run in (semantic, keywords)]
        print(f"  {label:40} {shown[0]:>10} {shown[1]:>10}")
    for line in semantic["wrong"]:
        print(f"  wrong: {line}")
