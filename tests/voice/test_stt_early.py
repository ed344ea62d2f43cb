"""Whisper's early start: a turn's transcription begins in the VAD's stop wait, and is dropped
when the caller speaks again before the VAD calls the turn over."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import (
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.tests.utils import run_test

from bench.voice import caller_wav_name, read_wav, synthesize_caller_wav
from engine.voice import models
from engine.voice.config import SAMPLE_RATE, VoiceConfig
from engine.voice.stt import SharedModelWhisperSTT, build_stt
from tests.voice.helpers import heard

pytestmark = pytest.mark.voice

CHUNK = SAMPLE_RATE // 50  # 20 ms, as the microphone delivers it


def audio_frames(samples: np.ndarray) -> list[InputAudioRawFrame]:
    return [InputAudioRawFrame(audio=samples[i:i + CHUNK].astype(np.int16).tobytes(), sample_rate=SAMPLE_RATE,
                               num_channels=1) for i in range(0, len(samples), CHUNK)]


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def speech(text: str, folder: Path) -> np.ndarray:
    """Piper's audio for `text`, from its first sound (the VAD starts a turn on speech, not before)."""
    samples = read_wav(synthesize_caller_wav(text, folder / caller_wav_name(text)))
    return samples[int(np.argmax(np.abs(samples) > 500)):]


async def transcribe_turn(parts: list[np.ndarray]) -> tuple[list[str], list[int]]:
    """Run one spoken turn through the STT service; its transcripts, and each Whisper call's length."""
    stt = build_stt(VoiceConfig())
    assert isinstance(stt, SharedModelWhisperSTT)
    lengths: list[int] = []
    model = stt.model
    model_transcribe = model.transcribe

    def counting(audio: Any, **options: Any) -> Any:
        lengths.append(len(audio))
        return model_transcribe(audio, **options)

    model.transcribe = counting
    frames = [VADUserStartedSpeakingFrame(start_secs=0.2),
              *(frame for part in parts for frame in audio_frames(part)),
              VADUserStoppedSpeakingFrame(stop_secs=0.2)]
    down, _ = await run_test(stt, frames_to_send=frames,
                             pipeline_params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE))
    return [f.text for f in down if isinstance(f, TranscriptionFrame)], lengths


async def test_the_turn_is_transcribed_once_starting_in_the_vads_stop_wait(caller_wav_dir: Path) -> None:
    models.shared_whisper_model(str(models.whisper_model_dir()))
    said = speech("I feel great today.", caller_wav_dir)
    texts, lengths = await transcribe_turn([said, quiet(0.25)])
    assert len(texts) == 1 and heard("I feel great today", texts[0]), texts
    # the last Whisper run started early, before the VAD's 0.25 s of quiet had all arrived
    # (a pause between words may have started, and made stale, an earlier one)
    assert lengths[-1] < len(said) + (0.2 + 0.5) * SAMPLE_RATE, lengths


async def test_speech_after_the_early_start_is_not_lost(caller_wav_dir: Path) -> None:
    texts, lengths = await transcribe_turn([speech("Yes it is.", caller_wav_dir), quiet(0.15),
                                            speech("I need another day.", caller_wav_dir), quiet(0.25)])
    assert len(texts) == 1, texts
    assert heard("Yes it is", texts[0]) and heard("I need another day", texts[0]), texts
    assert len(lengths) >= 2  # an early, partial transcription was started and dropped


async def test_a_transcript_waits_for_the_next_segment_of_the_speech(caller_wav_dir: Path) -> None:
    """A busy machine: the caller's second segment is queued before Whisper has finished the first.
    Pushed alone, the first half would end a turn that smart-turn has already called done."""
    stt = build_stt(VoiceConfig())
    assert isinstance(stt, SharedModelWhisperSTT)
    second_queued = threading.Event()
    model_transcribe = stt.model.transcribe

    def slow_until_queued(audio: Any, **options: Any) -> Any:
        second_queued.wait(timeout=30)  # Whisper lagging behind the caller, as under load
        return model_transcribe(audio, **options)

    stt.model.transcribe = slow_until_queued
    vad_stopped, stops = stt.on_vad_stopped, []

    async def counting_stop(frame: VADUserStoppedSpeakingFrame) -> None:
        await vad_stopped(frame)
        stops.append(frame)
        if len(stops) == 2:
            second_queued.set()

    stt.on_vad_stopped = counting_stop  # type: ignore[method-assign]  # observe the STT's own VAD stops
    frames = []
    for text in ("I was going to ask if", "we could do it later."):
        frames += [VADUserStartedSpeakingFrame(start_secs=0.2), *audio_frames(speech(text, caller_wav_dir)),
                   *audio_frames(quiet(0.3)), VADUserStoppedSpeakingFrame(stop_secs=0.3)]
    down, _ = await run_test(stt, frames_to_send=frames,
                             pipeline_params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE))
    texts = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    assert len(stops) == 2 and len(texts) == 1, texts
    assert heard("I was going to ask if", texts[0]) and heard("we could do it later", texts[0]), texts


@pytest.mark.parametrize("early", [True, False])
async def test_a_short_answer_whisper_decodes_with_confidence_is_heard(
        tmp_path: Path, early: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # "Sure." then the VAD's 0.4 s of silence: no_speech_prob 0.37-0.57 (Pipecat's bar of 0.4 dropped
    # 10 of 12 renditions), each decoded with confidence
    monkeypatch.setattr(SharedModelWhisperSTT, "early", early)
    for rendition in range(4):
        (tmp_path / str(rendition)).mkdir()
        said = speech("Sure.", tmp_path / str(rendition))
        said = said[:np.flatnonzero(np.abs(said) > 500)[-1]]
        texts, _ = await transcribe_turn([said, quiet(0.4)])
        assert len(texts) == 1 and heard("Sure", texts[0]), (rendition, texts)
    assert (await transcribe_turn([quiet(1.0)]))[0] == []
