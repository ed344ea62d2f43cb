"""CallObserver: reads a call's frames without joining the pipeline.

It tells the call when a node is ready, what the bot said, each service's
time to first byte, and errors. Each frame is handled once, at its first push.
"""

from __future__ import annotations

from typing import Protocol

from openai import APIConnectionError, APITimeoutError
from pipecat.frames.frames import (
    ErrorFrame,
    FunctionCallsStartedFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMSetToolsFrame,
    LLMTextFrame,
    MetricsFrame,
    TTSSpeakFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.llm_service import LLMService

from engine.latency import Stage


class FrameListener(Protocol):
    """What the observer reports to its call (`HealthcareAIPipeline`; the voice session adds
    `on_voice_turn` and `on_stage_latency` for voice-to-voice, STT and TTS)."""

    def on_node_ready(self) -> None:
        """FlowManager queued a node's tools: the pending transition is done."""

    def on_bot_text_started(self) -> None: ...

    def on_bot_turn(self, text: str) -> None: ...

    def on_spoken_action(self, text: str) -> None:
        """A `tts_say` action's text went to text-to-speech."""

    def on_empty_answer(self) -> None:
        """A response ended with no text and no function call."""

    def on_stage_latency(self, stage: str, ms: float) -> None: ...

    def on_pipeline_error(self, message: str, source: str, fatal: bool) -> None: ...

    def on_responder_unreachable(self) -> None:
        """The responder's server refused the connection: no turn of this call can be answered."""


class CallObserver(BaseObserver):
    def __init__(self, call: FrameListener, responder: FrameProcessor) -> None:
        super().__init__()
        self._call = call
        self._responder = responder
        self._bot_text: list[str] | None = None
        self._answered = False  # the current response called a function or failed

    async def on_push_frame(self, data: FramePushed) -> None:
        if not data.first_push:
            return
        frame = data.frame
        if isinstance(frame, LLMSetToolsFrame):
            self._call.on_node_ready()
        elif isinstance(frame, TTSSpeakFrame):
            self._call.on_spoken_action(frame.text)
        elif data.source is self._responder:
            self._on_responder_frame(frame)
        elif isinstance(frame, MetricsFrame):
            self._on_metrics(frame, data.source)
        elif isinstance(frame, ErrorFrame):
            self._call.on_pipeline_error(str(frame.error), data.source.name, bool(frame.fatal))

    def _on_responder_frame(self, frame: object) -> None:
        if isinstance(frame, LLMFullResponseStartFrame):
            self._bot_text = []
            self._answered = False
        elif isinstance(frame, FunctionCallsStartedFrame):
            self._answered = True
        elif isinstance(frame, LLMTextFrame) and self._bot_text is not None:
            if not self._bot_text:
                self._call.on_bot_text_started()
            self._bot_text.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            text = "".join(self._bot_text or []).strip()
            self._bot_text = None
            if text:
                self._call.on_bot_turn(text)
            elif not self._answered:
                self._call.on_empty_answer()
        elif isinstance(frame, MetricsFrame):
            self._on_metrics(frame, self._responder)
        elif isinstance(frame, ErrorFrame):
            self._answered = True
            if refused(frame):
                self._call.on_responder_unreachable()
            else:
                self._call.on_pipeline_error(str(frame.error), "responder", bool(frame.fatal))

    def _on_metrics(self, frame: MetricsFrame, source: FrameProcessor) -> None:
        stage = _stage_of(source)
        if stage is None:
            return
        for item in frame.data:
            if isinstance(item, TTFBMetricsData) and item.value > 0:
                self._call.on_stage_latency(stage, item.value * 1000)


def refused(frame: ErrorFrame) -> bool:
    """Whether the error is a refused connection (the server is not there), not a slow or failed answer."""
    error = frame.exception
    return isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError)


def _stage_of(processor: FrameProcessor) -> str | None:
    """Only the responder's TTFB: a voice call takes STT and TTS per turn from Pipecat's breakdown."""
    return Stage.LLM if isinstance(processor, LLMService) else None
