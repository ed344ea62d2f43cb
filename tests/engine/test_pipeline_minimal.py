"""A text call on the minimal schema through the real Pipecat pipeline and FlowManager."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import events as ev
from engine.calls import create_call
from engine.errors import CallLifecycleError, UnknownStateError
from engine.lifecycle import CallStatus

DATA = Path(__file__).resolve().parent.parent / "data"


def kinds(call) -> list[str]:
    return [e.kind.value for e in call.events.history]


async def test_text_call_moves_on_intent_and_ends() -> None:
    call = create_call(DATA / "minimal_schema.yaml", DATA / "minimal_patient.json")
    await call.start()
    await call.step("hmm, what was that?")
    await call.step("yes, that is fine")
    assert await call.wait_until_ended(5)

    assert call.status is CallStatus.ENDED
    assert call.conversation.visited == ["greet", "done"]
    bot_lines = [e.text for e in call.events.history if isinstance(e, ev.BotTurn)]
    assert bot_lines == ["Hi Ann, see you Tuesday, December first?"] * 2 + ["Thanks friend!"]
    transition = next(e for e in call.events.history if isinstance(e, ev.Transition))
    assert (transition.source, transition.target, transition.forced) == ("greet", "done", False)
    assert kinds(call)[0] == "call_started" and kinds(call)[-1] == "call_ended"
    report = call.get_performance_report()
    for key in ("total_call_time_ms", "precompute_time_ms", "avg_prompt_render_ms", "state_transitions",
                "transition_details", "schema_overhead_estimate_ms"):
        assert key in report
    assert report["state_transitions"] == 1
    assert report["stages"]["turn"]["count"] == 2


async def test_force_records_forced_transition_and_rejects_unknown_state() -> None:
    call = create_call(DATA / "minimal_schema.yaml", DATA / "minimal_patient.json")
    await call.start()
    with pytest.raises(UnknownStateError, match="unknown state 'nowhere'"):
        await call.force("nowhere")
    await call.force("bye")
    assert await call.wait_until_ended(5)
    transition = next(e for e in call.events.history if isinstance(e, ev.Transition))
    assert (transition.target, transition.forced) == ("bye", True)
    with pytest.raises(CallLifecycleError):
        await call.step("hello?")


async def test_empty_and_invalid_utf8_turns_are_errors_not_crashes() -> None:
    call = create_call(DATA / "minimal_schema.yaml", DATA / "minimal_patient.json")
    await call.start()
    await call.step("   ")
    await call.step(b"\xff\xfe yes")
    errors = [e.message for e in call.events.history if isinstance(e, ev.CallError)]
    assert errors == ["caller turn ignored: it is empty", "caller turn ignored: not valid UTF-8 text"]
    assert call.status is CallStatus.RUNNING and call.conversation.current == "greet"
    await call.stop()
    assert call.status is CallStatus.ENDED
