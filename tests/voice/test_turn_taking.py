"""Turn taking through the virtual devices: a caller who pauses mid-sentence, or at a comma,
is one caller turn, not two."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pulseaudio import VirtualAudioServer
from bench.voice import MID_SENTENCE_PAUSE_S, PAUSE_MARK, start_spoken_call
from engine import events as ev
from tests.voice.helpers import PATIENT, SCHEMA, heard

pytestmark = pytest.mark.voice

# smart-turn takes the first half for unfinished whatever the silence after it (0.05-0.07 for
# 0.3-0.5 s); it is less sure of most (see docs/voice.md, "Turn taking")
BEFORE_PAUSE, AFTER_PAUSE = "I was going to ask if", "we could do it later."
PAUSED = f"{BEFORE_PAUSE} {PAUSE_MARK} {AFTER_PAUSE}"
COMMA = "Yes, it is."


async def test_a_pause_mid_sentence_and_a_comma_each_stay_one_turn(virtual_audio: VirtualAudioServer,
                                                                   caller_wav_dir: Path) -> None:
    assert MID_SENTENCE_PAUSE_S == 0.6
    spoken = await start_spoken_call(virtual_audio, SCHEMA, PATIENT, caller_wav_dir)
    call = spoken.call
    try:
        await spoken.wait_bot_silent()
        await spoken.say(PAUSED)  # no intent in it: the bot asks again, once
        await spoken.say(COMMA)
    finally:
        await call.stop()

    turns = [e.text for e in call.events.history if isinstance(e, ev.UserTurn)]
    assert len(turns) == 2, turns
    assert heard(BEFORE_PAUSE, turns[0]) and heard(AFTER_PAUSE, turns[0]), turns
    assert heard(COMMA, turns[1]), turns
    bot = [e.text for e in call.events.history if isinstance(e, ev.BotTurn)]
    assert bot == ["Hello Ann, this is River Clinic. Is now a good time to talk?",
                   "Sorry, is now a good time to talk?", "Your visit is on Monday at nine. Can you make it?"]
