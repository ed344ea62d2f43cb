"""Every use of a private Pipecat name, in one place.

Pipecat 1.14 has no public hook for these: sharing one loaded Whisper model and Piper voice
across calls, starting a transcription before the VAD ends the turn, asking smart-turn for a
verdict on audio of our choosing before the VAD ends the turn, noticing a microphone
or speaker that went away, opening the speaker with a larger buffer, and checking how a TTS
service cuts and frames its text. The classes here turn those private steps into named
methods that the rest of `engine.voice` uses; nothing else there touches a private name.

Beyond engine.voice, the call reaches into Pipecat Flows and the LLM service in three places
(engine/nodes.py keeps Flows' own tts_say and function action handlers, engine/responders/scripted.py
syncs tool handlers for an operator's call, engine/interop/handlers.py checks a direct function's
result as stock Pipecat does); those names are listed here too.

`PRIVATE_METHODS`, `PRIVATE_PROPERTIES`, `PRIVATE_ATTRIBUTES` and `PRIVATE_FUNCTIONS` list every
name used here;
tests/voice/test_pipecat_private.py checks them against the installed Pipecat, so an
upgrade that renames one fails there, by name, rather than deep inside a call.
"""

from __future__ import annotations

from concurrent.futures import Future
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pipecat.flows.flow
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.flows.actions import ActionManager
from pipecat.flows.manager import FlowManager
from pipecat.frames.frames import VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from pipecat.metrics.metrics import MetricsData
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.llm_service import LLMService
from pipecat.services.piper.tts import PiperTTSService, PiperTTSSettings
from pipecat.services.stt_service import SegmentedSTTService, STTService
from pipecat.services.tts_service import TextAggregationMode, TTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.local.audio import LocalAudioInputTransport, LocalAudioOutputTransport

# Methods overridden or called, with the parameter names relied on.
PRIVATE_METHODS: dict[type, dict[str, tuple[str, ...]]] = {
    WhisperSTTService: {"_load": ("self",), "_unsupported_language": ("self",),
                        "_handle_transcription": ("self", "transcript", "is_final", "language")},
    SegmentedSTTService: {"_handle_user_started_speaking": ("self", "frame"),
                          "_handle_user_stopped_speaking": ("self", "frame"),
                          "_trailing_silence": ("self",)},
    STTService: {"_record_stt_audio_usage": ("self", "audio")},
    LocalAudioInputTransport: {
        "_audio_in_callback": ("self", "in_data", "frame_count", "time_info", "status")},
    ActionManager: {"_handle_tts_action": ("self", "action"), "_handle_function_action": ("self", "action")},
    LLMService: {"_sync_registered_tool_handlers": ("self", "tools")},
    BaseSmartTurn: {"_process_speech_segment": ("self", "audio_buffer"), "_clear": ("self", "turn_state")},
}
# Properties read.
PRIVATE_PROPERTIES: dict[type, tuple[str, ...]] = {
    BaseSmartTurn: ("_model_executor",),
}
# Instance attributes read or set; each is assigned (`self.<name> =`) in its class's source.
PRIVATE_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    WhisperSTTService: ("_model",),
    SegmentedSTTService: ("_audio_buffer", "_user_speaking", "_segment_queue"),
    STTService: ("_user_id",),
    TTSService: ("_push_start_frame", "_text_aggregation_mode"),
    PiperTTSService: ("_voice",),
    LocalAudioInputTransport: ("_in_stream",),
    LocalAudioOutputTransport: ("_out_stream",),
    FlowManager: ("_action_manager",),
    BaseSmartTurn: ("_audio_buffer",),
}
# Module-level functions called, with their parameter names.
PRIVATE_FUNCTIONS: dict[ModuleType, dict[str, tuple[str, ...]]] = {
    pipecat.flows.flow: {"_check_contract": ("response", "name", "where")},
}


# ----- speech to text ------------------------------------------------------------------------


class WhisperSTTHooks(WhisperSTTService):
    """WhisperSTTService with the private steps of it and of SegmentedSTTService as named methods."""

    def _load(self) -> None:  # Pipecat loads the model here, from `__init__`
        self.load_model()

    def load_model(self) -> None:
        """Load the model; override to take one from elsewhere and give it to `use_model`."""
        super()._load()  # type: ignore[no-untyped-call]  # unannotated in Pipecat

    def use_model(self, model: Any) -> None:
        """Transcribe with `model`; ValueError if it cannot transcribe the configured language."""
        self._model = model
        problem = self._unsupported_language()
        if problem:
            raise ValueError(problem)

    @property
    def model(self) -> Any:
        return self._model

    @property
    def user_speaking(self) -> bool:
        """Between the VAD's start and stop of the caller's speech."""
        return self._user_speaking

    @property
    def user_id(self) -> str:
        return self._user_id

    def segment_so_far(self) -> bytes:
        """The caller's audio buffered for this turn, padded with trailing silence as Pipecat pads it."""
        return bytes(self._audio_buffer) + self._trailing_silence()

    async def _handle_user_started_speaking(self, frame: VADUserStartedSpeakingFrame) -> None:
        await self.on_vad_started(frame)

    async def _handle_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        await self.on_vad_stopped(frame)

    async def on_vad_started(self, frame: VADUserStartedSpeakingFrame) -> None:
        await super()._handle_user_started_speaking(frame)

    async def on_vad_stopped(self, frame: VADUserStoppedSpeakingFrame) -> None:
        """Queue the turn's segment for transcription (Pipecat's own handling)."""
        await super()._handle_user_stopped_speaking(frame)

    async def queue_segment(self, segment: bytes) -> None:
        """End the caller's speech with `segment` as its audio, as Pipecat does at a VAD stop."""
        self._user_speaking = False
        self._audio_buffer.clear()
        self._record_stt_audio_usage(segment)
        await self.emit_stt_usage_metrics()  # type: ignore[no-untyped-call]  # unannotated in Pipecat
        await self._segment_queue.put(segment)

    async def report_transcription(self, text: str, language: Language | None) -> None:
        """Pipecat's tracing hook for a final transcript."""
        await self._handle_transcription(text, True, language)


# ----- end of turn ---------------------------------------------------------------------------

SmartTurnVerdict = tuple[EndOfTurnState, MetricsData | None]
HeardAudio = list[tuple[float, npt.NDArray[np.int16]]]  # (monotonic time, chunk), as smart-turn keeps it


class SmartTurnHooks(LocalSmartTurnAnalyzerV3):
    """Pipecat's local smart-turn v3, with its private steps as named methods: the audio heard this
    turn, a verdict on audio of our choosing on the model's own thread, and ending the turn."""

    def heard_so_far(self) -> HeardAudio:
        """A copy of this turn's audio (from just before the speech), with the time each chunk came."""
        return list(self._audio_buffer)

    def verdict_in_background(self, heard: HeardAudio) -> Future[SmartTurnVerdict]:
        """smart-turn's verdict on `heard`, computed on the thread the model runs on."""
        verdict: Future[SmartTurnVerdict] = self._model_executor.submit(self._process_speech_segment, heard)
        return verdict

    def end_turn(self) -> None:
        """What smart-turn does after a "complete" verdict: forget this turn's audio."""
        self._clear(EndOfTurnState.COMPLETE)


# ----- text to speech ------------------------------------------------------------------------


class SharedVoicePiperTTS(PiperTTSService):
    """Piper TTS speaking with an already loaded voice (`models.shared_piper_voice`).

    Pipecat's PiperTTSService loads its voice in `__init__`, which runs on the event loop while
    the call's pipeline is built and froze the console for ~0.3 s. Its `__init__` only builds
    the settings and then loads (or downloads) the voice: this builds the same settings and
    takes the loaded voice instead; everything else (synthesis in a thread) is Pipecat's.
    """

    def __init__(self, *, voice: Any, settings: PiperTTSSettings, **kwargs: Any) -> None:
        default_settings = PiperTTSSettings(model=None, voice=None, language=None)
        default_settings.apply_update(settings)
        TTSService.__init__(self, push_start_frame=True, push_stop_frames=True, settings=default_settings,
                            **kwargs)
        self._voice = voice


def opens_audio_context(service: TTSService) -> bool:
    """Whether the service's base class opens each audio context itself (`push_start_frame=True`)."""
    return service._push_start_frame


def text_aggregation_mode(service: TTSService) -> TextAggregationMode:
    return service._text_aggregation_mode


# ----- local audio ---------------------------------------------------------------------------


class LocalAudioInputHooks(LocalAudioInputTransport):
    """The microphone transport, told of each chunk of audio and asked whether its stream runs."""

    async def setup_without_stream(self, setup: FrameProcessorSetup) -> None:
        """Everything LocalAudioInputTransport's `setup` does except opening its stream."""
        await BaseInputTransport.setup(self, setup)

    def _audio_in_callback(self, in_data: bytes, frame_count: int, time_info: Any, status: int) -> Any:
        self.on_audio_in()
        return super()._audio_in_callback(in_data, frame_count,  # type: ignore[no-untyped-call]
                                          time_info, status)  # unannotated in Pipecat

    def on_audio_in(self) -> None:
        """Called in PortAudio's thread for each chunk of microphone audio."""

    def stream_active(self) -> bool | None:
        """Whether the input stream is running; None before it is opened."""
        stream = self._in_stream
        return None if stream is None else bool(stream.is_active())


class LocalAudioOutputHooks(LocalAudioOutputTransport):
    """The speaker transport, set up without its own stream so that one of our choosing is used."""

    async def setup_without_stream(self, setup: FrameProcessorSetup) -> None:
        """Everything LocalAudioOutputTransport's `setup` does except opening its stream."""
        await BaseOutputTransport.setup(self, setup)

    def use_stream(self, stream: Any) -> None:
        self._out_stream = stream
