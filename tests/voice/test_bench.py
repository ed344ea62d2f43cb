"""The voice benchmark runs through the virtual devices and reports plausible figures."""

from __future__ import annotations

import pytest

from bench.pulseaudio import VirtualAudioServer
from bench.voice import bench_voice

pytestmark = pytest.mark.voice


def test_bench_voice_reports_voice_to_voice_and_the_cache_effect(virtual_audio: VirtualAudioServer) -> None:
    result = bench_voice(turns=2, server=virtual_audio)

    assert result["turns_measured"] == 2, result["transcripts"]
    v2v = result["voice_to_voice_ms"]
    assert 50 < v2v["p50"] <= v2v["p95"]  # speed targets are the bench's own verdicts, not this test's
    assert {"endpointing_wait", "transcription", "speech_synthesis"} <= set(result["breakdown_ms"])
    assert {"voice_to_voice", "vad_stop", "stt", "tts"} <= set(result["stages_ms"])
    cached, uncached = result["first_line_cached"], result["first_line_uncached"]
    assert cached["cache"]["hits"] >= 1 and uncached["cache"]["hits"] == 0
    assert cached["tts_first_byte_ms"] < uncached["tts_first_byte_ms"]
    now, before = result["turn_taking"].values()
    assert now["lines"] == before["lines"] == 2 and now["wait_p50_ms"] > 0
    factors = result["stt_real_time_factor"]
    assert 0 < factors["short_window"]["p50"] < factors["full_window"]["p50"]
    assert result["tts_first_byte_ms"]["p50"] > 0
