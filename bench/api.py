"""Concurrent text calls through the HTTP API: throughput, turn times, and lost events."""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from engine.api import create_app, serving
from engine.latency import percentile
from engine.paths import PATIENTS_DIR, SCHEMAS_DIR, default_patient_for
from engine.patients import JsonFolderPatientStore

BENCH_SCHEMA = "appointment_reminder"
BENCH_TURNS = ("hmm", "yes, this is me")


@dataclass
class CallRun:
    turn_ms: list[float]
    lost_events: int


async def bench_api_concurrency(n_calls: int = 200) -> dict[str, Any]:
    """`n_calls` calls at once through a real server on 127.0.0.1; each starts, takes two turns, stops."""
    patient = default_patient_for(BENCH_SCHEMA)
    if patient is None:
        raise FileNotFoundError(f"no bundled patient for {BENCH_SCHEMA}")
    app = create_app(patients=JsonFolderPatientStore(PATIENTS_DIR), schemas_dir=SCHEMAS_DIR)
    async with serving(app) as url:
        started = time.perf_counter()
        runs = await asyncio.gather(*(caller(url, BENCH_SCHEMA, patient.stem) for _ in range(n_calls)))
        seconds = time.perf_counter() - started
    turn_ms = [ms for run in runs for ms in run.turn_ms]
    return {
        "calls": n_calls,
        "turns": len(turn_ms),
        "seconds": round(seconds, 3),
        "turns_per_s": round(len(turn_ms) / seconds, 1),
        "turn_p50_ms": round(percentile(turn_ms, 50), 2),
        "turn_p99_ms": round(percentile(turn_ms, 99), 2),
        "lost_events": sum(run.lost_events for run in runs),
    }


async def caller(url: str, schema: str, patient_id: str, turns: tuple[str, ...] = BENCH_TURNS) -> CallRun:
    """One operator with a client of its own (a pool shared by hundreds of connections slows each request)."""
    async with httpx.AsyncClient(base_url=url, timeout=60, verify=_tls()) as client:
        return await run_call(client, schema, patient_id, turns)


async def run_call(client: httpx.AsyncClient, schema: str, patient_id: str,
                   turns: tuple[str, ...] = BENCH_TURNS) -> CallRun:
    """One call through the API; counts what its events, its report and the client disagree on."""
    start = await _ok(client.post("/start-call", json={"patient_id": patient_id, "schema": schema}))
    session_id, bot_lines = start["session_id"], len(start["bot"])
    turn_ms = []
    for text in turns:
        began = time.perf_counter()
        reply = await _ok(client.post(f"/calls/{session_id}/turn", json={"text": text}))
        turn_ms.append((time.perf_counter() - began) * 1000)
        bot_lines += len(reply["bot"])
    await _ok(client.delete(f"/calls/{session_id}"))
    report = await _ok(client.get(f"/call-performance/{session_id}"))
    events = (await _ok(client.get(f"/calls/{session_id}/events")))["events"]
    return CallRun(turn_ms, lost_events(events, report, bot_lines))


@functools.cache
def _tls() -> ssl.SSLContext:
    """Unused over http, yet each client would build (slowly) one of its own."""
    return ssl.create_default_context()


def lost_events(events: list[dict[str, Any]], report: dict[str, Any], bot_lines_seen: int) -> int:
    """Gaps in the event sequence, plus every count the history and the report (or client) differ on."""
    seqs = {event["seq"] for event in events}
    gaps = max(seqs, default=0) - len(seqs)
    kinds = Counter(event["kind"] for event in events)
    stages = Counter(event["stage"] for event in events if event["kind"] == "latency")
    reported = {stage: values["count"] for stage, values in report["stages"].items()}
    pairs = [(report["state_transitions"], kinds["transition"]), (report["turns"], kinds["user_turn"]),
             (bot_lines_seen, kinds["bot_turn"])]
    pairs += [(reported.get(stage, 0), stages[stage]) for stage in set(stages) | set(reported)]
    mismatches: int = sum(abs(a - b) for a, b in pairs)
    return gaps + mismatches


async def _ok(request: Any) -> dict[str, Any]:
    response = await request
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body
