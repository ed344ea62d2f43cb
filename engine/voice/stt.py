"""Speech to text: Whisper on one shared model, transcribing early, or any Pipecat STT service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.stt_service import STTService
from pipecat.services.whisper.stt import WhisperSTTSettings
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.types import assert_given

from engine.voice import models, short_window
from engine.voice.config import ServiceSpec, VoiceConfig
from engine.voice.pipecat_private import WhisperSTTHooks

# Speech end -> final transcript, for the turn strategies' safety net. Whisper's transcripts are
# final, so this only bounds a wait; at 1.0 s a busy machine's late transcript of a turn's last
# words missed its turn, which ended on the text of its first words (a pause mid-sentence split).
WHISPER_TTFS_P99_S = 2.0

# Early transcription: after this much digital quiet in a turn, Whisper starts on the audio so far,
# while the VAD is still waiting out its stop_secs; a louder frame before the VAD stop discards it.
EARLY_STT_AFTER_S = 0.12  # at 0.08 a third of early starts were made stale by the next word
EARLY_STT_MAX_RUNNING = 2  # a pause mid-turn starts one that the next word makes stale
QUIET_RMS = 150  # int16 RMS (about -47 dBFS): quieter than any speech the VAD would count


class GreedyWhisper:
    """A faster-whisper model decoding a caller turn in a short encoder window (`short_window`), or
    with `models.WHISPER_DECODE_OPTIONS` (greedy, one pass, no timestamps) when that window would not
    do: what helps long recordings costs a short turn time it can't spare."""

    use_short_window = True  # class-wide: False always encodes 30 s (the bench's baseline)

    def __init__(self, model: Any, no_speech_prob: float | None = None) -> None:
        self._whisper = model
        fallback = short_window.NO_SPEECH_FALLBACK
        self._no_speech_fallback = fallback if no_speech_prob is None else no_speech_prob

    def transcribe(self, audio: Any, **options: Any) -> Any:
        if self.use_short_window:
            segments = short_window.transcribe_turn(self._whisper, audio, options.get("language"),
                                                    options.get("initial_prompt"), options.get("hotwords"),
                                                    self._no_speech_fallback)
            if segments is not None:
                return segments, None
        for name, value in models.WHISPER_DECODE_OPTIONS.items():
            options.setdefault(name, value)
        return self._whisper.transcribe(audio, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._whisper, name)


class _EarlySegment(bytes):
    """A segment whose transcription started early: `future` gives Whisper's segments."""

    future: asyncio.Future[list[Any]]


class SharedModelWhisperSTT(WhisperSTTHooks):
    """Whisper STT that reuses one loaded model per folder across the process's calls.

    Pipecat transcribes each segment in a worker thread, so the event loop keeps moving audio.
    With `early` (the default), a turn's transcription starts as soon as the caller has been
    quiet for EARLY_STT_AFTER_S, overlapping Whisper with the VAD's stop_secs wait; if the
    caller makes any sound before the VAD calls the turn over, that early result is dropped
    and the segment is transcribed as usual, so the transcript always covers the whole turn.
    Early transcriptions still running when the service stops are awaited then.
    """

    early = True  # class-wide: `SharedModelWhisperSTT.early = False` turns early starts off

    def __init__(self, *, device: str = "cpu", compute_type: str = "int8", **kwargs: Any) -> None:
        self._inference = (device, compute_type)  # set first: Pipecat's __init__ loads the model
        self._quiet_s = 0.0
        self._early: asyncio.Future[list[Any]] | None = None  # this turn's early transcription, still valid
        self._early_running: set[asyncio.Future[list[Any]]] = set()  # in flight, valid or stale
        self._segments_waiting = 0  # queued behind the one being transcribed
        self._held_text = ""  # transcribed, not pushed: a segment of the same speech is still waiting
        super().__init__(device=device, compute_type=compute_type, **kwargs)

    @property
    def whisper_settings(self) -> WhisperSTTSettings:
        return cast(WhisperSTTSettings, self.settings)

    def load_model(self) -> None:
        device, compute_type = self._inference
        shared = models.shared_whisper_model(str(self.whisper_settings.model), device, compute_type)
        threshold = self.whisper_settings.no_speech_prob
        self.use_model(GreedyWhisper(shared, threshold if isinstance(threshold, float) else None))

    def _transcribe_now(self, pcm: bytes) -> list[Any]:
        """What Pipecat's run_stt does in its worker thread, for an early segment."""
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        settings = self.whisper_settings
        segments, _ = self.model.transcribe(audio, language=settings.language, hotwords=settings.hotwords,
                                            initial_prompt=settings.initial_prompt)
        return list(segments)

    async def process_audio_frame(self, frame: InputAudioRawFrame, direction: FrameDirection) -> None:
        await super().process_audio_frame(frame, direction)
        if not self.early or not self.user_speaking:
            return
        samples = np.frombuffer(frame.audio, dtype=np.int16).astype(np.float32)
        if samples.size == 0:
            return
        if not is_quiet(samples):
            self._quiet_s, self._early = 0.0, None  # still speaking: any early result is stale
            return
        self._quiet_s += samples.size / self.sample_rate
        if (self._early is None and len(self._early_running) < EARLY_STT_MAX_RUNNING
                and self._quiet_s >= EARLY_STT_AFTER_S and self.is_usable):
            self._early = self._start_early(self.segment_so_far())

    def _start_early(self, pcm: bytes) -> asyncio.Future[list[Any]]:
        future = asyncio.get_running_loop().run_in_executor(None, self._transcribe_now, pcm)
        self._early_running.add(future)
        future.add_done_callback(self._early_done)
        logger.debug(f"{self}: early transcription of {len(pcm) / 2 / self.sample_rate:.2f} s started")
        return future

    def _early_done(self, future: asyncio.Future[list[Any]]) -> None:
        self._early_running.discard(future)
        if not future.cancelled() and (error := future.exception()) is not None:
            logger.debug(f"{self}: early transcription failed: {error}")  # its segment is transcribed again

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        await self._drain_early()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._drain_early()

    async def _drain_early(self) -> None:
        """Wait for the early transcriptions still running in worker threads (they cannot be cut short)."""
        self._early = None
        await asyncio.gather(*self._early_running, return_exceptions=True)

    async def on_vad_started(self, frame: VADUserStartedSpeakingFrame) -> None:
        self._quiet_s, self._early = 0.0, None
        await super().on_vad_started(frame)

    async def on_vad_stopped(self, frame: VADUserStoppedSpeakingFrame) -> None:
        early, self._early, self._quiet_s = self._early, None, 0.0
        if self.is_usable:
            self._segments_waiting += 1  # queued below, or by Pipecat
        if early is None or not self.is_usable:
            await super().on_vad_stopped(frame)
            return
        segment = _EarlySegment(self.segment_so_far())
        segment.future = early
        await self.queue_segment(segment)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        """Transcribe a segment; a transcript waits for the segments queued behind it, and an
        interim follows a transcript that the caller spoke past.

        Pipecat's turn-stop strategy takes any transcript that arrives once smart-turn has called
        the turn done for the whole turn. On a busy machine Whisper runs seconds behind the caller,
        so the first half of a sentence paused mid-way was transcribed only after the second half
        had been spoken, and ended the turn alone. A transcript is therefore pushed only when no
        later segment is waiting, joined with the text held back before it. A transcript that
        arrives once the caller speaks again is followed by an interim, which tells the strategy
        that more text is on the way.
        """
        self._segments_waiting = max(0, self._segments_waiting - 1)
        async for frame in self._transcripts(audio):
            if isinstance(frame, TranscriptionFrame):
                frame.text = _joined(self._held_text, frame.text)
                if self._segments_waiting:
                    self._held_text = frame.text
                    continue
                self._held_text = ""
            yield frame
            if isinstance(frame, TranscriptionFrame) and self.user_speaking:
                yield InterimTranscriptionFrame(frame.text, frame.user_id, time_now_iso8601(), frame.language)
        if self._held_text and not self._segments_waiting:  # the later segments held no words
            text, self._held_text = self._held_text, ""
            yield TranscriptionFrame(text, self.user_id, time_now_iso8601())

    async def _transcripts(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        """The segment's transcript: its early transcription's, or Whisper's now, in a worker thread.
        A segment is kept unless Whisper itself would call it silence (`short_window.is_speech`),
        not by Pipecat's stricter bar, which drops short answers such as "Sure."."""
        if self.model is None:
            yield ErrorFrame("Whisper model not available")
            return
        await self.start_processing_metrics()
        if isinstance(audio, _EarlySegment):
            segments = await audio.future
        else:
            segments = await asyncio.to_thread(self._transcribe_now, audio)
        text = "".join(f"{segment.text} " for segment in segments if short_window.is_speech(segment))
        await self.stop_processing_metrics()
        if text:
            # a Whisper code such as "en" rather than a Language, as in Pipecat's own run_stt
            language = cast(Language | None, assert_given(self.whisper_settings.language))
            await self.report_transcription(text, language)
            logger.debug(f"Transcription{' (early)' if isinstance(audio, _EarlySegment) else ''}: [{text}]")
            yield TranscriptionFrame(text, self.user_id, time_now_iso8601(), language)


def _joined(held: str, text: str) -> str:
    return f"{held.strip()} {text.strip()}".strip() if held else text


def whisper_model_path(spec: ServiceSpec) -> Path:
    if spec.argument:
        return models.check_custom_whisper_dir(Path(spec.argument))
    return models.whisper_model_dir()


def build_stt(config: VoiceConfig) -> STTService:
    if config.stt_factory is not None:
        return config.stt_factory()
    spec = config.stt_spec()
    if spec.kind == "openai":
        from pipecat.services.openai.stt import OpenAISTTService

        settings = OpenAISTTService.Settings(model=spec.argument) if spec.argument else None
        return OpenAISTTService(settings=settings)
    model_dir = whisper_model_path(spec)
    return SharedModelWhisperSTT(settings=WhisperSTTSettings(model=str(model_dir)), device="cpu",
                                 compute_type="int8", ttfs_p99_latency=WHISPER_TTFS_P99_S)


def load_whisper(config: VoiceConfig) -> None:
    """Load (and warm) the shared Whisper model the call's STT will use, if it uses one; slow."""
    if config.stt_factory is None and config.stt_spec().kind == "whisper":
        models.shared_whisper_model(str(whisper_model_path(config.stt_spec())), "cpu", "int8")


def is_quiet(samples: npt.NDArray[np.float32]) -> bool:
    """Whether a block of int16-scaled samples is quieter than any speech the VAD would count."""
    return float(np.sqrt(np.mean(samples * samples))) < QUIET_RMS
