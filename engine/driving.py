"""Driving a call: the one place that waits for, settles, forces and finishes a call.

A call *settles* when it next waits for the caller: the bot has answered, an error was
raised, the call ended, or a node that does not speak first was entered. Every wait
here watches the call's event stream (no polling) and has a timeout.

The CLI, the HTTP API, the test runner and the console drive calls with `start_call`,
`take_turn`, `call_function`, `force` (each returns the events its action caused) and `finish`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from engine import events as ev
from engine.state import ConversationState

if TYPE_CHECKING:
    from engine.schema.compiled import CompiledSchema

START_TIMEOUT_S = 10.0  # the pipeline itself starting
OPENING_WAIT_S = 30.0  # the first node's opening line
TURN_TIMEOUT_S = 30.0  # the bot's answer to a caller turn, or a forced node settling
END_WAIT_S = 5.0  # a call in an ending state winding down (saying goodbye, then shutting down)

EventTest = Callable[[ev.CallEvent], bool]


class DrivenCall(Protocol):
    """What driving needs of a call (`HealthcareAIPipeline` is one)."""

    events: ev.EventStream
    conversation: ConversationState

    @property
    def ended(self) -> bool: ...

    async def start(self) -> None: ...

    async def step(self, text: str | bytes, source: str = ..., wait_s: float | None = ...) -> None: ...

    async def force(self, state: str) -> None: ...

    async def call_function(self, name: str, arguments: dict[str, Any],
                            result: dict[str, Any] | None = ...) -> None: ...

    async def stop(self, reason: str = ...) -> None: ...

    async def wait_until_ended(self, wait_s: float | None = None) -> bool: ...


def settles(compiled: CompiledSchema, event: ev.CallEvent) -> bool:
    """Whether `event` means the call now waits for the caller (or, on a plain flow, the operator).

    A flow has no scripted lines: its call waits once a node is entered or a function stays put."""
    if isinstance(event, (ev.CallError, ev.CallEnded)):
        return True
    if compiled.is_flow:
        return isinstance(event, ev.NodeEntered) or (isinstance(event, ev.FunctionCalled)
                                                    and _stays(compiled, event))
    if isinstance(event, ev.BotTurn):
        return True
    return isinstance(event, ev.NodeEntered) and not compiled.node(event.state).respond_immediately


def _stays(compiled: CompiledSchema, event: ev.FunctionCalled) -> bool:
    target = compiled.entry(event.state, event.name).transition_to
    if target is None or isinstance(target, str):
        return target is None
    return target.target_for(event.result.get(target.field)) is None


async def wait_until(events: ev.EventStream, done: EventTest, wait_s: float | None, *,
                     since: int = 0) -> bool:
    """Until an event from position `since` on satisfies `done`; False when `wait_s` passed first."""
    if any(done(event) for event in events.history[since:]):
        return True
    reached = asyncio.Event()
    unsubscribe = events.subscribe(lambda event: reached.set() if done(event) else None)
    try:
        await asyncio.wait_for(reached.wait(), wait_s)
    except TimeoutError:
        return False
    finally:
        unsubscribe()
    return True


async def wait_until_settled(call: DrivenCall, wait_s: float = TURN_TIMEOUT_S, *, since: int = 0) -> bool:
    """Until the call waits for the caller, counting events from position `since`."""
    compiled = call.conversation.compiled
    return await wait_until(call.events, lambda event: settles(compiled, event), wait_s, since=since)


def over(call: DrivenCall) -> bool:
    """Ended, or in an ending state (saying goodbye): the call takes no more caller turns."""
    return call.ended or call.conversation.ended


async def start_call(call: DrivenCall) -> list[ev.CallEvent]:
    """Start the call and wait for its opening line (`start` itself waits up to OPENING_WAIT_S)."""
    return await _settled_after(call, call.start)


async def take_turn(call: DrivenCall, text: str | bytes, source: str = "typed") -> list[ev.CallEvent]:
    """A caller turn, settled (`step` itself waits up to TURN_TIMEOUT_S for the answer)."""
    return await _settled_after(call, lambda: call.step(text, source=source))


async def call_function(call: DrivenCall, name: str, arguments: dict[str, Any],
                        result: dict[str, Any] | None = None) -> list[ev.CallEvent]:
    """The operator plays the LLM: call `name` (a function the current node offers) with exactly
    `arguments`, settled. `result` is used only when the function has no handler.

    Raises UnknownFunctionError (after the call emitted it) when the node offers no `name`.
    """
    return await _settled_after(call, lambda: call.call_function(name, arguments, result))


async def force(call: DrivenCall, state: str) -> list[ev.CallEvent]:
    """Force a move to `state` and wait until the call settles there (up to TURN_TIMEOUT_S).

    Raises UnknownStateError (after the call emitted it) when the schema has no `state`.
    """
    return await _settled_after(call, lambda: call.force(state))


async def finish(call: DrivenCall, reason: str) -> None:
    """Let a call that reached an ending state wind down; stop any other."""
    if not call.ended and call.conversation.ended:
        await call.wait_until_ended(END_WAIT_S)
    if call.ended:
        await call.wait_until_ended(END_WAIT_S)  # and let its pipeline shut down
    else:
        await call.stop(reason)


async def _settled_after(call: DrivenCall, action: Callable[[], Awaitable[None]]) -> list[ev.CallEvent]:
    """Run `action`, wait until the call settles (or, in an ending state, ends); its events."""
    mark = len(call.events.history)
    await action()
    await wait_until_settled(call, since=mark)
    if call.conversation.ended and not call.ended:
        await call.wait_until_ended(END_WAIT_S)
    return call.events.history[mark:]
