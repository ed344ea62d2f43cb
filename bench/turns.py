"""Turn taking without the clock: the voice bench's caller lines, fed 20 ms at a time through the
call's Silero VAD and end-of-turn strategy, with each VAD stop carrying Whisper's transcript of the
audio so far (as the early, short-window transcription gives it).

Load plays no part (the VAD, smart-turn and the hold all count audio frames), so these figures say
what the turn-taking settings do, apart from how fast the machine runs. Per setting: lines cut in
two, and the wait from a line's last sound to the end of its turn. The call's settings are run
beside Pipecat's smart-turn strategy at the previous defaults (VAD stop 0.3 s, wait 1.0 s).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import (
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy

from bench.strategy_feed import StopStrategyFeed
from bench.voice import CALLER_LINES, caller_wav_name, read_wav, synthesize_caller_wav, transcribe
from engine.latency import percentile
from engine.voice.config import SAMPLE_RATE, TurnTuning, VoiceConfig
from engine.voice.turns import build_user_params, smart_turn_analyzer

CHUNK = SAMPLE_RATE // 50  # 20 ms
LOUD = 300  # int16: the line's last sound
AFTER_S = 2.0  # quiet fed after each line


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    tuning: TurnTuning
    words_hold: bool  # the call's strategy (unfinished words held), or Pipecat's smart-turn strategy


SETTINGS = (
    Setting("now: VAD stop 0.4 s, wait 0.7 s, unfinished words held", TurnTuning(), True),
    Setting("before: VAD stop 0.3 s, wait 1.0 s, smart-turn alone",
            TurnTuning(vad_stop_secs=0.3, smart_turn_max_silence_secs=1.0), False),
)


class _Line:
    """One caller line through one setting: where its turns ended, in seconds of its audio."""

    def __init__(self, setting: Setting) -> None:
        params = build_user_params(VoiceConfig(turn=setting.tuning))
        assert params.vad_analyzer is not None
        self.vad = params.vad_analyzer
        strategies = params.user_turn_strategies
        assert strategies is not None and strategies.stop is not None
        self.stop: BaseUserTurnStopStrategy = (
            strategies.stop[1] if setting.words_hold
            else TurnAnalyzerUserTurnStopStrategy(turn_analyzer=smart_turn_analyzer(setting.tuning)))
        self.stop_secs = setting.tuning.vad_stop_secs
        self.ends: list[float] = []
        self._at = 0.0
        self._feed = StopStrategyFeed(self.stop, lambda: self.ends.append(round(self._at, 2)))

    async def start(self) -> None:
        self.vad.set_sample_rate(SAMPLE_RATE)
        await self._feed.start()

    async def feed(self, samples: np.ndarray) -> None:
        state = VADState.QUIET
        for start in range(0, len(samples), CHUNK):
            chunk = samples[start:start + CHUNK].astype(np.int16).tobytes()
            self._at = (start + CHUNK) / SAMPLE_RATE
            new = await self.vad.analyze_audio(chunk)
            if new != state and new in (VADState.SPEAKING, VADState.QUIET):
                await self._vad_event(new, samples[:start + CHUNK])
            state = new if new in (VADState.SPEAKING, VADState.QUIET) else state
            await self._feed.process_frame(InputAudioRawFrame(chunk, SAMPLE_RATE, 1))

    async def _vad_event(self, state: VADState, heard: np.ndarray) -> None:
        if state is VADState.SPEAKING:
            await self._feed.process_frame(VADUserStartedSpeakingFrame(start_secs=0.2))
            return
        words = transcribe(heard, short=True)
        if words:
            await self._feed.process_frame(TranscriptionFrame(words, "caller", "", finalized=True))
        await self._feed.process_frame(VADUserStoppedSpeakingFrame(stop_secs=self.stop_secs))


async def _run(setting: Setting, samples: np.ndarray) -> list[float]:
    line = _Line(setting)
    await line.start()
    await line.feed(samples)
    return line.ends


def bench_turn_taking(wav_dir: Path, lines: tuple[str, ...] = CALLER_LINES) -> dict[str, Any]:
    """Per setting: lines cut in two, and the wait from the last sound to the turn's end."""
    audio = {line: _padded(read_wav(synthesize_caller_wav(line, wav_dir / caller_wav_name(line))))
             for line in lines}
    results: dict[str, Any] = {}
    for setting in SETTINGS:
        cut, waits = [], []
        for line, samples in audio.items():
            ends = asyncio.run(_run(setting, samples))
            last_sound = float(np.flatnonzero(np.abs(samples) > LOUD)[-1]) / SAMPLE_RATE
            if any(end < last_sound for end in ends):
                cut.append(line)
            waits += [round((end - last_sound) * 1000, 1) for end in ends if end >= last_sound][:1]
        results[setting.name] = {"lines_cut": len(cut), "cut": cut, "lines": len(audio),
                                 "wait_p50_ms": round(percentile(waits, 50), 1),
                                 "wait_p95_ms": round(percentile(waits, 95), 1)}
    return results


def _padded(samples: np.ndarray) -> np.ndarray:
    quiet = np.zeros(int(AFTER_S * SAMPLE_RATE), dtype=np.int16)
    return np.concatenate([np.zeros(SAMPLE_RATE // 4, dtype=np.int16), samples, quiet])


def print_turn_taking(results: dict[str, Any]) -> None:
    for name, figures in results.items():
        waits = f"p50 {figures['wait_p50_ms']} ms, p95 {figures['wait_p95_ms']} ms"
        print(f"turn taking without the clock, {name}: {figures['lines_cut']} of {figures['lines']} lines "
              f"cut, last sound to end of turn {waits}")
