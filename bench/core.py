"""`voice-console bench`: the engine's hot paths, each beside a baseline run in the same process.

A benchmark, not a test: it prints p50/p99 figures and whether each meets its
target; with `--json` the last line is one JSON object of the figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.flow_export import bench_exported_transitions
from bench.flow_in import bench_flow_transitions
from bench.nlu import TARGETS as NLU_TARGETS
from bench.nlu import nlu_figures, print_nlu
from engine.latency import percentile
from engine.paths import PATIENTS_DIR, bundled_schemas
from engine.precompute import DataPrecomputer, Precomputed
from engine.prompts import PROMPT
from engine.schema.compiled import CompiledEntry, CompiledSchema, load_schema
from engine.schema.model import Branch

US = 1e6
MS = 1e3


@dataclass
class Figures:
    """Timings in seconds, by name."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def p(self, name: str, q: float, unit: float) -> float:
        return round(percentile(self.samples[name], q) * unit, 3)


def time_call(function: Callable[[], Any], repeat: int) -> list[float]:
    """Per-call timings, with the garbage collector paused as `timeit` does."""
    timings = []
    clock = time.perf_counter
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            started = clock()
            function()
            timings.append(clock() - started)
    finally:
        if gc_was_enabled:
            gc.enable()
    return timings


async def time_async(function: Callable[[], Awaitable[Any]], repeat: int,
                     between: Callable[[], Awaitable[Any]] | None = None) -> list[float]:
    timings = []
    clock = time.perf_counter
    for _ in range(repeat):
        started = clock()
        await function()
        timings.append(clock() - started)
        if between is not None:
            await between()
    return timings


def richest_patient(compiled: CompiledSchema) -> tuple[str, dict[str, Any]]:
    """The bundled patient of this schema with the most data, validated."""
    from engine.patients import load_patient

    candidates = [load_patient(p) for p in sorted(PATIENTS_DIR.glob(f"{compiled.name}__*.json"))]
    best = max(candidates, key=lambda p: len(json.dumps(p.data)))
    return best.id, best.validated(compiled)


# ----- precompute and render -------------------------------------------------------------------

def bench_precompute(compiled: CompiledSchema, record: dict[str, Any], repeat: int) -> list[float]:
    precomputer = DataPrecomputer(compiled)
    return time_call(lambda: precomputer.precompute_all(record), repeat)


def format_baseline(text: str, values: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A str.format string that yields `text` from the record's scalar values."""
    fmt = text.replace("{", "{{").replace("}", "}}")
    used: dict[str, str] = {}
    scalars = {k: v for k, v in values.items() if isinstance(v, str) and len(v) >= 3}
    for name, value in sorted(scalars.items(), key=lambda item: len(item[1]), reverse=True):
        escaped = value.replace("{", "{{").replace("}", "}}")
        if escaped in fmt:
            fmt = fmt.replace(escaped, "{" + name + "}")
            used[name] = value
    return fmt, used


def bench_render(compiled: CompiledSchema, precomputed: Precomputed, repeat: int, figures: Figures) -> None:
    renderer = compiled.renderer
    for state in compiled.schema.nodes:
        figures.samples.setdefault("render", []).extend(
            time_call(partial(renderer.render_state_prompt, state, precomputed), repeat))
        template = renderer.template(state, PROMPT).template
        context = {**precomputed.values, "slots": {}}
        jinja = time_call(partial(template.render, context), repeat)
        figures.samples.setdefault("render_jinja", []).extend(jinja)
        text = renderer.render(state, PROMPT, precomputed)
        fmt, used = format_baseline(text, dict(precomputed.values))
        assert fmt.format(**used) == text
        figures.samples.setdefault("render_str_format", []).extend(
            time_call(partial(fmt.format, **used), repeat))


# ----- transitions on a real FlowManager --------------------------------------------------------

async def bench_transitions(compiled: CompiledSchema, record: dict[str, Any], repeat: int,
                            figures: Figures) -> None:
    from engine.calls import call_for_record

    call = call_for_record(compiled, record, "bench")
    await asyncio.to_thread(compiled.classifier.wait_ready)  # not the model's warm-up on another thread
    await call.start()
    session, conversation, flow_manager = call.session, call.conversation, call.flow_manager
    if flow_manager is None:
        raise RuntimeError("the bench call has no FlowManager after start()")
    steps = _walk(compiled, call.precomputed.values)
    try:
        for index in range(repeat):
            source, intent, text = steps[index % len(steps)]
            if conversation.current != source:
                await flow_manager.set_node_from_config(session.force(source))
                await settle()
            conversation.attempts.clear()
            started = time.perf_counter()
            decided = conversation.classify(text)
            entry = compiled.entry(source, decided.intent or intent)
            arguments = spoken_arguments(entry, text, session.precomputed.record)
            _, node = session.call_function(source, entry, arguments)
            if node is None:
                raise RuntimeError(f"transition {source} -> {intent} gave no node")
            await flow_manager.set_node_from_config(node)
            figures.add("transition", time.perf_counter() - started)
            await settle()
            precomposed = session.node(conversation.current)
            started = time.perf_counter()
            await flow_manager.set_node_from_config(precomposed)
            figures.add("set_node_bare", time.perf_counter() - started)
            await settle()
    finally:
        await call.stop()


def exported_steps(compiled: CompiledSchema, record: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The transitions bench_transitions takes, as (node, tool, arguments) for an exported flow."""
    values = DataPrecomputer(compiled).precompute_all(record).values
    walked = _walk(compiled, values)
    entries = [(source, compiled.entry(source, intent), text) for source, intent, text in walked]
    return [(source, entry.tool, spoken_arguments(entry, text, record)) for source, entry, text in entries]


def spoken_arguments(entry: CompiledEntry, text: str, record: dict[str, Any]) -> dict[str, Any]:
    """The entry's unbound parameters parsed from `text`, as the scripted responder fills them."""
    from engine.functions import from_speech

    parameters = entry.function.parameters if entry.function else {}
    found = {name: from_speech(p, text, record) for name, p in parameters.items() if name in entry.properties}
    return {name: value for name, value in found.items() if value is not None}


async def settle() -> None:
    """Let the pipeline process what the last node queued, so no iteration measures a backlog."""
    await asyncio.sleep(0.002)


def _walk(compiled: CompiledSchema, values: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every intent whose function leads only to nodes that do not end the call, with a caller turn:
    the intent's first example, or for a verify function the record's value as spoken (a date of birth),
    so the bench takes branches on results, verifies spoken dates and passes through decision nodes."""
    steps = []
    for source in compiled.schema.nodes:
        for entry in compiled.entries_of(source):
            if entry.intent is None or not entry.targets():
                continue
            text = compiled.schema.intents[entry.intent].examples[0]
            verify = entry.function.verify if entry.function else None
            if verify is not None:
                text = str(values[verify.against])
            if compiled.classifier.classify(text, compiled.intents_of(source)).intent != entry.intent:
                continue
            if not any(_ends(compiled, t, values) for t in _reached(compiled, entry, values)):
                steps.append((source, entry.intent, text))
    return steps


def _reached(compiled: CompiledSchema, entry: CompiledEntry, values: dict[str, Any]) -> list[str]:
    """Where a successful call of the entry leads: a verify branch on `verified: true`, else every target."""
    branch = entry.transition_to
    if isinstance(branch, Branch) and branch.field == "verified":
        return [branch.target_for(True) or entry.node]
    return entry.targets()


def _ends(compiled: CompiledSchema, node: str, values: dict[str, Any]) -> bool:
    """Whether entering `node` ends the call, following decision nodes (any case may be taken)."""
    decide = compiled.node(node).decide
    if decide is None:
        return compiled.is_ending(node)
    return any(_ends(compiled, t, values) for t in decide.targets() if t != node)


# ----- call states ----------------------------------------------------------------------------

def bench_call_states(compiled: CompiledSchema, count: int) -> dict[str, float]:
    from engine.state import StateManagerFactory

    factory = StateManagerFactory(compiled)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    started = time.perf_counter()
    states = [factory.create_state(f"s{i}") for i in range(count)]
    elapsed = time.perf_counter() - started
    for state in states[: count // 2]:
        state.transition_to(compiled.edges()[0][2], compiled.edges()[0][1])
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return {"count": count, "create_ms": round(elapsed * MS, 3), "memory_mb": round(size / 2**20, 3),
            "bytes_per_state": round(size / count, 1)}


# ----- text turns -----------------------------------------------------------------------------

async def bench_text_turns(compiled: CompiledSchema, calls: int) -> dict[str, list[float]]:
    """Whole text calls: caller text in -> bot text out, scripted responder."""
    from engine.calls import call_for_record
    from engine.latency import Stage

    record = richest_patient(compiled)[1]
    turns: list[float] = []
    overhead: list[float] = []
    steps = _walk(compiled, DataPrecomputer(compiled).precompute_all(record).values)
    for _ in range(calls):
        call = call_for_record(compiled, record, "bench")
        await asyncio.to_thread(compiled.classifier.wait_ready)
        await call.start()
        for source, _intent, text in steps[:8]:
            if call.conversation.current != source:
                await call.force(source)
            await call.step(text)
        await call.stop()
        turns += [s.ms for s in call.latency_tracker.samples if s.stage == Stage.TURN]
        overhead += call.latency_tracker.schema_overhead_per_turn()
    return {"turn": turns, "overhead": overhead}


# ----- the run --------------------------------------------------------------------------------

TARGETS = {
    "precompute_p99_ms": ("<=", 1.0),
    "render_p99_us": ("<=", 25.0),
    "transition_p99_ms": ("<=", 0.5),
    "transition_vs_bare_p99_ratio": ("<=", 5.0),
    "exported_transition_vs_bare_p99_ratio": ("<=", 5.0),
    "flow_transition_vs_bare_p99_ratio": ("<=", 5.0),
    "call_states_10k_memory_mb": ("<=", 50.0),
    "schema_overhead_per_turn_p99_ms": ("<", 50.0),
    "api_lost_events": ("<=", 0),
    "voice_to_voice_p50_ms": ("<=", 450.0),
    "voice_to_voice_p95_ms": ("<=", 650.0),
    "voice_turns_split": ("<=", 0),
    "gui_event_loop_lag_p99_ms": ("<=", 16.0),
    **NLU_TARGETS,
}


def check_targets(results: dict[str, Any]) -> dict[str, bool]:
    verdicts = {}
    for key, (op, limit) in TARGETS.items():
        value = results.get(key)
        if value is not None:
            verdicts[key] = {"<=": value <= limit, ">=": value >= limit, "<": value < limit}[op]
    return verdicts


async def collect(quick: bool) -> dict[str, Any]:
    repeat = 200 if quick else 2000
    figures = Figures()
    results: dict[str, Any] = {"schemas": []}
    for path in bundled_schemas():
        compiled = load_schema(path)
        _, record = richest_patient(compiled)
        figures.samples.setdefault("precompute", []).extend(bench_precompute(compiled, record, repeat))
        precomputed = DataPrecomputer(compiled).precompute_all(record)
        bench_render(compiled, precomputed, max(50, repeat // 10), figures)
        await bench_transitions(compiled, record, max(50, repeat // 10), figures)
        await bench_exported_transitions(compiled, record, exported_steps(compiled, record),
                                         max(50, repeat // 10), figures.samples, settle)
        turns = await bench_text_turns(compiled, 2 if quick else 10)
        figures.samples.setdefault("text_turn", []).extend(s / MS for s in turns["turn"])
        figures.samples.setdefault("overhead", []).extend(s / MS for s in turns["overhead"])
        results["schemas"].append(compiled.name)
    await bench_flow_transitions(max(50, repeat // 10), figures.samples)
    results.update(
        precompute_p50_ms=figures.p("precompute", 50, MS), precompute_p99_ms=figures.p("precompute", 99, MS),
        render_p50_us=figures.p("render", 50, US), render_p99_us=figures.p("render", 99, US),
        render_jinja_p50_us=figures.p("render_jinja", 50, US),
        render_jinja_p99_us=figures.p("render_jinja", 99, US),
        render_str_format_p50_us=figures.p("render_str_format", 50, US),
        render_str_format_p99_us=figures.p("render_str_format", 99, US),
        transition_p50_ms=figures.p("transition", 50, MS), transition_p99_ms=figures.p("transition", 99, MS),
        set_node_bare_p50_ms=figures.p("set_node_bare", 50, MS),
        set_node_bare_p99_ms=figures.p("set_node_bare", 99, MS),
        text_turn_p50_ms=figures.p("text_turn", 50, MS), text_turn_p99_ms=figures.p("text_turn", 99, MS),
        schema_overhead_per_turn_p50_ms=figures.p("overhead", 50, MS),
        schema_overhead_per_turn_p99_ms=figures.p("overhead", 99, MS),
    )
    ratio = results["transition_p99_ms"] / results["set_node_bare_p99_ms"]
    results["transition_vs_bare_p99_ratio"] = round(ratio, 2)
    for name in ("exported_transition", "exported_set_node_bare"):
        results.update({f"{name}_p50_ms": figures.p(name, 50, MS), f"{name}_p99_ms": figures.p(name, 99, MS)})
    exported = results["exported_transition_p99_ms"] / results["exported_set_node_bare_p99_ms"]
    results["exported_transition_vs_bare_p99_ratio"] = round(exported, 2)
    for name in ("flow_transition", "flow_set_node_bare"):
        results.update({f"{name}_p50_ms": figures.p(name, 50, MS), f"{name}_p99_ms": figures.p(name, 99, MS)})
    flow = results["flow_transition_p99_ms"] / results["flow_set_node_bare_p99_ms"]
    results["flow_transition_vs_bare_p99_ratio"] = round(flow, 2)
    states = bench_call_states(load_schema(bundled_schemas()[0]), 10_000)
    results.update(call_states_10k_create_ms=states["create_ms"],
                   call_states_10k_memory_mb=states["memory_mb"],
                   call_state_bytes=states["bytes_per_state"])
    results["samples"] = {name: len(values) for name, values in figures.samples.items()}
    results["api"] = await bench_api(50 if quick else 200)
    results["api_lost_events"] = results["api"]["lost_events"]
    return results


async def bench_api(n_calls: int) -> dict[str, Any]:
    from bench.api import bench_api_concurrency

    return await bench_api_concurrency(n_calls)


def print_table(results: dict[str, Any], verdicts: dict[str, bool]) -> None:
    rows = [
        ("precompute (full record)", "precompute", "ms", None),
        ("render_state_prompt", "render", "us", "render_str_format"),
        ("  Jinja render, same prompts", "render_jinja", "us", None),
        ("  baseline: str.format, same text", "render_str_format", "us", None),
        ("transition (classify+render+set_node)", "transition", "ms", "set_node_bare"),
        ("  baseline: bare set_node_from_config", "set_node_bare", "ms", None),
        ("exported flow: tool + set_node (Pipecat)", "exported_transition", "ms", None),
        ("  baseline: bare set_node_from_config", "exported_set_node_bare", "ms", None),
        ("plain Pipecat flow here: function call", "flow_transition", "ms", None),
        ("  baseline: bare set_node_from_config", "flow_set_node_bare", "ms", None),
        ("text turn (caller text -> bot text)", "text_turn", "ms", None),
        ("schema overhead per turn", "schema_overhead_per_turn", "ms", None),
    ]
    print(f"voice-console bench — schemas: {', '.join(results['schemas'])}")
    print(f"{'measure':42} {'p50':>10} {'p99':>10}")
    for label, key, unit, _ in rows:
        p50, p99 = results[f"{key}_p50_{unit}"], results[f"{key}_p99_{unit}"]
        print(f"{label:42} {p50:>8} {unit} {p99:>8} {unit}")
    print(f"{'10,000 call states':42} {results['call_states_10k_create_ms']:>8} ms "
          f"{results['call_states_10k_memory_mb']:>8} MB ({results['call_state_bytes']} B each)")
    api = results.get("api")
    if api:
        print(f"{'API: ' + str(api['calls']) + ' concurrent text calls':42} {api['turns_per_s']:>8} turns/s, "
              f"turn p50 {api['turn_p50_ms']} ms, p99 {api['turn_p99_ms']} ms, "
              f"lost events {api['lost_events']}")
    print_sections(results)
    print("targets:")
    for key, ok in verdicts.items():
        op, limit = TARGETS[key]
        print(f"  {'PASS' if ok else 'FAIL'}  {key} = {results[key]} (target {op} {limit})")


Section = tuple[str, Callable[[], dict[str, Any]]]


def run_benchmarks(json_output: bool = False, quick: bool = False, sections: Sequence[Section] = ()) -> int:
    """The engine's figures, then each extra section's (voice, console); a section that cannot run
    here is reported as skipped with its reason."""
    results = asyncio.run(collect(quick))
    for name, measure in sections:
        try:
            results[name] = measure()
        except Exception as error:
            results[name] = {"skipped": f"{type(error).__name__}: {error}"}
    results.update(_section_figures(results))
    verdicts = check_targets(results)
    results["targets_met"] = verdicts
    print_table(results, verdicts)
    if json_output:
        print(json.dumps(results, separators=(",", ":"), default=str))
    return 0


def _section_figures(results: dict[str, Any]) -> dict[str, Any]:
    figures = {}
    voice = results.get("voice", {})
    if "voice_to_voice_ms" in voice:
        figures["voice_to_voice_p50_ms"] = voice["voice_to_voice_ms"]["p50"]
        figures["voice_to_voice_p95_ms"] = voice["voice_to_voice_ms"]["p95"]
        figures["voice_turns_split"] = voice["turns_split"]
    nlu = results.get("nlu", {})
    if "semantic" in nlu:
        figures.update(nlu_figures(nlu))
    gui = results.get("gui", {})
    if "p99_ms" in gui:
        figures["gui_event_loop_lag_p99_ms"] = gui["p99_ms"]
    return figures


def print_sections(results: dict[str, Any]) -> None:
    voice, gui = results.get("voice"), results.get("gui")
    if (nlu := results.get("nlu")) is not None:
        print_nlu(nlu)
    if voice is not None:
        print_voice(voice)
    if gui is not None:
        if "skipped" in gui:
            print(f"console event-loop lag: skipped ({gui['skipped']})")
        else:
            print(f"{'console event-loop lag (call + live plots)':42} {gui['p50_ms']:>8} ms "
                  f"{gui['p99_ms']:>8} ms"
                  f"  (p95 {gui['p95_ms']} ms, max {gui['max_ms']} ms, {gui['samples']} ticks)")


def print_voice(voice: dict[str, Any]) -> None:
    if "skipped" in voice:
        print(f"voice: skipped ({voice['skipped']})")
        return
    v2v = voice["voice_to_voice_ms"]
    print(f"{'voice-to-voice (' + str(voice['turns_measured']) + ' spoken turns)':42} {v2v['p50']:>8} ms "
          f"{v2v['p95']:>8} ms (p95) {v2v['p99']:>8} ms (p99)")
    for part, figure in voice.get("breakdown_ms", {}).items():
        print(f"{'  ' + part:42} {figure['p50']:>8} ms {figure['p95']:>8} ms (p95) "
              f"{figure['p99']:>8} ms (p99)")
    split = f"turns split in two (of {voice['turns_spoken']} spoken)"
    print(f"{split:42} {voice['turns_split']:>8}")
    if "turn_taking" in voice:
        from bench.turns import print_turn_taking

        print_turn_taking(voice["turn_taking"])
    factors = voice["stt_real_time_factor"]
    print(f"{'STT real-time factor, short / 30 s window':42} {factors['short_window']['p50']:>8} / "
          f"{factors['full_window']['p50']} (p50)")
    print(f"{'TTS first byte (Piper)':42} {voice['tts_first_byte_ms']}")
    uncached, cached = voice["first_line_uncached"], voice["first_line_cached"]
    print(f"{'first bot line to speaker: uncached / cached':42} {uncached['first_audio_out_ms']} ms / "
          f"{cached['first_audio_out_ms']} ms")
    cache = voice["cache"]
    print(f"{'TTS line cache':42} hit rate {cache['hit_rate']:.0%}, {cache['time_saved_ms']} ms saved")
