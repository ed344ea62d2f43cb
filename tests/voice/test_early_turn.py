"""smart-turn asked before the VAD stop: the real model, a synthesized caller line, audio fed 20 ms
at a time as the stop strategy feeds it (the VAD still "speaking" through its stop wait)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

from bench.voice import caller_wav_name, read_wav, synthesize_caller_wav
from engine.voice import models
from engine.voice.config import SAMPLE_RATE, VoiceConfig
from engine.voice.early_turn import EARLY_TURN_AFTER_S, STOP_LAG_S, EarlySmartTurn
from engine.voice.turns import smart_turn_analyzer

pytestmark = pytest.mark.voice

CHUNK = SAMPLE_RATE // 50  # 20 ms
LINE = "It started about three days ago."
VAD_STOP_S = 0.4


@pytest.fixture
def speech(caller_wav_dir: Path) -> np.ndarray:
    samples = read_wav(synthesize_caller_wav(LINE, caller_wav_dir / caller_wav_name(LINE)))
    loud = np.flatnonzero(np.abs(samples) > 300)
    return samples[loud[0]:loud[-1]].astype(np.int16)


def early() -> EarlySmartTurn:
    analyzer = EarlySmartTurn(vad_stop_secs=VAD_STOP_S, smart_turn_model_path=str(models.smart_turn_file()))
    analyzer.set_sample_rate(SAMPLE_RATE)
    return analyzer


def feed(analyzer: BaseSmartTurn, samples: np.ndarray) -> None:
    """As the stop strategy feeds it while the VAD says the caller is speaking."""
    for start in range(0, len(samples), CHUNK):
        analyzer.append_audio(samples[start:start + CHUNK].tobytes(), True)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


async def test_the_early_verdict_is_the_one_smart_turn_gives_at_the_vad_stop(speech: np.ndarray) -> None:
    heard = np.concatenate([speech, quiet(VAD_STOP_S + STOP_LAG_S)])
    asked_early = early()
    feed(asked_early, heard)
    state, metrics = await asked_early.analyze_end_of_turn()
    assert (asked_early.early_verdicts, asked_early.late_verdicts) == (1, 0)

    at_the_stop = LocalSmartTurnAnalyzerV3(smart_turn_model_path=str(models.smart_turn_file()))
    at_the_stop.set_sample_rate(SAMPLE_RATE)
    feed(at_the_stop, heard)
    expected_state, expected = await at_the_stop.analyze_end_of_turn()
    assert state == expected_state == EndOfTurnState.COMPLETE
    assert metrics is not None and expected is not None
    assert metrics.probability == pytest.approx(expected.probability, abs=0.02)


async def test_a_sound_after_the_early_ask_makes_the_verdict_stale(speech: np.ndarray) -> None:
    analyzer = early()
    feed(analyzer, np.concatenate([speech, quiet(EARLY_TURN_AFTER_S + 0.1)]))  # asked early here
    feed(analyzer, np.concatenate([speech[:CHUNK * 10], quiet(0.1)]))  # then the caller goes on
    await analyzer.analyze_end_of_turn()
    assert (analyzer.early_verdicts, analyzer.late_verdicts) == (0, 1)


async def test_a_vad_stop_far_later_than_expected_asks_again(speech: np.ndarray) -> None:
    analyzer = early()
    feed(analyzer, np.concatenate([speech, quiet(VAD_STOP_S + STOP_LAG_S + 0.2)]))
    state, _ = await analyzer.analyze_end_of_turn()
    assert (analyzer.early_verdicts, analyzer.late_verdicts) == (0, 1)
    assert state == EndOfTurnState.COMPLETE


def test_the_call_asks_smart_turn_early_at_its_vad_stop() -> None:
    tuning = VoiceConfig().turn
    analyzer = smart_turn_analyzer(tuning)
    assert isinstance(analyzer, EarlySmartTurn)
    assert analyzer.expected_quiet_s == pytest.approx(tuning.vad_stop_secs + STOP_LAG_S)
