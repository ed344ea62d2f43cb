"""Turn-taking settings, the flow's interruption safety, and the line cache's store."""

from __future__ import annotations

import pytest
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.flows import FlowsFunctionSchema
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy, TurnAnalyzerUserTurnStopStrategy

from engine.nodes import node_factory_for
from engine.schema.compiled import load_schema
from engine.voice import TurnTuning, VoiceConfig
from engine.voice.session import scripted_lines
from engine.voice.tts_cache import AudioCacheStore, CachedAudio, normalize
from engine.voice.turns import TypedTextTurnStopStrategy, build_user_params
from tests.voice.helpers import PATIENT, SCHEMA

pytestmark = pytest.mark.voice


def test_no_transition_tool_is_cancelled_by_an_interruption() -> None:
    """Pipecat#4165: a tool call cut off by a barge-in could block later transitions."""
    for path in (SCHEMA, "schemas/appointment_reminder.yaml"):
        compiled = load_schema(path)
        factory = node_factory_for(compiled)
        for state in compiled.schema.nodes:
            for tool in factory.functions_of(state):
                assert isinstance(tool, FlowsFunctionSchema) and tool.cancel_on_interruption is False


def test_the_default_turn_taking_is_silero_and_smart_turn_with_short_waits() -> None:
    params = build_user_params(VoiceConfig())
    assert isinstance(params.vad_analyzer, SileroVADAnalyzer)
    assert params.vad_analyzer.params.stop_secs == 0.4 and params.vad_analyzer.params.start_secs == 0.2
    stop = params.user_turn_strategies.stop
    assert isinstance(stop[0], TypedTextTurnStopStrategy)
    assert isinstance(stop[1], TurnAnalyzerUserTurnStopStrategy)
    # a 0.6 s pause is heard as speech again about 0.45-0.55 s after a 0.4 s VAD stop (the rest of
    # the pause, the VAD's 0.2 s start, Silero's lag), inside smart-turn's wait, so the turn goes on
    assert VoiceConfig().turn.smart_turn_max_silence_secs == 0.7
    silence = build_user_params(VoiceConfig(turn=TurnTuning(turn="silence", silence_timeout_secs=0.4)))
    assert isinstance(silence.user_turn_strategies.stop[1], SpeechTimeoutUserTurnStopStrategy)


def test_the_first_line_is_cached_first_then_the_nearest_states() -> None:
    from engine.calls import create_call

    call = create_call(SCHEMA, PATIENT)
    first, other = scripted_lines(call, call.precomputed.static_texts)
    assert first == ["Hello Ann, this is River Clinic. Is now a good time to talk?"]
    assert other[0] == "Your visit is on Monday at nine. Can you make it?"
    assert "Sorry, is now a good time to talk?" in other


def test_the_store_drops_the_least_recently_used_audio_past_its_size() -> None:
    store = AudioCacheStore(max_bytes=10)
    entry = CachedAudio((b"12345",), 16000, 100.0, 120.0)
    store.put(("v", "a"), entry)
    store.put(("v", "b"), entry)
    assert store.get(("v", "a")) is entry  # now the most recent
    store.put(("v", "c"), entry)
    assert ("v", "b") not in store and ("v", "a") in store and len(store) == 2
    assert normalize("  Hello,\n  Ann. ") == "Hello, Ann."
