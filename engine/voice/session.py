"""VoiceSession: what `create_call(..., voice=VoiceSession(config))` needs to run a call by voice.

    [mic] -> typed-text marker -> STT -> user aggregator (VAD, turn) -> tap -> responder -> TTS (+ line cache)
          -> [speaker] -> (recorder) -> assistant aggregator

The pipeline calls `attach(call)`, `user_params()`, `wrap(stages, aggregators)`
and `observers()` while it builds. One session serves one call. Devices and
model files are checked in `attach`, so a call whose microphone or speaker is
missing fails to start with "no input device: …" / "no output device: …" and
the console can fall back to text. A device lost mid-call ends the call with
the reason recorded.
"""

from __future__ import annotations

import asyncio
import os
import time
import wave
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from loguru import logger
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMContextUserTurnFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.observers.user_bot_latency_observer import LatencyBreakdown, UserBotLatencyObserver
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.tts_service import TTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.local.audio import (
    LocalAudioInputTransport,
    LocalAudioOutputTransport,
    LocalAudioTransport,
    LocalAudioTransportParams,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy, VADUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy, TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.time import time_now_iso8601

from engine import events as ev
from engine.errors import AudioDeviceError
from engine.latency import Stage, summary
from engine.paths import data_dir
from engine.voice import models
from engine.voice.config import ServiceSpec, VoiceConfig
from engine.voice.devices import AudioDevice, choose_devices, quiet_native_stderr, require_present
from engine.voice.tts_cache import AudioCacheStore, with_line_cache

if TYPE_CHECKING:
    from engine.pipeline import HealthcareAIPipeline

SAMPLE_RATE = 16000  # microphone, speaker, synthesis and recordings
WHISPER_TTFS_P99_S = 1.0  # speech end -> final transcript, for the turn strategies' safety net
END_SILENCE_S = 1
WRITE_TIMEOUT_S = 3.0  # a speaker write blocked this long: the speaker is gone
WATCHDOG_PERIOD_S = 0.2


# ----- services -------------------------------------------------------------------------------


class GreedyWhisper:
    """A faster-whisper model decoding with `models.WHISPER_DECODE_OPTIONS` (greedy, one pass, no
    timestamps): what helps long recordings costs a short turn time it can't spare."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def transcribe(self, audio: Any, **options: Any) -> Any:
        for name, value in models.WHISPER_DECODE_OPTIONS.items():
            options.setdefault(name, value)
        return self._model.transcribe(audio, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


# Early transcription: after this much digital quiet in a turn, Whisper starts on the audio so far,
# while the VAD is still waiting out its stop_secs; a louder frame before the VAD stop discards it.
EARLY_STT_AFTER_S = 0.08
EARLY_STT_MAX_RUNNING = 2  # a pause mid-turn starts one that the next word makes stale
QUIET_RMS = 150  # int16 RMS (about -47 dBFS): quieter than any speech the VAD would count


class _EarlySegment(bytes):
    """A segment whose transcription started early: `future` gives Whisper's segments."""

    future: asyncio.Future


class SharedModelWhisperSTT(WhisperSTTService):
    """Whisper STT that reuses one loaded model per folder across the process's calls.

    Pipecat transcribes each segment in a worker thread, so the event loop keeps moving audio.
    With `early` (the default), a turn's transcription starts as soon as the caller has been
    quiet for EARLY_STT_AFTER_S, overlapping Whisper with the VAD's stop_secs wait; if the
    caller makes any sound before the VAD calls the turn over, that early result is dropped
    and the segment is transcribed as usual, so the transcript always covers the whole turn.
    """

    early = True
    _quiet_s = 0.0
    _early: asyncio.Future | None = None  # the current turn's early transcription, still valid
    _early_running = 0  # early transcriptions in flight, valid or stale

    def _load(self) -> None:
        shared = models.shared_whisper_model(str(self._settings.model), self._device, self._compute_type)
        self._model = GreedyWhisper(shared)
        problem = self._unsupported_language()
        if problem:
            raise ValueError(problem)

    def _transcribe_now(self, pcm: bytes) -> list[Any]:
        """What Pipecat's run_stt does in its worker thread, for an early segment."""
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        segments, _ = self._model.transcribe(audio, language=self._settings.language,
                                             hotwords=self._settings.hotwords,
                                             initial_prompt=self._settings.initial_prompt)
        return list(segments)

    async def process_audio_frame(self, frame: Any, direction: FrameDirection) -> None:
        await super().process_audio_frame(frame, direction)
        if not self.early or not self._user_speaking:
            return
        samples = np.frombuffer(frame.audio, dtype=np.int16).astype(np.float32)
        if samples.size == 0:
            return
        if float(np.sqrt(np.mean(samples * samples))) >= QUIET_RMS:
            self._quiet_s, self._early = 0.0, None  # still speaking: any early result is stale
            return
        self._quiet_s += samples.size / self.sample_rate
        if (self._early is None and self._early_running < EARLY_STT_MAX_RUNNING
                and self._quiet_s >= EARLY_STT_AFTER_S and self.is_usable):
            pcm = bytes(self._audio_buffer) + self._trailing_silence()
            future = asyncio.get_running_loop().run_in_executor(None, self._transcribe_now, pcm)
            self._early_running += 1
            logger.debug(f"{self}: early transcription of {len(pcm) / 2 / self.sample_rate:.2f} s started")
            future.add_done_callback(self._early_done)
            self._early = future

    def _early_done(self, future: asyncio.Future) -> None:
        self._early_running -= 1
        if not future.cancelled():
            future.exception()  # retrieved: a stale early result's error is not reported

    async def _handle_user_started_speaking(self, frame: Any) -> None:
        self._quiet_s, self._early = 0.0, None
        await super()._handle_user_started_speaking(frame)

    async def _handle_user_stopped_speaking(self, frame: Any) -> None:
        early, self._early, self._quiet_s = self._early, None, 0.0
        if early is None or not self.is_usable:
            await super()._handle_user_stopped_speaking(frame)
            return
        self._user_speaking = False
        segment = _EarlySegment(bytes(self._audio_buffer) + self._trailing_silence())
        segment.future = early
        self._audio_buffer.clear()
        self._record_stt_audio_usage(segment)
        await self.emit_stt_usage_metrics()
        await self._segment_queue.put(segment)

    async def run_stt(self, audio: bytes) -> Any:
        if not isinstance(audio, _EarlySegment):
            async for result in super().run_stt(audio):
                yield result
            return
        await self.start_processing_metrics()
        segments = await audio.future
        threshold = self._settings.no_speech_prob
        text = "".join(f"{segment.text} " for segment in segments
                       if threshold is not None and segment.no_speech_prob < threshold)
        await self.stop_processing_metrics()
        if text:
            language = self._settings.language
            await self._handle_transcription(text, True, language)
            logger.debug(f"Transcription (early): [{text}]")
            yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), language)


class SharedVoicePiperTTS(PiperTTSService):
    """Piper TTS speaking with an already loaded voice (`models.shared_piper_voice`).

    Pipecat's PiperTTSService loads its voice in `__init__`, which runs on the event loop while
    the call's pipeline is built and froze the console for ~0.3 s. This takes the loaded voice
    instead; everything else (synthesis in a thread, settings) is Pipecat's.
    """

    def __init__(self, *, voice: Any, settings: PiperTTSService.Settings, **kwargs: Any) -> None:
        default_settings = self.Settings(model=None, voice=None, language=None)
        default_settings.apply_update(settings)
        TTSService.__init__(self, push_start_frame=True, push_stop_frames=True, settings=default_settings,
                            **kwargs)
        self._voice = voice


def build_stt(config: VoiceConfig) -> Any:
    if config.stt_factory is not None:
        return config.stt_factory()
    spec = config.stt_spec()
    if spec.kind == "openai":
        from pipecat.services.openai.stt import OpenAISTTService

        settings = OpenAISTTService.Settings(model=spec.argument) if spec.argument else None
        return OpenAISTTService(settings=settings)
    model_dir = whisper_model_path(spec)
    return SharedModelWhisperSTT(settings=WhisperSTTService.Settings(model=str(model_dir)), device="cpu",
                                 compute_type="int8", ttfs_p99_latency=WHISPER_TTFS_P99_S)


def build_tts(config: VoiceConfig) -> Any:
    """The TTS service, with the scripted-line cache mixed in where the service allows it."""
    if config.tts_factory is not None:
        service = config.tts_factory()
        service.__class__ = with_line_cache(type(service))  # same object, plus the cache's methods
        return service
    spec = config.tts_spec()
    if spec.kind == "openai":
        from pipecat.services.openai.tts import OpenAITTSService

        settings = OpenAITTSService.Settings(voice=spec.argument) if spec.argument else None
        return with_line_cache(OpenAITTSService)(settings=settings, sample_rate=24000)
    voice = piper_voice_path(spec)
    return with_line_cache(SharedVoicePiperTTS)(voice=models.shared_piper_voice(str(voice)),
                                                settings=PiperTTSService.Settings(voice=voice.stem),
                                                sample_rate=SAMPLE_RATE)


def piper_voice_path(spec: ServiceSpec) -> Path:
    if spec.argument:
        return models.check_custom_piper_voice(Path(spec.argument))
    return models.piper_voice_file()


def whisper_model_path(spec: ServiceSpec) -> Path:
    if spec.argument:
        return models.check_custom_whisper_dir(Path(spec.argument))
    return models.whisper_model_dir()


def load_models(config: VoiceConfig) -> None:
    """Load (and warm) the models the call's services will use; slow, so run it in a thread."""
    if config.stt_factory is None and config.stt_spec().kind == "whisper":
        models.shared_whisper_model(str(whisper_model_path(config.stt_spec())), "cpu", "int8")
    if config.tts_factory is None and config.tts_spec().kind == "piper":
        models.shared_piper_voice(str(piper_voice_path(config.tts_spec())))


# ----- turn strategies ------------------------------------------------------------------------


TYPED_MARK = "voice_console_typed"


class TypedTextMarker(FrameProcessor):
    """First stage after the microphone: any transcript seen here was typed, not spoken."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame) and direction is FrameDirection.DOWNSTREAM:
            frame.metadata[TYPED_MARK] = True
        await self.push_frame(frame, direction)


class TypedTextTurnStopStrategy(BaseUserTurnStopStrategy):
    """Ends a typed caller turn as soon as its text arrives; spoken turns are left to VAD and smart-turn."""

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, TranscriptionFrame) and frame.metadata.get(TYPED_MARK) and frame.text.strip():
            await self.trigger_user_turn_stopped()
        return ProcessFrameResult.CONTINUE


def build_user_params(config: VoiceConfig) -> LLMUserAggregatorParams:
    tuning = config.turn
    models.silero_vad_file()  # verified before Pipecat loads it from the same place
    vad = SileroVADAnalyzer(sample_rate=SAMPLE_RATE, params=VADParams(
        confidence=tuning.vad_confidence, start_secs=tuning.vad_start_secs, stop_secs=tuning.vad_stop_secs,
        min_volume=tuning.vad_min_volume))
    start = [VADUserTurnStartStrategy(enable_interruptions=tuning.interruptions),
             TranscriptionUserTurnStartStrategy(enable_interruptions=tuning.interruptions)]
    if tuning.turn == "smart-turn":
        analyzer = LocalSmartTurnAnalyzerV3(smart_turn_model_path=str(models.smart_turn_file()),
                                            params=SmartTurnParams(stop_secs=tuning.smart_turn_max_silence_secs))
        stop: list[BaseUserTurnStopStrategy] = [TurnAnalyzerUserTurnStopStrategy(turn_analyzer=analyzer)]
    else:
        stop = [SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=tuning.silence_timeout_secs)]
    return LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=UserTurnStrategies(
        start=start, stop=[TypedTextTurnStopStrategy(), *stop]))


# ----- local audio, watched -------------------------------------------------------------------


class _WatchedInput(LocalAudioInputTransport):
    """The microphone; remembers when audio last arrived, so a lost device can be noticed."""

    device: AudioDevice | None = None
    last_audio_at: float | None = None
    closing = False
    open_error: str | None = None

    async def setup(self, setup: Any) -> None:
        """A microphone that fails to open is recorded, not raised: a processor whose set-up
        raises holds the pipeline's start, and the call would hang instead of ending."""
        try:
            require_present(self._py_audio, self.device, "input")
        except AudioDeviceError as error:
            self.open_error = str(error)
            await BaseInputTransport.setup(self, setup)
            return
        try:
            await super().setup(setup)
        except Exception as error:
            self.open_error = str(error)

    def _audio_in_callback(self, in_data: bytes, frame_count: int, time_info: Any, status: int) -> Any:
        self.last_audio_at = time.monotonic()
        return super()._audio_in_callback(in_data, frame_count, time_info, status)

    async def stop(self, frame: EndFrame) -> None:
        self.closing = True
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        self.closing = True
        await super().cancel(frame)

    def silent_for(self) -> float:
        return 0.0 if self.last_audio_at is None else time.monotonic() - self.last_audio_at

    def stream_failed(self) -> bool:
        """The stream stopped by itself (PortAudio ends it when the device goes away)."""
        stream = self._in_stream
        return self.last_audio_at is not None and stream is not None and not stream.is_active()


class _WatchedOutput(LocalAudioOutputTransport):
    """The speaker; a failing write is reported once as a lost device.

    Opened with a 40 ms buffer rather than PortAudio's lowest latency (about 8 ms
    through ALSA's pulse plugin), which underruns, and clicks, at every hiccup of
    the event loop.
    """

    device: AudioDevice | None = None
    on_lost: Any = None
    closing = False
    open_error: str | None = None
    frames_per_buffer = SAMPLE_RATE // 25

    async def setup(self, setup: Any) -> None:
        await BaseOutputTransport.setup(self, setup)  # everything but the parent's stream
        try:
            require_present(self._py_audio, self.device, "output")
            self._out_stream = self._py_audio.open(
                format=self._py_audio.get_format_from_width(2), channels=self._params.audio_out_channels,
                rate=self.sample_rate, output=True, output_device_index=self._params.output_device_index,
                frames_per_buffer=self.frames_per_buffer)
        except Exception as error:
            self.open_error = str(error)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        try:
            return await super().write_audio_frame(frame)
        except OSError as error:
            if self.on_lost is not None and not self.closing:
                self.on_lost(f"the speaker stopped taking audio ({error})")
            return False

    async def stop(self, frame: EndFrame) -> None:
        self.closing = True
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        self.closing = True
        await super().cancel(frame)


class WatchedAudioTransport(LocalAudioTransport):
    def __init__(self, microphone: AudioDevice, speaker: AudioDevice) -> None:
        with quiet_native_stderr():
            super().__init__(transport_params(microphone, speaker))
        self.input().device = microphone
        self.output().device = speaker

    def input(self) -> _WatchedInput:
        if not self._input:
            self._input = _WatchedInput(self._pyaudio, self._params)
        return self._input

    def output(self) -> _WatchedOutput:
        if not self._output:
            self._output = _WatchedOutput(self._pyaudio, self._params)
        return self._output


def transport_params(microphone: AudioDevice, speaker: AudioDevice) -> LocalAudioTransportParams:
    return LocalAudioTransportParams(
        audio_in_enabled=True, audio_out_enabled=True, audio_in_sample_rate=SAMPLE_RATE,
        audio_out_sample_rate=SAMPLE_RATE, input_device_index=microphone.index,
        output_device_index=speaker.index, audio_out_end_silence_secs=END_SILENCE_S,
        audio_out_write_timeout_secs=WRITE_TIMEOUT_S)


# ----- recording ------------------------------------------------------------------------------


class CallRecorder:
    """Writes the caller's and the bot's audio, and both mixed, to WAV files as the call goes.

    The recordings hold the patient's voice and data: the folder is private to the user (0700)
    and so are the files (0600).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths = {name: folder / f"{name}.wav" for name in ("caller", "bot", "call")}
        self._files: dict[str, tuple[Any, wave.Wave_write]] = {}
        self.processor = AudioBufferProcessor(sample_rate=SAMPLE_RATE, num_channels=1,
                                              buffer_size=SAMPLE_RATE * 2 * 2, auto_start_recording=True)
        self.processor.add_event_handler("on_track_audio_data", self._on_tracks)
        self.processor.add_event_handler("on_audio_data", self._on_mixed)
        self.processor.add_event_handler("on_recording_stopped", self._on_stopped)

    def _writer(self, name: str) -> wave.Wave_write:
        if name not in self._files:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            raw = os.fdopen(os.open(self.paths[name], os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600), "wb")
            writer = wave.open(raw, "wb")
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(SAMPLE_RATE)
            self._files[name] = (raw, writer)
        return self._files[name][1]

    async def _on_tracks(self, _processor: Any, caller: bytes, bot: bytes, _rate: int,
                         _channels: int) -> None:
        self._writer("caller").writeframes(caller)
        self._writer("bot").writeframes(bot)

    async def _on_mixed(self, _processor: Any, audio: bytes, _rate: int, _channels: int) -> None:
        self._writer("call").writeframes(audio)

    async def _on_stopped(self, _processor: Any) -> None:
        self.close()

    def close(self) -> None:
        for raw, writer in self._files.values():
            writer.close()
            raw.close()
        self._files.clear()

    def written(self) -> dict[str, str]:
        return {name: str(path) for name, path in self.paths.items() if path.exists()}


# ----- watching the call ----------------------------------------------------------------------


class SpokenTurnTap(FrameProcessor):
    """Sits between the user aggregator and the responder; reports each caller turn's text."""

    def __init__(self, on_user_turn: Any) -> None:
        super().__init__()
        self._on_user_turn = on_user_turn

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextUserTurnFrame) and direction is FrameDirection.DOWNSTREAM:
            self._on_user_turn(frame.text)
        await self.push_frame(frame, direction)


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
    def __init__(self, timeline: Timeline, tts: Any, responder: Any) -> None:
        super().__init__(observe_every_push=False)
        self._timeline = timeline
        self._tts, self._responder = tts, responder

    async def on_push_frame(self, data: FramePushed) -> None:
        now, frame, line = time.monotonic(), data.frame, self._timeline
        if isinstance(frame, BotStartedSpeakingFrame) and data.direction is FrameDirection.DOWNSTREAM:
            line.bot_started.append(now)
            line.first_bot_speech_at = line.first_bot_speech_at or now
        elif isinstance(frame, BotStoppedSpeakingFrame) and data.direction is FrameDirection.DOWNSTREAM:
            line.bot_stopped.append(now)
        elif isinstance(frame, InterruptionFrame) and data.direction is FrameDirection.DOWNSTREAM:
            line.interruptions.append(now)
        elif isinstance(frame, LLMTextFrame) and data.source is self._responder:
            line.first_bot_text_at = line.first_bot_text_at or now
        elif isinstance(frame, TTSAudioRawFrame) and data.source is self._tts:
            line.first_bot_audio_at = line.first_bot_audio_at or now


# ----- the session ----------------------------------------------------------------------------


# Parts of Pipecat's per-turn latency breakdown that become the call's latency stages.
BREAKDOWN_STAGES = {"endpointing_wait": Stage.VAD_STOP, "transcription": Stage.STT, "speech_synthesis": Stage.TTS}


class VoiceSession:
    """The `voice=` object of one call: local microphone and speaker, STT, TTS, VAD and turn taking."""

    def __init__(self, config: VoiceConfig | None = None, *,
                 cache_store: AudioCacheStore | None = None) -> None:
        self.config = config or VoiceConfig()
        self.cache_store = cache_store
        self.microphone: AudioDevice | None = None
        self.speaker: AudioDevice | None = None
        self.turn_latencies: list[VoiceTurnLatency] = []
        self.timeline = Timeline()
        self.recorder: CallRecorder | None = None
        self.device_lost: str | None = None
        self._call: HealthcareAIPipeline | None = None
        self._stt: Any = None
        self._tts: Any = None
        self._responder: FrameProcessor | None = None
        self._transport: WatchedAudioTransport | None = None
        self._typed_pending: deque[str] = deque()
        self._turn_crossed_transition = False
        self._pending_v2v_ms: float | None = None
        self._tasks: set[asyncio.Task] = set()
        self._watchdog: asyncio.Task | None = None
        self._opened = asyncio.Event()
        self._unsubscribe: Any = None
        self._user_params: LLMUserAggregatorParams | None = None

    # ----- what the pipeline calls, in this order ---------------------------------------------

    def preflight(self) -> tuple[AudioDevice, AudioDevice]:
        """Check settings, model files and devices.

        Raises VoiceConfigError, ModelFileError or AudioDeviceError.
        """
        self.config.validate()
        self._verify_models()
        self.microphone, self.speaker = choose_devices(self.config.input_device, self.config.output_device,
                                                       SAMPLE_RATE)
        load_models(self.config)
        self._user_params = build_user_params(self.config)  # loads Silero and smart-turn (~70 ms)
        return self.microphone, self.speaker

    async def prepare(self) -> tuple[AudioDevice, AudioDevice]:
        """`preflight` in a worker thread: await it before `call.start()`.

        Device enumeration and loading Whisper and the Piper voice take from a few hundred ms to
        seconds; done here, building the call's pipeline on the event loop finds everything
        ready and the console does not freeze. Raises what `preflight` raises.
        """
        return await asyncio.to_thread(self.preflight)

    def attach(self, call: HealthcareAIPipeline) -> None:
        """Called by the pipeline first; runs `preflight` unless it already ran (`prepare`, or
        `preflight` in a thread), in which case devices and models are not checked again."""
        if self._call is not None:
            raise RuntimeError("a VoiceSession serves one call; make a new one for the next call")
        if self.microphone is None or self.speaker is None:
            self.preflight()
        self._call = call
        self._unsubscribe = call.events.subscribe(self._on_call_event)

    def user_params(self) -> LLMUserAggregatorParams:
        params, self._user_params = self._user_params, None  # built by `preflight`, for this call only
        return params or build_user_params(self.config)

    def wrap(self, stages: list[FrameProcessor],
             aggregators: LLMContextAggregatorPair) -> list[FrameProcessor]:
        user_aggregator, responder = stages
        self._stt = build_stt(self.config)
        self._tts = build_tts(self.config)
        self._setup_line_cache()
        self._transport = WatchedAudioTransport(self.microphone, self.speaker)
        self._transport.output().on_lost = self._on_device_lost
        self._responder = responder
        pipeline = [self._transport.input(), TypedTextMarker(), self._stt, user_aggregator,
                    SpokenTurnTap(self._on_user_turn), responder, self._tts, self._transport.output()]
        if self.config.record:
            self.recorder = CallRecorder(self._recordings_dir())
            pipeline.append(self.recorder.processor)
        self._watchdog = self._spawn(self._watch_devices())
        return [*pipeline, aggregators.assistant()]

    def observers(self) -> list[BaseObserver]:
        latency = UserBotLatencyObserver()
        latency.add_event_handler("on_latency_measured", self._on_latency_measured)
        latency.add_event_handler("on_latency_breakdown", self._on_latency_breakdown)
        return [latency, TimelineObserver(self.timeline, self._tts, self._responder)]

    # ----- set-up helpers ----------------------------------------------------------------------

    def _verify_models(self) -> None:
        """The bundled files this call will load (a custom model is checked when it is built)."""
        config = self.config
        if config.stt_factory is None and config.stt_spec() == ServiceSpec("whisper"):
            models.whisper_model_dir()
        if config.tts_factory is None and config.tts_spec() == ServiceSpec("piper"):
            models.piper_voice_file()
        models.silero_vad_file()
        if config.turn.turn == "smart-turn":
            models.smart_turn_file()

    def _setup_line_cache(self) -> None:
        precomputed = self._call.precomputed.static_texts
        first, other = scripted_lines(self._call, precomputed)
        self._tts.setup_line_cache(first, other, store=self.cache_store, enabled=self.config.precache)

    def _recordings_dir(self) -> Path:
        return (self.config.recordings_root or data_dir() / "calls") / self._call.session_id

    def _spawn(self, coroutine: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----- caller turns and latency --------------------------------------------------------

    def _on_call_event(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.UserTurn) and event.source != "voice":
            self._typed_pending.append(" ".join(event.text.split()))
        elif isinstance(event, ev.Transition):
            self._turn_crossed_transition = True
        elif isinstance(event, ev.NodeEntered):
            self._opened.set()
        elif isinstance(event, ev.CallEnded):
            self._close()

    def _on_user_turn(self, text: str) -> None:
        cleaned = " ".join(text.split())
        if self._typed_pending and self._typed_pending[0] == cleaned:
            self._typed_pending.popleft()  # a typed turn: the call has recorded it already
            return
        self._typed_pending.clear()  # any typed text still pending was aggregated into this turn
        if self._call is not None and cleaned and not self._call.ended:
            self._turn_crossed_transition = False
            self._call.on_voice_turn(cleaned)

    async def _on_latency_measured(self, _observer: Any, seconds: float) -> None:
        self._pending_v2v_ms = seconds * 1000
        if self._call is not None and not self._call.ended:
            self._call.on_stage_latency(Stage.VOICE_TO_VOICE, self._pending_v2v_ms)

    async def _on_latency_breakdown(self, _observer: Any, breakdown: LatencyBreakdown) -> None:
        if self._pending_v2v_ms is None:
            return
        record = VoiceTurnLatency(
            turn=self._call.turn if self._call else 0, voice_to_voice_ms=round(self._pending_v2v_ms, 1),
            crossed_transition=self._turn_crossed_transition,
            parts_ms={c.key: round(c.duration_secs * 1000, 1) for c in breakdown.contributions},
            ttfb_ms={t.processor: round(t.duration_secs * 1000, 1) for t in breakdown.ttfb})
        self._pending_v2v_ms = None
        self.turn_latencies.append(record)
        if self._call is None or self._call.ended:
            return
        for part, stage in BREAKDOWN_STAGES.items():
            if (ms := record.parts_ms.get(part)) is not None:
                self._call.on_stage_latency(stage, ms)

    # ----- lost devices ------------------------------------------------------------------------

    async def _watch_devices(self) -> None:
        await self._opened.wait()  # act once the call has started: `start()` then returns normally
        while self._call is not None and not self._call.ended:
            await asyncio.sleep(WATCHDOG_PERIOD_S)
            if self._transport is not None:
                self._check_devices(self._transport.input(), self._transport.output())

    def _check_devices(self, microphone: _WatchedInput, speaker: _WatchedOutput) -> None:
        if microphone.closing or speaker.closing:
            return
        if microphone.open_error:
            self._on_device_lost(f"the microphone could not be opened ({microphone.open_error})")
        elif speaker.open_error:
            self._on_device_lost(f"the speaker could not be opened ({speaker.open_error})")
        elif microphone.stream_failed():
            self._on_device_lost("the microphone stream stopped")
        elif microphone.silent_for() > self.config.device_loss_secs:
            self._on_device_lost(f"the microphone delivered no audio for {microphone.silent_for():.1f} s")
        elif not speaker.is_usable:
            self._on_device_lost(f"the speaker took no audio for {WRITE_TIMEOUT_S:.0f} s")

    def _on_device_lost(self, reason: str) -> None:
        if self.device_lost is not None or self._call is None or self._call.ended:
            return
        self.device_lost = reason
        message = f"audio device lost: {reason}"
        logger.warning(message)
        self._call.on_pipeline_error(message, "audio", True)
        self._spawn(self._call.stop(reason=message))

    def _close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()

    # ----- reporting ----------------------------------------------------------------------------

    @property
    def cache_stats(self) -> Any:
        return getattr(self._tts, "cache_stats", None)

    def first_line_ms(self) -> dict[str, float | None]:
        """From the first bot text to its first synthesised audio, and to the speaker."""
        line = self.timeline
        start = line.first_bot_text_at

        def since(moment: float | None) -> float | None:
            return round((moment - start) * 1000, 1) if moment is not None and start is not None else None

        return {"tts_first_byte_ms": since(line.first_bot_audio_at),
                "first_audio_out_ms": since(line.first_bot_speech_at)}

    def report(self) -> dict[str, Any]:
        v2v = [t.voice_to_voice_ms for t in self.turn_latencies]
        return {
            "devices": {"input": self.microphone.name if self.microphone else None,
                        "output": self.speaker.name if self.speaker else None},
            "voice_to_voice_ms": summary(v2v),
            "turns": [asdict(t) for t in self.turn_latencies],
            "first_line": self.first_line_ms(),
            "cache": self.cache_stats.report() if self.cache_stats else None,
            "recording": self.recorder.written() if self.recorder else {},
            "device_lost": self.device_lost,
        }


async def preload(config: VoiceConfig | None = None) -> None:
    """Check the model files and load Whisper and the Piper voice off the event loop, so the first
    voice call starts fast.

    Optional: a call loads what it needs itself. Raises ModelFileError or VoiceConfigError.
    """
    config = config or VoiceConfig()
    config.validate()

    def load() -> None:
        VoiceSession(config)._verify_models()
        load_models(config)

    await asyncio.to_thread(load)


def scripted_lines(call: HealthcareAIPipeline,
                   static_texts: dict[tuple[str, str], str]) -> tuple[list[str], list[str]]:
    """The first state's scripted line, then every other static line, nearest states first."""
    schema = call.conversation.schema
    order = _states_by_distance(schema, schema.initial_state)
    first = [static_texts[(order[0], "say")]] if (order[0], "say") in static_texts else []
    says = [static_texts[(s, "say")] for s in order[1:] if (s, "say") in static_texts]
    reprompts = [static_texts[(s, "reprompt")] for s in order if (s, "reprompt") in static_texts]
    return first, says + reprompts


def _states_by_distance(schema: Any, start: str) -> list[str]:
    order, queue = [start], deque([start])
    while queue:
        for transition in schema.states[queue.popleft()].transitions:
            if transition.to not in order:
                order.append(transition.to)
                queue.append(transition.to)
    return order + [name for name in schema.states if name not in order]
