"""`voice-console screenshot OUT.png`: the console mid-call, rendered offscreen to a PNG.

It starts a scripted text call, takes a few caller steps (on a plain Pipecat flow, function calls
as the operator makes them from the step panel), forces one transition, waits for the plots to
refresh, and saves the window. Settings and call history go to a temporary folder, so the user's
own are untouched. `--handlers` is imported without asking: naming it on the command line is the
operator's consent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from cli.cmd_calls import Action, read_turn_script
from engine.errors import EngineError
from engine.paths import DEFAULT_SCHEMA, default_patient_for
from engine.schema.compiled import CompiledSchema, load_schema

if TYPE_CHECKING:
    from console.controllers import CallController
    from console.dialogs import Dialogs
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
    parser.add_argument("--script", type=Path, metavar="TURNS",
                        help="play these turns ('call' format: caller lines, '!force S', '!call F {…}') "
                             "instead of stepping along intents and forcing a move")
    parser.add_argument("--size", default="1600x1000", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--tab", default="latency", choices=("latency", "report", "history", "tests"),
                        help="the bottom tab to show")
    parser.add_argument("--handlers", type=Path,
                        help="a plain flow's handlers module (imported, which runs its code)")
    parser.add_argument("--state", type=Path, help="a plain flow's initial state (JSON)")
    parser.set_defaults(run=run_screenshot)


def run_screenshot(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    width, _, height = args.size.partition("x")
    with tempfile.TemporaryDirectory(prefix="voice-console-shot-") as scratch:
        os.environ["VOICE_CONSOLE_DATA_DIR"] = str(Path(scratch) / "data")
        import qasync

        from console.app import create_application

        create_application()
        flow = (str(args.handlers or ""), str(args.state or ""))
        patient = args.patient or (None if any(flow) else default_patient_for(load_schema(args.schema).name))
        script = read_turn_script(args.script, _nodes(args)) if args.script else None
        status: int = qasync.run(_shoot(args.out, args.schema, patient, args.steps,
                                        (int(width), int(height)), Path(scratch), args.tab, flow, script))
        return status


def _nodes(args: argparse.Namespace) -> Collection[str]:
    """The node names a turn script may force: the schema's, or the flow's with its files."""
    from cli.options import load_with_flow_options

    return load_with_flow_options(args.schema, args).schema.nodes


async def _shoot(out: Path, schema: Path, patient: Path | None, steps: int, size: tuple[int, int],
                 scratch: Path, tab: str = "latency", flow: tuple[str, str] = ("", ""),
                 script: list[Action] | None = None) -> int:
    from console.app import build_window, file_settings
    from console.controllers import CallController

    controller = CallController()
    window = build_window(controller, file_settings(scratch / "console.ini"), _consenting_dialogs(),
                          str(schema), str(patient or ""), *flow)
    window.show()
    window.resize(*size)
    window.apply_default_layout()  # a fresh window's proportions at this size
    try:
        window.docks[tab].raise_()
        setup = window.setup.setup()
        if script is None:
            await _play(controller, setup, controller.load(setup), steps)
        else:
            await _play_script(controller, setup, script)
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
    if not compiled.is_flow:  # a flow's bot has no scripted lines: the operator plays its LLM
        await asyncio.wait_for(spoken.wait(), OPENING_WAIT_S)  # let the bot open, as an operator would
    visited = [compiled.schema.initial_node]
    for _ in range(steps):
        if not await _take_step(controller, compiled):
            break
        visited.append(controller.current_state)
        await asyncio.sleep(STEP_PAUSE_S)
    target = next((name for name, node in compiled.schema.nodes.items()
                   if name not in visited and not node.ending and node.decide is None), None)
    if target is not None and controller.call_state == "running":
        await controller.force(target)


async def _play_script(controller: CallController, setup: CallSetup, script: list[Action]) -> None:
    """Start, then play the turns as the operator would type them, until the call ends."""
    if not await controller.start(setup):
        raise EngineError("the call could not start (see the messages above)")
    for action in script:
        if controller.call_state != "running":
            return
        if action.kind == "say":
            await controller.step(action.value)
        elif action.kind == "force":
            await controller.force(action.value)
        elif action.kind == "call":
            await controller.call_function(action.value, action.arguments, action.result)
        await asyncio.sleep(STEP_PAUSE_S)


async def _take_step(controller: CallController, compiled: CompiledSchema) -> bool:
    """A caller turn that moves the call on; on a plain flow, a call of a function that leads on."""
    state = controller.current_state
    if not compiled.is_flow:
        example = _moving_example(compiled, state)
        return example is not None and await controller.step(example)
    for offered in compiled.offered_functions(state):
        onward = [target for target in offered.targets if target != state and not compiled.is_ending(target)]
        required = [name for name, parameter in offered.parameters.items() if parameter.required]
        if onward and not required:
            result = None if offered.has_handler else {field: cases[0] for field, cases
                                                         in offered.result_cases.items()}
            return await controller.call_function(offered.name, {}, result)
    return False


def _consenting_dialogs() -> Dialogs:
    """Dialogs for an unattended shot: they agree to import the handlers named on the command line."""
    from console.dialogs import Dialogs

    class Consenting(Dialogs):
        def confirm(self, title: str, question: str) -> bool:
            return True

    return Consenting()


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
