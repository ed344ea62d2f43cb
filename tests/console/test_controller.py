"""CallController: engine events become plain-data Qt signals; failures are reported, never raised."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import SignalInstance

from console.controllers import CallController, VoiceAdapter
from console.panels import CallSetup
from engine.errors import ResponderError

if TYPE_CHECKING:
    from tests.console.conftest import Aio

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
MINIMAL = {"schema": str(DATA / "minimal_schema.yaml"), "patient": str(DATA / "minimal_patient.json")}


PLAIN_SCALARS = (str, int, float, bool, type(None))


def is_plain(value: Any) -> bool:
    """Plain Python data: scalars, and lists, tuples, sets and str-keyed dicts of plain data."""
    if type(value) in PLAIN_SCALARS:
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        plain_container = type(value) in (list, tuple, set, frozenset) or _is_named_tuple(value)
        return plain_container and all(is_plain(item) for item in value)
    if type(value) is dict:
        return all(type(key) is str and is_plain(item) for key, item in value.items())
    return False


def _is_named_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


class Recorder:
    """Collects the arguments of every emission of the signals of the objects it is attached to
    (the call controller and the history and test-run controllers it builds)."""

    def __init__(self, controller: CallController) -> None:
        self.seen: dict[str, list[tuple[Any, ...]]] = {}
        for source in (controller, controller.history, controller.tests):
            for name in dir(type(source)):
                signal = getattr(source, name, None)
                if isinstance(signal, SignalInstance):
                    signal.connect(self._catcher(name))

    def _catcher(self, name: str) -> Callable[..., None]:
        return lambda *args: self.seen.setdefault(name, []).append(args)

    def __getitem__(self, name: str) -> list[tuple[Any, ...]]:
        return self.seen.get(name, [])


def test_a_text_call_becomes_signals_in_order(aio: Aio, controller: CallController) -> None:
    seen = Recorder(controller)

    async def scenario() -> None:
        assert await controller.start(MINIMAL)
        assert await controller.step("hmm, what was that?")
        assert await controller.step("yes, that is fine")

    aio.run(scenario())
    aio.until(lambda: controller.call_state == "ended")
    assert [args[0] for args in seen["callStateChanged"]] == ["starting", "running", "ended"]
    assert seen["callStarted"][0][1]["schema"] == "minimal_schema"
    assert [view["state"] for _at, view in seen["nodeEntered"]] == ["greet", "done"]
    assert [text for _at, text, _source in seen["callerSaid"]] == ["hmm, what was that?", "yes, that is fine"]
    assert [text for _at, text, _spoken in seen["botSaid"]][-1] == "Thanks friend!"
    assert [(name, result["status"]) for _at, name, _args, result in seen["functionCalled"]] == [
        ("confirm_appointment", "recorded")]
    assert [args[1:] for args in seen["transitionTaken"]] == [("greet", "done", "yes", False)]
    stages = {stage for _turn, stage, _ms, _crossed in seen["latencySample"]}
    assert stages >= {"precompute", "render", "turn"}
    assert seen["callEnded"][0][1:] == ("ended", "reached an ending state")
    assert seen["reportChanged"][-1][0]["state_transitions"] == 1
    assert seen["historyChanged"]
    assert not seen["failed"]
    not_plain = [(name, args) for name, calls in seen.seen.items() for args in calls if not is_plain(args)]
    assert not_plain == []


def test_node_views_mark_values_and_list_intents(aio: Aio, controller: CallController) -> None:
    assert controller.select(MINIMAL["schema"], MINIMAL["patient"]) == []
    view = controller.node_view("greet")
    assert view is not None and not view["current"]
    assert ("Ann", "first_name", "Ann") in view["say"]
    assert view["say_source"] == "Hi {{ first_name }}, see you {{ appt }}?"
    assert view["intents"] == [("yes", ["yes that is fine", "sure"], "done", True),
                               ("nope", ["no thanks"], "bye", True)]
    assert controller.node_view("nowhere") is None


def test_failures_are_reported_on_the_failed_signal(aio: Aio, controller: CallController) -> None:
    seen = Recorder(controller)

    async def scenario() -> None:
        assert not await controller.step("hello?")
        assert not await controller.force("bye")
        assert await controller.start(MINIMAL)
        assert not await controller.force("nowhere")
        assert controller.call_state == "running"
        await controller.stop()

    aio.run(scenario())
    titles = [title for title, _message in seen["failed"]]
    assert titles == ["Cannot send a caller turn", "Cannot force a transition",
                      "The transition could not be forced"]
    assert "unknown state 'nowhere'" in seen["failed"][-1][1]
    assert controller.call_state == "ended"
    assert seen["callEnded"][-1][1:] == ("ended", "stopped by the operator")


def test_failure_and_notice_texts_are_redacted_and_escaped_even_after_the_call(
        aio: Aio, controller: CallController) -> None:
    """An LLM server's error text may echo the prompt: the console shows no patient value from it."""
    seen = Recorder(controller)

    async def scenario() -> None:
        assert await controller.start(MINIMAL)
        await controller.stop()

    aio.run(scenario())
    assert controller.call_state == "ended"  # the live-call redaction has forgotten this patient
    controller.report_failure("The responder failed",
                              ResponderError("500: You are calling Ann about \x1b]0;pwned\x07 her visit"))
    controller.notify("Step 1/2 next: yes this is Ann")
    title, message = seen["failed"][-1]
    assert title == "The responder failed"
    assert "Ann" not in message and "[REDACTED]" in message
    assert "\x1b" not in message and "\\x1b]0;pwned\\x07" in message
    assert seen["messageShown"][-1] == ("Step 1/2 next: yes this is [REDACTED]",)


def test_select_and_start_report_every_problem_of_a_patient(aio: Aio, controller: CallController,
                                                           tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    data = {"first_name": "", "appt": "someday", "meds": [{"name": "x", "dose": "a"}]}
    bad.write_text(json.dumps({"schema": "minimal_schema", "id": "bad", "data": data}))
    problems = controller.select(MINIMAL["schema"], str(bad))
    assert len(problems) >= 3 and all(line.startswith("bad.json:") for line in problems)
    assert any("appt" in line for line in problems) and any("meds" in line for line in problems)
    seen = Recorder(controller)
    assert not aio.run(controller.start({"schema": MINIMAL["schema"], "patient": str(bad)}))
    assert controller.call_state == "failed"
    assert seen["failed"][0][1].count("\n") == len(problems) - 1


def test_a_bad_schema_shows_no_graph_and_its_problems(controller: CallController) -> None:
    assert controller.select(MINIMAL["schema"], MINIMAL["patient"]) == []
    seen = Recorder(controller)
    problems = controller.select(str(DATA / "bad_schemas" / "initial_state_unknown.yaml"), "")
    assert problems and "initial_state_unknown.yaml" in problems[0]
    assert controller.states() == []
    assert seen["schemaChanged"] == [(None,)]
    assert seen["testsChanged"] == [([], "No schema is shown: no test cases.")]


def test_replay_sends_a_stored_call_through_the_same_signals(aio: Aio, controller: CallController) -> None:
    async def scenario() -> None:
        await controller.start(MINIMAL)
        await controller.step("yes, that is fine")

    aio.run(scenario())
    aio.until(lambda: controller.call_state == "ended")
    call_id = controller.history.calls()[0]["call_id"]
    seen = Recorder(controller)
    assert controller.history.replay(call_id)
    assert controller.call_state == "replay"
    assert seen["timelineReset"] == [()]
    assert [args[1:] for args in seen["transitionTaken"]] == [("greet", "done", "yes", False)]
    assert [text for _at, text, _source in seen["callerSaid"]] == ["yes, that is fine"]
    samples = seen["latencyReplayed"][0][0]
    assert samples and all(len(sample) == 4 for sample in samples)
    assert not seen["latencySample"]
    assert seen["reportChanged"][0][0]["session_id"] == call_id
    view = controller.node_view("greet")
    assert view is not None
    assert "".join(text for text, _f, _r in view["say"]) == "Hi Ann, see you Tuesday, December first?"


def test_export_writes_the_latency_csv(aio: Aio, controller: CallController, tmp_path: Path) -> None:
    assert controller.export(str(tmp_path / "none.csv")) is None

    async def scenario() -> None:
        await controller.start(MINIMAL)
        await controller.step("sure")

    aio.run(scenario())
    rows = controller.export(str(tmp_path / "latency.csv"))
    with open(tmp_path / "latency.csv", newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert rows == len(read) > 0
    assert {row["schema"] for row in read} == {"minimal_schema"}
    assert "caller_text" not in read[0]


def test_stop_cancels_a_call_that_is_still_starting(aio: Aio) -> None:
    class SlowVoice(VoiceAdapter):
        def status(self) -> tuple[bool, str]:
            return True, ""

        async def build(self, setup: CallSetup) -> Any:
            await asyncio.Event().wait()  # models that take long to load: until cancelled

    controller = CallController(voice=SlowVoice())
    seen = Recorder(controller)
    starting = asyncio.ensure_future(controller.start({**MINIMAL, "mode": "voice"}))
    aio.until(lambda: seen["busyChanged"][-1:] == [(True, "Loading the voice models…")])
    assert controller.call_state == "starting" and controller.is_live
    aio.run(controller.stop())
    assert starting.done() and starting.result() is False
    assert controller.call_state == "ended" and not controller.busy
    assert not seen["failed"]
    aio.run(controller.shutdown())
