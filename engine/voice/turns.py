"""Turn taking: VAD, smart-turn or silence ends a spoken caller turn, typed text ends its own turn
at once, and a tap reports each finished caller turn's text."""

from __future__ import annotations

from collections.abc import Callable

from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import Frame, LLMContextUserTurnFrame, TranscriptionFrame
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy, VADUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from engine.voice import models
from engine.voice.config import SAMPLE_RATE, TurnTuning, VoiceConfig
from engine.voice.early_turn import EarlySmartTurn
from engine.voice.unfinished import UnfinishedWordsStopStrategy

TYPED_MARK = "voice_console_typed"
# Pipecat ends a turn that no stop strategy has ended this long (wall clock) after the caller's last
# VAD event or transcript; at its 5 s, a machine running 8 s behind the caller ended turns whose
# transcripts Whisper had not yet delivered, and the words came later as turns of their own.
USER_TURN_STOP_TIMEOUT_S = 10.0


class TypedTextMarker(FrameProcessor):
    """First stage after the microphone: any transcript seen here was typed, not spoken."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame) and direction is FrameDirection.DOWNSTREAM:
            frame.metadata[TYPED_MARK] = True
        await self.push_frame(frame, direction)


# The ignore: BaseUserTurnStopStrategy's __init_subclass__ is unannotated in Pipecat.
class TypedTextTurnStopStrategy(BaseUserTurnStopStrategy):
    """Ends a typed caller turn as soon as its text arrives; spoken turns are left to VAD and smart-turn."""

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, TranscriptionFrame) and frame.metadata.get(TYPED_MARK) and frame.text.strip():
            await self.trigger_user_turn_stopped()
        return ProcessFrameResult.CONTINUE


class SpokenTurnTap(FrameProcessor):
    """Sits between the user aggregator and the responder; reports each caller turn's text."""

    def __init__(self, on_user_turn: Callable[[str], None]) -> None:
        super().__init__()
        self._on_user_turn = on_user_turn

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextUserTurnFrame) and direction is FrameDirection.DOWNSTREAM:
            self._on_user_turn(frame.text)
        await self.push_frame(frame, direction)


def smart_turn_analyzer(tuning: TurnTuning) -> EarlySmartTurn:
    """smart-turn v3 from Pipecat's package, asked early, waiting `smart_turn_max_silence_secs` when
    unsure."""
    return EarlySmartTurn(vad_stop_secs=tuning.vad_stop_secs,
                          smart_turn_model_path=str(models.smart_turn_file()),
                          params=SmartTurnParams(stop_secs=tuning.smart_turn_max_silence_secs))


def build_user_params(config: VoiceConfig) -> LLMUserAggregatorParams:
    """The user aggregator's VAD and turn strategies; loads Silero (and smart-turn)."""
    tuning = config.turn
    models.silero_vad_file()  # verified before Pipecat loads it from the same place
    vad = SileroVADAnalyzer(sample_rate=SAMPLE_RATE, params=VADParams(
        confidence=tuning.vad_confidence, start_secs=tuning.vad_start_secs, stop_secs=tuning.vad_stop_secs,
        min_volume=tuning.vad_min_volume))
    start = [VADUserTurnStartStrategy(enable_interruptions=tuning.interruptions),
             TranscriptionUserTurnStartStrategy(enable_interruptions=tuning.interruptions)]
    if tuning.turn == "smart-turn":
        stop: list[BaseUserTurnStopStrategy] = [UnfinishedWordsStopStrategy(
            turn_analyzer=smart_turn_analyzer(tuning), hold_secs=tuning.unfinished_hold_secs)]
    else:
        stop = [SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=tuning.silence_timeout_secs)]
    return LLMUserAggregatorParams(vad_analyzer=vad, user_turn_stop_timeout=USER_TURN_STOP_TIMEOUT_S,
                                   user_turn_strategies=UserTurnStrategies(
                                       start=start, stop=[TypedTextTurnStopStrategy(), *stop]))
