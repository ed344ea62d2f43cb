"""Latency samples per turn and stage, and the call's performance report."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from engine.events import CallEvent, Latency, Transition


class Stage:
    PRECOMPUTE = "precompute"
    RENDER = "render"
    TRANSITION = "transition"
    CLASSIFY = "classify"
    STT = "stt"
    LLM = "llm"
    TTS = "tts"
    TURN = "turn"  # caller text in -> first bot text out
    VOICE_TO_VOICE = "voice_to_voice"
    VAD_STOP = "vad_stop"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 4) if values else 0.0,
        "p50": round(percentile(values, 50), 4),
        "p95": round(percentile(values, 95), 4),
        "p99": round(percentile(values, 99), 4),
        "max": round(max(values), 4) if values else 0.0,
    }


@dataclass(frozen=True, slots=True)
class LatencySample:
    turn: int
    state: str
    stage: str
    ms: float
    forced: bool
    crossed_transition: bool
    at: float


class LatencyTracker:
    """Collects a call's timings from its event stream; builds the performance report."""

    def __init__(self) -> None:
        self.precompute_ms = 0.0
        self.prompt_renders: list[float] = []
        self.state_transitions: list[dict[str, Any]] = []
        self.samples: list[LatencySample] = []
        self._started: float | None = None
        self._ended: float | None = None

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        if self._started is not None and self._ended is None:
            self._ended = time.perf_counter()

    @property
    def total_call_time_ms(self) -> float:
        if self._started is None:
            return 0.0
        return ((self._ended or time.perf_counter()) - self._started) * 1000

    def observe(self, event: CallEvent) -> None:
        """Event-stream subscriber."""
        if isinstance(event, Latency):
            self._add_sample(event)
        elif isinstance(event, Transition):
            self.state_transitions.append({
                "from": event.source, "to": event.target, "intent": event.intent,
                "ms": round(event.ms, 4), "forced": event.forced, "turn": event.turn,
            })

    def _add_sample(self, event: Latency) -> None:
        self.samples.append(LatencySample(event.turn, event.state, event.stage, event.ms, event.forced,
                                          event.crossed_transition, event.at))
        if event.stage == Stage.RENDER:
            self.prompt_renders.append(event.ms)
        elif event.stage == Stage.PRECOMPUTE:
            self.precompute_ms = event.ms

    def by_stage(self) -> dict[str, list[float]]:
        grouped: dict[str, list[float]] = defaultdict(list)
        for sample in self.samples:
            grouped[sample.stage].append(sample.ms)
        return dict(grouped)

    def schema_overhead_per_turn(self) -> list[float]:
        """Per caller turn: the time the schema layer added (classify, render, transition)."""
        per_turn: dict[int, float] = defaultdict(float)
        for sample in self.samples:
            if sample.stage in (Stage.CLASSIFY, Stage.RENDER, Stage.TRANSITION) and sample.turn > 0:
                per_turn[sample.turn] += sample.ms
        return list(per_turn.values())

    def report(self) -> dict[str, Any]:
        renders = self.prompt_renders
        overhead = self.schema_overhead_per_turn()
        turns_by_kind = self._turns_by_transition()
        return {
            "total_call_time_ms": round(self.total_call_time_ms, 3),
            "precompute_time_ms": round(self.precompute_ms, 4),
            "avg_prompt_render_ms": round(sum(renders) / len(renders), 4) if renders else 0.0,
            "state_transitions": len(self.state_transitions),
            "transition_details": list(self.state_transitions),
            "schema_overhead_estimate_ms": round(max(overhead), 4) if overhead else 0.0,
            "schema_overhead_per_turn": summary(overhead),
            "stages": {stage: summary(values) for stage, values in sorted(self.by_stage().items())},
            "turns": turns_by_kind,
        }

    def _turns_by_transition(self) -> dict[str, dict[str, dict[str, float]]]:
        """Turn latency split by whether the turn crossed a transition."""
        result: dict[str, dict[str, dict[str, float]]] = {}
        for stage in (Stage.TURN, Stage.VOICE_TO_VOICE):
            crossed = [s.ms for s in self.samples if s.stage == stage and s.crossed_transition]
            stayed = [s.ms for s in self.samples if s.stage == stage and not s.crossed_transition]
            if crossed or stayed:
                result[stage] = {"crossed_transition": summary(crossed), "stayed_in_node": summary(stayed)}
        return result
