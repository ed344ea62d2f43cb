"""A call's lifecycle: its statuses and the changes between them that are legal.

    created -> running -> ended | failed        created -> ended | failed

`ended` and `failed` are final. Every change goes through `checked_move`, like httpx's `ClientState`.
"""

from __future__ import annotations

from enum import StrEnum

from engine.errors import CallLifecycleError


class CallStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    ENDED = "ended"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return not LEGAL_MOVES[self]


LEGAL_MOVES: dict[CallStatus, frozenset[CallStatus]] = {
    CallStatus.CREATED: frozenset({CallStatus.RUNNING, CallStatus.ENDED, CallStatus.FAILED}),
    CallStatus.RUNNING: frozenset({CallStatus.ENDED, CallStatus.FAILED}),
    CallStatus.ENDED: frozenset(),
    CallStatus.FAILED: frozenset(),
}


def checked_move(session_id: str, current: CallStatus, target: CallStatus) -> CallStatus:
    """`target`, if the table allows going there from `current`; else CallLifecycleError."""
    if target not in LEGAL_MOVES[current]:
        raise CallLifecycleError(f"call {session_id} cannot go from {current} to {target}")
    return target
