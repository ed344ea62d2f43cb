"""What a voice call's observers record: the moments the bot spoke, and each spoken turn's latency."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


@dataclass
class VoiceTurnLatency:
    """One spoken turn: caller stops speaking -> first bot audio, and where the time went."""

    turn: int
    voice_to_voice_ms: float
    crossed_transition: bool
    parts_ms: dict[str, float] = field(default_factory=dict)  # Pipecat's contribution keys
    ttfb_ms: dict[str, float] = field(default_factory=dict)  # per service


@dataclass
class Timeline:
    """Moments of the call (time.monotonic()), for reports, the bench and tests."""

    bot_started: list[float] = field(default_factory=list)
    bot_stopped: list[float] = field(default_factory=list)
    interruptions: list[float] = field(default_factory=list)
    first_bot_text_at: float | None = None
    first_bot_audio_at: float | None = None  # first synthesised audio out of the TTS
    first_bot_speech_at: float | None = None  # first audio written to the speaker


class TimelineObserver(BaseObserver):
    """Fills a Timeline from the frames the pipeline pushes; `tts` and `responder` are the call's stages."""

    def __init__(self, timeline: Timeline, tts: FrameProcessor | None,
                 responder: FrameProcessor | None) -> None:
        super().__init__(observe_every_push=False)
        self._timeline = timeline
        self._tts, self._responder = tts, responder

    async def on_push_frame(self, data: FramePushed) -> None:
        now, frame, line = time.monotonic(), data.frame, self._timeline
        downstream = data.direction is FrameDirection.DOWNSTREAM
        if isinstance(frame, BotStartedSpeakingFrame) and downstream:
            line.bot_started.append(now)
            line.first_bot_speech_at = line.first_bot_speech_at or now
        elif isinstance(frame, BotStoppedSpeakingFrame) and downstream:
            line.bot_stopped.append(now)
        elif isinstance(frame, InterruptionFrame) and downstream:
            line.interruptions.append(now)
        elif isinstance(frame, LLMTextFrame) and data.source is self._responder:
            line.first_bot_text_at = line.first_bot_text_at or now
        elif isinstance(frame, TTSAudioRawFrame) and data.source is self._tts:
            line.first_bot_audio_at = line.first_bot_audio_at or now
