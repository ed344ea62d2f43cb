"""The typed event stream: the one source every consumer reads.

The store, the report, the CSV export, the HTTP API, the console and the
tests all subscribe to the same `CallEvent`s; none reaches into the pipeline.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from loguru import logger

from engine.clock import Clock, system_clock
from engine.lifecycle import CallStatus


class EventKind(StrEnum):
    CALL_STARTED = "call_started"
    NODE_ENTERED = "node_entered"
    USER_TURN = "user_turn"
    BOT_TURN = "bot_turn"
    FUNCTION_CALLED = "function_called"
    TRANSITION = "transition"
    CLASSIFIED = "classified"
    LATENCY = "latency"
    ERROR = "error"
    CALL_ENDED = "call_ended"


@dataclass(frozen=True, kw_only=True)
class CallEvent:
    kind: ClassVar[EventKind]
    call_id: str
    seq: int
    turn: int
    state: str
    at: float  # wall clock, Unix seconds, from the stream's `Clock`

    def payload(self) -> dict[str, Any]:
        """The kind-specific fields, as plain data."""
        base = {f.name for f in dataclasses.fields(CallEvent)}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in base}


@dataclass(frozen=True, kw_only=True)
class CallStarted(CallEvent):
    kind = EventKind.CALL_STARTED
    schema: str
    patient_id: str
    responder: str
    mode: str
    precompute_ms: float


@dataclass(frozen=True, kw_only=True)
class NodeEntered(CallEvent):
    kind = EventKind.NODE_ENTERED
    prompt: str
    say: str
    render_ms: float
    fields_used: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class UserTurn(CallEvent):
    kind = EventKind.USER_TURN
    text: str
    source: str  # "typed", "intent" (an intent button's example), "script", "api" or "voice"


@dataclass(frozen=True, kw_only=True)
class BotTurn(CallEvent):
    kind = EventKind.BOT_TURN
    text: str  # as spoken: what text-to-speech was given (lexicon respellings in place)
    written: str = ""  # the same words as written, for readers; "" when they are the same as `text`


@dataclass(frozen=True, kw_only=True)
class FunctionCalled(CallEvent):
    kind = EventKind.FUNCTION_CALLED
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Transition(CallEvent):
    kind = EventKind.TRANSITION
    source: str
    target: str
    intent: str | None
    ms: float
    forced: bool


@dataclass(frozen=True, kw_only=True)
class Classified(CallEvent):
    """Why this intent: the candidates with their scores (best first) and the rule that decided."""

    kind = EventKind.CLASSIFIED
    intent: str | None
    confidence: float
    margin: float
    rule: str  # an engine.nlu.Rule value
    matched: str  # the keyword or example that decided it, if one did
    candidates: tuple[str, ...]
    scores: tuple[float, ...]
    asked: tuple[str, ...] = ()  # a near tie: the two intents the clarifying question names


@dataclass(frozen=True, kw_only=True)
class Latency(CallEvent):
    kind = EventKind.LATENCY
    stage: str
    ms: float
    forced: bool = False
    crossed_transition: bool = False


@dataclass(frozen=True, kw_only=True)
class CallError(CallEvent):
    kind = EventKind.ERROR
    message: str
    source: str  # e.g. "responder", "audio", "force", "input"
    fatal: bool = False


@dataclass(frozen=True, kw_only=True)
class CallEnded(CallEvent):
    kind = EventKind.CALL_ENDED
    status: CallStatus  # stored and sent as its string value
    reason: str
    total_ms: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", CallStatus(self.status))  # as read back from JSON


EVENT_TYPES: dict[EventKind, type[CallEvent]] = {
    cls.kind: cls
    for cls in (CallStarted, NodeEntered, UserTurn, BotTurn, FunctionCalled, Transition, Classified, Latency,
                CallError, CallEnded)
}

Subscriber = Callable[[CallEvent], None]


class EventStream:
    """Fans each event out to subscribers, in order, as it happens.

    A subscriber that raises is logged and skipped; the others still receive the event.
    """

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self._subscribers: list[Subscriber] = []
        self._seq = itertools.count(1)
        self.history: list[CallEvent] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers else None

    def next_seq(self) -> int:
        return next(self._seq)

    def emit(self, event: CallEvent) -> None:
        self.history.append(event)
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception(f"event subscriber failed on {event.kind}")
