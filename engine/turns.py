"""Turn strategy for typed caller turns: a transcript is a whole turn."""

from __future__ import annotations

from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies


class TypedTurnStopStrategy(BaseUserTurnStopStrategy):
    """Ends the caller's turn as soon as its text arrives: typed text has no trailing speech."""

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, TranscriptionFrame):
            await self.trigger_user_turn_stopped()
        return ProcessFrameResult.CONTINUE


def typed_turn_strategies() -> UserTurnStrategies:
    return UserTurnStrategies(start=[TranscriptionUserTurnStartStrategy()], stop=[TypedTurnStopStrategy()])
