"""A turn whose words stop unfinished waits for the caller, even when smart-turn calls the sound
finished: the frames of a spoken turn, in order, through the call's stop strategy and the real
smart-turn model, with no clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy

from bench.strategy_feed import StopStrategyFeed
from bench.voice import caller_wav_name, read_wav, synthesize_caller_wav
from engine.voice import models
from engine.voice.config import SAMPLE_RATE, VoiceConfig
from engine.voice.turns import build_user_params
from engine.voice.unfinished import UnfinishedWordsStopStrategy, ends_unfinished

pytestmark = pytest.mark.voice

CHUNK = SAMPLE_RATE // 50  # 20 ms
FINISHED_SOUND = "It started about three days ago."  # smart-turn: 0.98 finished


def frames_of(samples: np.ndarray) -> list[Frame]:
    return [InputAudioRawFrame(audio=samples[i:i + CHUNK].astype(np.int16).tobytes(), sample_rate=SAMPLE_RATE,
                               num_channels=1) for i in range(0, len(samples), CHUNK)]


def quiet(seconds: float) -> list[Frame]:
    return frames_of(np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16))


class CallerTurns:
    """The turns one stop strategy makes of a spoken turn's frames, fed in order as the user
    aggregator would (VAD events at the stated points, audio 20 ms at a time)."""

    def __init__(self, strategy: BaseUserTurnStopStrategy) -> None:
        self.turns: list[str] = []
        self._words: list[str] = []
        self._feed = StopStrategyFeed(strategy, self._stopped)

    async def start(self) -> None:
        await self._feed.start()

    def _stopped(self) -> None:
        self.turns.append(" ".join(self._words))
        self._words = []

    async def feed(self, frames: list[Frame]) -> None:
        for frame in frames:
            if isinstance(frame, TranscriptionFrame):
                self._words.append(frame.text)
            await self._feed.process_frame(frame)


def spoken_part(speech: np.ndarray, words: str) -> list[Frame]:
    """The caller's sound and its transcript, then the VAD's 0.4 s stop wait."""
    return [VADUserStartedSpeakingFrame(start_secs=0.2), *frames_of(speech),
            TranscriptionFrame(words, "caller", "2026-01-01T00:00:00", finalized=True), *quiet(0.4),
            VADUserStoppedSpeakingFrame(stop_secs=0.4)]


async def caller_turns(strategy: BaseUserTurnStopStrategy | None, frames: list[Frame]) -> list[str]:
    """The turns a stop strategy (by default the call's own) makes of `frames`."""
    turns = CallerTurns(strategy or build_user_params(VoiceConfig()).user_turn_strategies.stop[1])
    await turns.start()
    await turns.feed(frames)
    return turns.turns


def smart_turn() -> LocalSmartTurnAnalyzerV3:
    return LocalSmartTurnAnalyzerV3(smart_turn_model_path=str(models.smart_turn_file()))


@pytest.fixture
def speech(caller_wav_dir: Path) -> np.ndarray:
    wav = synthesize_caller_wav(FINISHED_SOUND, caller_wav_dir / caller_wav_name(FINISHED_SOUND))
    samples = read_wav(wav)
    loud = np.flatnonzero(np.abs(samples) > 300)
    return samples[loud[0]:loud[-1]]


def paused_sentence(speech: np.ndarray) -> list[Frame]:
    # the VAD hears speech again 0.5 s after its stop (a 0.6 s pause less the stop, its 0.2 s start
    # wait, and a margin);
    # the words stop on "about", the sound is a finished sentence's
    return [*spoken_part(speech, "I wanted to ask about"), *quiet(0.5),
            *spoken_part(speech, "my prescription."), *quiet(1.5)]


async def test_a_pause_after_an_unfinished_phrase_stays_in_the_turn(speech: np.ndarray) -> None:
    assert await caller_turns(None, paused_sentence(speech)) == ["I wanted to ask about my prescription."]


async def test_smart_turn_alone_would_have_ended_the_turn_at_the_pause(speech: np.ndarray) -> None:
    turns = await caller_turns(TurnAnalyzerUserTurnStopStrategy(turn_analyzer=smart_turn()),
                               paused_sentence(speech))
    assert turns == ["I wanted to ask about", "my prescription."]


async def test_an_unfinished_turn_still_ends_once_the_caller_stays_quiet(speech: np.ndarray) -> None:
    hold = VoiceConfig().turn.unfinished_hold_secs
    held = [*spoken_part(speech, "I wanted to ask about"), *quiet(hold - 0.1)]
    assert await caller_turns(None, held) == []
    assert await caller_turns(None, [*held, *quiet(0.2)]) == ["I wanted to ask about"]


async def test_an_unfinished_turn_holds_a_pause_longer_than_smart_turns_wait(speech: np.ndarray) -> None:
    # the VAD hears the caller again 1.1 s after its stop: smart-turn's 0.7 s wait alone would end it
    frames = [*spoken_part(speech, "I was going to ask if we..."), *quiet(1.1),
              *spoken_part(speech, "could do it later."), *quiet(1.0)]
    assert await caller_turns(None, frames) == ["I was going to ask if we... could do it later."]


async def test_a_finished_answer_after_the_same_pause_ends_there(speech: np.ndarray) -> None:
    frames = [*spoken_part(speech, "It started about three days ago."), *quiet(0.5),
              *spoken_part(speech, "Yes."), *quiet(1.5)]
    assert await caller_turns(None, frames) == ["It started about three days ago.", "Yes."]


def test_the_call_uses_the_unfinished_words_strategy_with_smart_turns_wait() -> None:
    tuning = VoiceConfig().turn
    stop = build_user_params(VoiceConfig()).user_turn_strategies.stop
    assert [type(s) for s in stop][1:] == [UnfinishedWordsStopStrategy]
    assert tuning.turn == "smart-turn" and tuning.smart_turn_max_silence_secs == 0.7
    assert tuning.unfinished_hold_secs == 1.5


@pytest.mark.parametrize(("text", "unfinished"), [
    ("I was hoping to come in on", True), ("I take two tablets and", True), ("it's for the, um", True),
    ("I wanted to ask about.", True), ("I think so.", False), ("Count me in", False), ("Yes, it is.", False),
    ("I'd like that", False), ("", False), ("I was going to ask if we...", True), ("maybe we could-", True),
    ("and then they", True), ("so do I", False), ("yes, this is she", False), ("Yes, it is...", True),
    ("Okay.", False)])
def test_which_words_leave_a_turn_unfinished(text: str, unfinished: bool) -> None:
    assert ends_unfinished(text) is unfinished
