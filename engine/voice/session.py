"""VoiceSession: what `create_call(..., voice=VoiceSession(config))` needs to run a call by voice.

    [mic] -> typed-text marker -> STT -> user aggregator (VAD, turn) -> tap -> responder -> TTS (+ line cache)
          -> [speaker] -> (recorder) -> assistant aggregator

The pipeline calls `attach(call)`, `user_params()`, `wrap(stages, aggregators)`
and `observers()` while it builds. One session serves one call. Devices and
model files are checked in `attach`, so a call whose microphone or speaker is
missing fails to start with "no input device: …" / "no output device: …" and
the console can fall back to text. A device lost mid-call ends the call with
the reason recorded.

The parts live beside this module: `stt`, `tts` (and `tts_cache`), `turns`,
`transport`, `recorder`, `timeline`; `pipecat_private` holds every use of a
private Pipecat name.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger
from pipecat.observers.base_observer import BaseObserver
from pipecat.observers.user_bot_latency_observer import LatencyBreakdown, UserBotLatencyObserver
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor

from engine import events as ev
from engine.latency import Stage, summary
from engine.paths import data_dir
from engine.schema.check import node_targets
from engine.voice import models
from engine.voice.config import SAMPLE_RATE, ServiceSpec, VoiceConfig
from engine.voice.devices import AudioDevice, choose_devices
from engine.voice.recorder import CallRecorder
from engine.voice.stt import build_stt, load_whisper
from engine.voice.timeline import Timeline, TimelineObserver, VoiceTurnLatency
from engine.voice.transport import WatchedAudioTransport, lost_device
from engine.voice.tts import build_tts, load_piper
from engine.voice.tts_cache import AudioCacheStore, CacheStats, LineCacheMixin
from engine.voice.turns import SpokenTurnTap, TypedTextMarker, build_user_params

if TYPE_CHECKING:
    from pipecat.services.tts_service import TTSService

    from engine.pipeline import HealthcareAIPipeline
    from engine.schema.model import Schema

__all__ = ["SAMPLE_RATE", "VoiceSession", "load_models", "preload", "scripted_lines"]

WATCHDOG_PERIOD_S = 0.2

# Parts of Pipecat's per-turn latency breakdown that become the call's latency stages.
BREAKDOWN_STAGES = {"endpointing_wait": Stage.VAD_STOP, "transcription": Stage.STT,
                    "speech_synthesis": Stage.TTS}


def load_models(config: VoiceConfig) -> None:
    """Load (and warm) the models the call's services will use; slow, so run it in a thread."""
    load_whisper(config)
    load_piper(config)


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
        self._tts: TTSService | None = None
        self._responder: FrameProcessor | None = None
        self._transport: WatchedAudioTransport | None = None
        self._typed_pending: deque[str] = deque()
        self._turn_crossed_transition = False
        self._pending_v2v_ms: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._opened = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
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
        call, (microphone, speaker) = self._attached_call(), self._devices()
        user_aggregator, responder = stages
        stt = build_stt(self.config)
        self._tts = build_tts(self.config)
        if isinstance(self._tts, LineCacheMixin):
            first, other = scripted_lines(call, call.precomputed.static_texts)
            self._tts.setup_line_cache(first, other, store=self.cache_store, enabled=self.config.precache)
        self._transport = WatchedAudioTransport(microphone, speaker)
        self._transport.output().on_lost = self._on_device_lost
        self._transport.input().watch_with(self._watch_devices)
        self._responder = responder
        pipeline = [self._transport.input(), TypedTextMarker(), stt, user_aggregator,
                    SpokenTurnTap(self._on_user_turn), responder, self._tts, self._transport.output()]
        if self.config.record:
            self.recorder = CallRecorder(self._recordings_dir(call))
            pipeline.append(self.recorder.processor)
        return [*pipeline, aggregators.assistant()]

    def observers(self) -> list[BaseObserver]:
        latency = UserBotLatencyObserver()
        latency.add_event_handler("on_latency_measured", self._on_latency_measured)
        latency.add_event_handler("on_latency_breakdown", self._on_latency_breakdown)
        return [latency, TimelineObserver(self.timeline, self._tts, self._responder)]

    # ----- set-up helpers ----------------------------------------------------------------------

    def _attached_call(self) -> HealthcareAIPipeline:
        if self._call is None:
            raise RuntimeError("the pipeline calls `attach(call)` before building the voice stages")
        return self._call

    def _devices(self) -> tuple[AudioDevice, AudioDevice]:
        if self.microphone is None or self.speaker is None:
            raise RuntimeError("the devices are chosen by `preflight`, which `attach` runs")
        return self.microphone, self.speaker

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

    def _recordings_dir(self, call: HealthcareAIPipeline) -> Path:
        return (self.config.recordings_root or data_dir() / "calls") / call.session_id

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run `coroutine` as a named task kept until it is done; its failure is logged."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.opt(exception=error).error(f"voice session task {task.get_name()} failed")

    # ----- caller turns and latency --------------------------------------------------------

    def _on_call_event(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.UserTurn) and event.source != "voice":
            self._typed_pending.append(" ".join(event.text.split()))
        elif isinstance(event, ev.Transition):
            self._turn_crossed_transition = True
        elif isinstance(event, ev.NodeEntered):
            self._opened.set()
        elif isinstance(event, ev.CallEnded) and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_user_turn(self, text: str) -> None:
        cleaned = " ".join(text.split())
        if self._typed_pending and self._typed_pending[0] == cleaned:
            self._typed_pending.popleft()  # a typed turn: the call has recorded it already
            return
        self._typed_pending.clear()  # any typed text still pending was aggregated into this turn
        if self._call is not None and cleaned and not self._call.ended:
            self._turn_crossed_transition = False
            self._call.on_voice_turn(cleaned)

    async def _on_latency_measured(self, _observer: UserBotLatencyObserver, seconds: float) -> None:
        self._pending_v2v_ms = seconds * 1000
        if self._call is not None and not self._call.ended:
            self._call.on_stage_latency(Stage.VOICE_TO_VOICE, self._pending_v2v_ms)

    async def _on_latency_breakdown(self, _observer: UserBotLatencyObserver,
                                    breakdown: LatencyBreakdown) -> None:
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
        """The microphone's task while it is open: every WATCHDOG_PERIOD_S, check both devices."""
        await self._opened.wait()  # act once the call has started: `start()` then returns normally
        while self._call is not None and not self._call.ended and self._transport is not None:
            await asyncio.sleep(WATCHDOG_PERIOD_S)
            reason = lost_device(self._transport.input(), self._transport.output(),
                                 self.config.device_loss_secs)
            if reason is not None:
                self._on_device_lost(reason)

    def _on_device_lost(self, reason: str) -> None:
        if self.device_lost is not None or self._call is None or self._call.ended:
            return
        self.device_lost = reason
        message = f"audio device lost: {reason}"
        logger.warning(message)
        self._call.on_pipeline_error(message, "audio", True)
        # Its own task: the pipeline being stopped runs the processor that noticed the loss.
        self._spawn(self._call.stop(reason=message), name=f"voice-stop-{self._call.session_id}")

    # ----- reporting ----------------------------------------------------------------------------

    @property
    def cache_stats(self) -> CacheStats | None:
        return self._tts.cache_stats if isinstance(self._tts, LineCacheMixin) else None

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
        stats = self.cache_stats
        return {
            "devices": {"input": self.microphone.name if self.microphone else None,
                        "output": self.speaker.name if self.speaker else None},
            "voice_to_voice_ms": summary(v2v),
            "turns": [asdict(t) for t in self.turn_latencies],
            "first_line": self.first_line_ms(),
            "cache": stats.report() if stats else None,
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
    order = _states_by_distance(schema, schema.initial_node)
    first = [static_texts[(order[0], "say")]] if (order[0], "say") in static_texts else []
    says = [static_texts[(s, "say")] for s in order[1:] if (s, "say") in static_texts]
    reprompts = [static_texts[(s, "reprompt")] for s in order if (s, "reprompt") in static_texts]
    return first, says + reprompts


def _states_by_distance(schema: Schema, start: str) -> list[str]:
    order, queue = [start], deque([start])
    while queue:
        for target in node_targets(schema, queue.popleft()):
            if target not in order:
                order.append(target)
                queue.append(target)
    return order + [name for name in schema.nodes if name not in order]
