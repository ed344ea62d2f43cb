"""`voice-console screenshot OUT.png`: the console mid-call, rendered offscreen to a PNG.

It starts a scripted text call, takes a few caller steps, forces one transition,
waits for the plots to refresh, and saves the window. Settings and call history
go to a temporary folder, so the user's own are untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import EngineError
from engine.paths import DEFAULT_SCHEMA, default_patient_for
from engine.schema.compiled import CompiledSchema, load_schema

if TYPE_CHECKING:
    from console.controllers import CallController
    from console.panels import CallSetup

STEP_PAUSE_S = 0.4
OPENING_WAIT_S = 10.0
PLOT_SETTLE_S = 1.5


def add_screenshot(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("screenshot", help="render the console mid-call to a PNG (offscreen)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    parser.add_argument("--patient", type=Path, help="patient JSON file (default: the schema's first)")
    parser.add_argument("--steps", type=int, default=2, help="caller turns before the forced transition")
    parser.add_argument("--size", default="1600x1000", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--tab", default="latency", choices=("latency", "report", "history", "tests"),
                        help="the bottom tab to show")
    parser.set_defaults(run=run_screenshot)


def run_screenshot(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    width, _, height = args.size.partition("x")
    with tempfile.TemporaryDirectory(prefix="voice-console-shot-") as scratch:
        os.environ["VOICE_CONSOLE_DATA_DIR"] = str(Path(scratch) / "data")
        import qasync

        from console.app import create_application

        create_application()
        patient = args.patient or default_patient_for(load_schema(args.schema).name)
        status: int = qasync.run(_shoot(args.out, args.schema, patient, args.steps,
                                        (int(width), int(height)), Path(scratch), args.tab))
        return status


async def _shoot(out: Path, schema: Path, patient: Path | None, steps: int, size: tuple[int, int],
                 scratch: Path, tab: str = "latency") -> int:
    from console.app import build_window, file_settings
    from console.controllers import CallController
    from console.dialogs import Dialogs

    controller = CallController()
    window = build_window(controller, file_settings(scratch / "console.ini"), Dialogs(), str(schema),
                          str(patient or ""))
    window.show()
    window.resize(*size)
    window.apply_default_layout()  # a fresh window's proportions at this size
    try:
        window.docks[tab].raise_()
        await _play(controller, window.setup.setup(), load_schema(schema), steps)
        await asyncio.sleep(PLOT_SETTLE_S)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise EngineError(f"cannot write {out}")
    finally:
        await controller.shutdown()
        window.close()
    print(f"wrote {out} ({size[0]}x{size[1]}, {controller.schema_name}, {steps} steps)")
    return 0


async def _play(controller: CallController, setup: CallSetup, compiled: CompiledSchema, steps: int) -> None:
    """Start, step along intents that keep the call going, then force a move to an unvisited state."""
    spoken = asyncio.Event()
    controller.botSaid.connect(spoken.set)
    if not await controller.start(setup):
        raise EngineError("the call could not start (see the messages above)")
    await asyncio.wait_for(spoken.wait(), OPENING_WAIT_S)  # let the bot open, as an operator would
    visited = [compiled.schema.initial_node]
    for _ in range(steps):
        example = _moving_example(compiled, controller.current_state)
        if example is None:
            break
        await controller.step(example)
        visited.append(controller.current_state)
        await asyncio.sleep(STEP_PAUSE_S)
    target = next((name for name, node in compiled.schema.nodes.items()
                   if name not in visited and not node.ending and node.decide is None), None)
    if target is not None and controller.call_state == "running":
        await controller.force(target)


def _moving_example(compiled: CompiledSchema, state: str) -> str | None:
    """The first example of an intent that the classifier recognises and that does not end the call."""
    intents = compiled.intents_of(state)
    for intent in intents:
        example = compiled.schema.intents[intent].examples[0]
        targets = compiled.targets_of(state, intent)
        recognised = compiled.classifier.classify(example, intents).intent == intent
        if recognised and targets and not any(compiled.is_ending(t) for t in targets):
            return example
    return None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_screenshot(sub)
