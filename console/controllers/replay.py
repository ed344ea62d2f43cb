"""ReplayCursor: where a replayed call stands on its timeline of events.

The panels show the events up to the cursor (graph, prompt, transcript, latency), through the call
controller's `show_events`; moving the cursor shows them again from the start, so every panel is
exactly as it was at that moment of the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine import events as ev

ShowEvents = Callable[[list[ev.CallEvent], dict[str, Any]], None]
MAX_PAUSE_S = 2.0  # playing, a longer quiet stretch of the call is shortened to this


class ReplayCursor(QObject):
    moved = Signal(int, int)  # position (the number of events shown), total

    def __init__(self, show: ShowEvents, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._show = show
        self._events: list[ev.CallEvent] = []
        self._report: dict[str, Any] = {}
        self._position = 0
        self.call_id = ""
        self.has_audio = False  # the replayed call has a recording

    @property
    def position(self) -> int:
        return self._position

    @property
    def total(self) -> int:
        return len(self._events)

    def load(self, events: list[ev.CallEvent], report: dict[str, Any], call_id: str = "",
             has_audio: bool = False) -> None:
        """A past call's events; the cursor starts at the end (the call as it finished)."""
        self._events, self._report = list(events), report
        self.call_id, self.has_audio = call_id, has_audio
        self.to(len(events))

    def clear(self) -> None:
        self._events, self._report, self._position = [], {}, 0
        self.call_id, self.has_audio = "", False
        self.moved.emit(0, 0)

    def to(self, position: int) -> None:
        """Show the first `position` events; nothing happens without a replay (a live call is left alone)."""
        if not self._events:
            return
        self._position = max(0, min(position, len(self._events)))
        self._show(self._events[: self._position], self._report)
        self.moved.emit(self._position, len(self._events))

    def step_event(self, delta: int) -> None:
        self.to(self._position + delta)

    def step_turn(self, delta: int) -> None:
        """To the end of the next (or the previous) turn: just before a caller turn, or the call's end."""
        ends = [index for index, event in enumerate(self._events) if isinstance(event, ev.UserTurn)]
        ends.append(len(self._events))
        if delta > 0:
            self.to(next((end for end in ends if end > self._position), len(self._events)))
        else:
            self.to(max((end for end in ends if end < self._position), default=0))

    def pause_before_next(self, whole: bool = False) -> float:
        """Seconds between the last shown event and the next one, as in the call: at most MAX_PAUSE_S
        unless `whole` (as when the recording plays along)."""
        if not 0 < self._position < len(self._events):
            return 0.0
        gap = max(0.0, self._events[self._position].at - self._events[self._position - 1].at)
        return gap if whole else min(gap, MAX_PAUSE_S)

    @property
    def elapsed_s(self) -> float:
        """The call's own time at the cursor: from its first event to the last one shown."""
        if not self._events or not self._position:
            return 0.0
        return max(0.0, self._events[self._position - 1].at - self._events[0].at)

    def describe(self) -> str:
        """Where the cursor is: event, turn and the call's own time."""
        if not self._events:
            return "No replay"
        shown = self._events[: self._position]
        turn = shown[-1].turn if shown else 0
        return f"event {self._position}/{len(self._events)} · turn {turn} · {self.elapsed_s:.2f} s"
