"""smart-turn asked before the VAD stop, so its verdict is ready when the VAD calls speech over.

smart-turn v3.2 takes 100-180 ms of CPU per verdict here (the model reads an 8 s window whatever
the turn), and Pipecat asks it only at the VAD stop: that wait sat in every turn's voice-to-voice.
`EarlySmartTurn` asks it as soon as the caller has been quiet for `EARLY_TURN_AFTER_S`, on the audio
so far with its latest quiet block repeated to the quiet the VAD stop will have heard (room noise
stays room noise), so the model reads nearly what it would read at the stop. At the VAD stop the
early verdict stands if the caller made no sound in between and the stop came within
`STOP_TOLERANCE_S` of when expected; otherwise smart-turn is asked again, as Pipecat does.

Measured on the voice bench's 30 lines, three renditions, fed without the clock (99 VAD stops):
the early and the at-the-stop verdict agreed at 95 stops. The other 4 were all at the end of a
finished line: 3 times the early verdict said finished and the later one not, once the reverse.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState

from engine.voice.pipecat_private import SmartTurnHooks, SmartTurnVerdict
from engine.voice.stt import is_quiet

# A verdict takes 0.13-0.18 s of CPU and the VAD stops at about 0.44 s of quiet. Asked at 0.15 s, it
# slowed the early transcription (started at 0.12 s) on 2 cores: the transcript came 47 ms after the
# stop at p50, against 20 ms asked at 0.25 s.
EARLY_TURN_AFTER_S = 0.25
STOP_LAG_S = 0.04  # Silero stops after 0.38-0.48 s of quiet at a 0.4 s stop_secs: the quiet padded to
STOP_TOLERANCE_S = 0.06  # an early verdict stands if the VAD stopped within this of the padded quiet


class EarlySmartTurn(SmartTurnHooks):
    """Pipecat's local smart-turn v3, asked early (see the module's docstring)."""

    def __init__(self, *, vad_stop_secs: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expected_quiet_s = vad_stop_secs + STOP_LAG_S  # of quiet at the VAD stop
        self._quiet: list[np.ndarray] = []  # the quiet chunks since the caller's last sound
        self._early: Future[SmartTurnVerdict] | None = None
        self.early_verdicts = 0  # verdicts taken early, and asked again, for the bench and tests
        self.late_verdicts = 0

    def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
        state = super().append_audio(buffer, is_speech)
        if not is_speech:
            return state
        chunk = np.frombuffer(buffer, dtype=np.int16)
        if chunk.size and not is_quiet(chunk.astype(np.float32)):
            self._quiet, self._early = [], None  # the caller goes on: an early verdict is stale
            return state
        self._quiet.append(chunk)
        if self._early is None and self._quiet_s() >= EARLY_TURN_AFTER_S:
            self._ask_early()
        return state

    async def analyze_end_of_turn(self) -> SmartTurnVerdict:
        early, self._early = self._early, None
        quiet_s, self._quiet = self._quiet_s(), []
        if early is None or abs(quiet_s - self.expected_quiet_s) > STOP_TOLERANCE_S:
            self.late_verdicts += bool(self.heard_so_far())  # none after smart-turn's own wait ran out
            return await super().analyze_end_of_turn()
        self.early_verdicts += 1
        state, result = await asyncio.wrap_future(early)
        if state == EndOfTurnState.COMPLETE:
            self.end_turn()
        return state, result

    def clear(self) -> None:
        self._quiet, self._early = [], None
        super().clear()  # type: ignore[no-untyped-call]  # unannotated in Pipecat

    def _ask_early(self) -> None:
        missing = int((self.expected_quiet_s - self._quiet_s()) * self.sample_rate)
        padding = np.resize(self._quiet[-1], max(0, missing))
        self._early = self.verdict_in_background([*self.heard_so_far(), (time.monotonic(), padding)])

    def _quiet_s(self) -> float:
        return sum(chunk.size for chunk in self._quiet) / self.sample_rate
