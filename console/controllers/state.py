"""The console's call states and the changes allowed between them.

One call at a time is live (starting, running, stopping), or test cases run, or a past call
is shown (replay). The values are what the title bar and the status line show.
"""

from __future__ import annotations

from enum import StrEnum


class CallState(StrEnum):
    READY = "ready"  # nothing has run yet
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    ENDED = "ended"
    FAILED = "failed"
    REPLAY = "replay"  # a past call from the history is shown
    TESTING = "testing"  # schema test cases are running


_IDLE_NEXT = frozenset({CallState.STARTING, CallState.REPLAY, CallState.TESTING})

TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.READY: _IDLE_NEXT,
    CallState.STARTING: frozenset({CallState.RUNNING, CallState.ENDED, CallState.FAILED}),
    CallState.RUNNING: frozenset({CallState.STOPPING, CallState.ENDED, CallState.FAILED}),
    CallState.STOPPING: frozenset({CallState.ENDED, CallState.FAILED}),
    CallState.ENDED: _IDLE_NEXT,
    CallState.FAILED: _IDLE_NEXT,
    CallState.REPLAY: _IDLE_NEXT | {CallState.READY},  # another schema is chosen
    CallState.TESTING: frozenset({CallState.ENDED}),
}

LIVE_STATES = frozenset({CallState.STARTING, CallState.RUNNING, CallState.STOPPING, CallState.TESTING})


def allowed(current: CallState, new: CallState) -> bool:
    """Whether the call may change from `current` to `new` (staying put is always allowed)."""
    return new == current or new in TRANSITIONS[current]
