"""The call-state table: every change of `call_state` goes through `change_state`, which refuses
a change the table does not allow."""

from __future__ import annotations

import pytest
from loguru import logger

from console.controllers import TRANSITIONS, CallController, CallState
from console.controllers.state import LIVE_STATES, allowed

LEGAL = [(current, new) for current, targets in TRANSITIONS.items() for new in targets if new != current]
ILLEGAL = [(current, new) for current in CallState for new in CallState
           if new != current and new not in TRANSITIONS[current]]


def test_the_table_names_every_state() -> None:
    assert set(TRANSITIONS) == set(CallState)
    assert {CallState.STARTING, CallState.RUNNING, CallState.STOPPING, CallState.TESTING} == LIVE_STATES


def test_a_live_call_cannot_be_left_for_another_call_or_a_replay() -> None:
    for live in (CallState.RUNNING, CallState.STOPPING, CallState.TESTING):
        assert not allowed(live, CallState.REPLAY)
        assert not allowed(live, CallState.STARTING)
    assert not allowed(CallState.RUNNING, CallState.TESTING)
    assert not allowed(CallState.TESTING, CallState.FAILED)
    assert not allowed(CallState.ENDED, CallState.RUNNING)
    assert allowed(CallState.RUNNING, CallState.RUNNING)


def walk_to(controller: CallController, target: CallState) -> None:
    """Drive `controller` from READY to `target` through legal changes only."""
    paths = {CallState.READY: [], CallState.STARTING: [CallState.STARTING],
             CallState.RUNNING: [CallState.STARTING, CallState.RUNNING],
             CallState.STOPPING: [CallState.STARTING, CallState.RUNNING, CallState.STOPPING],
             CallState.ENDED: [CallState.STARTING, CallState.ENDED],
             CallState.FAILED: [CallState.STARTING, CallState.FAILED],
             CallState.REPLAY: [CallState.REPLAY], CallState.TESTING: [CallState.TESTING]}
    for state in paths[target]:
        assert controller.change_state(state)
    assert controller.call_state == target


@pytest.mark.parametrize(("current", "new"), LEGAL, ids=lambda s: s.value)
def test_a_legal_change_is_made_and_announced(controller: CallController, current: CallState,
                                              new: CallState) -> None:
    walk_to(controller, current)
    announced: list[str] = []
    controller.callStateChanged.connect(announced.append)
    assert controller.change_state(new)
    assert controller.call_state == new
    assert announced == [new.value]


@pytest.mark.parametrize(("current", "new"), ILLEGAL, ids=lambda s: s.value)
def test_an_illegal_change_is_refused_and_logged(controller: CallController, current: CallState,
                                                 new: CallState) -> None:
    walk_to(controller, current)
    announced: list[str] = []
    controller.callStateChanged.connect(announced.append)
    logged: list[str] = []
    sink = logger.add(lambda message: logged.append(str(message)), level="ERROR")
    try:
        assert not controller.change_state(new)
    finally:
        logger.remove(sink)
    assert controller.call_state == current
    assert announced == []
    assert logged and f"refused call state change {current.value} -> {new.value}" in logged[0]


def test_staying_in_a_state_is_allowed_and_not_announced(controller: CallController) -> None:
    announced: list[str] = []
    controller.callStateChanged.connect(announced.append)
    assert controller.change_state(CallState.READY)
    assert announced == []
