"""Voice calls end to end: spoken caller turns in, the bot's speech out, through real PortAudio streams."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from bench.pulseaudio import VirtualAudioServer
from bench.voice import (
    SpeakerRecorder,
    caller_wav_name,
    read_wav,
    speech_segments,
    start_spoken_call,
    synthesize_caller_wav,
    transcribe,
    wav_seconds,
)
from engine import events as ev
from engine.lifecycle import CallStatus
from engine.voice.config import SAMPLE_RATE, VoiceConfig
from tests.voice.helpers import PATIENT, SCHEMA, heard, wait_until

pytestmark = pytest.mark.voice

GREETING = "Hello Ann, this is River Clinic. Is now a good time to talk?"
GREETING_REPROMPT = "Sorry, is now a good time to talk?"
CONFIRM = "Your visit is on Monday at nine. Can you make it?"
YES_TURN = "Yes it is."  # no comma: a pause after "Yes" would be a whole turn to smart-turn
CONFIRM_REPROMPT = "Can you make it on Monday at nine?"
LATER = "No problem, we will call you back. Goodbye!"


def utterances(speaker: SpeakerRecorder, timeline) -> list[str]:
    """What the speaker played, one transcript per time the bot spoke."""
    samples = speaker.samples()
    spans = zip(timeline.bot_started, timeline.bot_stopped, strict=True)
    return [transcribe(samples[speaker.sample_at(start - 0.1):speaker.sample_at(stop)])
            for start, stop in spans]


def played_seconds_since(speaker: SpeakerRecorder, moment: float) -> float:
    """How much audio the speaker has played since `moment` (time.monotonic())."""
    return (len(speaker.samples()) - speaker.sample_at(moment)) / SAMPLE_RATE


def user_turns(call) -> list[tuple[str, str]]:
    return [(e.source, e.text) for e in call.events.history if isinstance(e, ev.UserTurn)]


def bot_lines(call) -> list[str]:
    return [e.text for e in call.events.history if isinstance(e, ev.BotTurn)]


async def test_spoken_call_reaches_its_states_and_the_bot_is_heard(virtual_audio: VirtualAudioServer,
                                                                   caller_wav_dir: Path) -> None:
    speaker = SpeakerRecorder(virtual_audio)
    spoken = await start_spoken_call(virtual_audio, SCHEMA, PATIENT, caller_wav_dir, VoiceConfig(record=True))
    call, session = spoken.call, spoken.session
    try:
        await spoken.wait_bot_silent()
        await spoken.say("Who is calling?")  # no intent: the bot asks again
        await spoken.say(YES_TURN)
        answered = spoken.bot_lines_started()
        await call.step("Pardon me?")  # a typed turn in the middle of a voice call
        await spoken.wait_for_answer(answered)  # its reprompt may start after step() returns
        await spoken.say("I need another day.", wait_for_bot=False)
        assert await call.wait_until_ended(30), "the call did not reach its ending state"
    finally:
        speaker.stop()
        if not call.ended:
            await call.stop()

    assert call.status is CallStatus.ENDED and call.end_reason == "reached an ending state"
    assert call.conversation.visited == ["greet", "confirm", "later"]
    assert bot_lines(call) == [GREETING, GREETING_REPROMPT, CONFIRM, CONFIRM_REPROMPT, LATER]
    turns = user_turns(call)
    assert [source for source, _ in turns] == ["voice", "voice", "typed", "voice"]
    said_turns = ["Who is calling?", YES_TURN, "Pardon me?", "I need another day."]
    for (_, text), said in zip(turns, said_turns, strict=True):
        assert heard(said, text), f"the STT heard {text!r} for {said!r}"

    played = utterances(speaker, session.timeline)
    assert len(played) == len(bot_lines(call)), played
    for line, heard_line in zip(bot_lines(call), played, strict=True):
        assert heard(line, heard_line), f"the speaker played {heard_line!r} for {line!r}"

    measured = [t.voice_to_voice_ms for t in session.turn_latencies]
    assert len(measured) == 3, [(t.turn, t.voice_to_voice_ms, t.parts_ms) for t in session.turn_latencies]
    assert all(ms > 50 for ms in measured), measured  # each includes the VAD's stop wait
    v2v_events = [e for e in call.events.history if isinstance(e, ev.Latency) and e.stage == "voice_to_voice"]
    assert [e.turn for e in v2v_events] == [1, 2, 4]
    assert [e.crossed_transition for e in v2v_events] == [False, True, True]
    typed_turn_ms = [e.ms for e in call.events.history if isinstance(e, ev.Latency) and e.stage == "turn"
                     and e.turn == 3]
    # typed text ends its turn at once: faster than any spoken turn, which waits for the VAD to stop
    assert typed_turn_ms and typed_turn_ms[0] < min(measured), (typed_turn_ms, measured)
    stages = {e.stage for e in call.events.history if isinstance(e, ev.Latency) and e.turn > 0}
    assert {"voice_to_voice", "vad_stop", "stt", "tts", "turn", "transition", "render"} <= stages
    assert all({"endpointing_wait", "transcription"} <= set(t.parts_ms) for t in session.turn_latencies)

    cache = session.cache_stats.report()
    assert cache["hits"] >= 6 and cache["misses"] == 0, cache  # every scripted sentence was precached
    first_line = session.first_line_ms()  # how fast the cache makes it is the bench's figure
    first_byte, first_out = first_line["tts_first_byte_ms"], first_line["first_audio_out_ms"]
    assert first_byte is not None and first_out is not None and 0 <= first_byte <= first_out

    files = session.recorder.written()
    assert set(files) == {"caller", "bot", "call"}
    assert wav_seconds(Path(files["bot"])) > 5 and wav_seconds(Path(files["caller"])) > 5
    assert heard("I need another day", transcribe(read_wav(Path(files["caller"]))))
    assert heard(GREETING, transcribe(read_wav(Path(files["bot"]))))


async def test_caller_barging_in_stops_the_bot_and_the_flow_goes_on(virtual_audio: VirtualAudioServer,
                                                                    caller_wav_dir: Path) -> None:
    speaker = SpeakerRecorder(virtual_audio)
    spoken = await start_spoken_call(virtual_audio, SCHEMA, PATIENT, caller_wav_dir)
    call, session = spoken.call, spoken.session
    try:
        synthesize_caller_wav(YES_TURN, caller_wav_dir / caller_wav_name(YES_TURN))
        assert await wait_until(lambda: bool(session.timeline.bot_started), 15)
        greeting_at = session.timeline.bot_started[0]
        # one second into the greeting, as the speaker plays it
        assert await wait_until(lambda: played_seconds_since(speaker, greeting_at) >= 1.0, 15)
        await spoken.say(YES_TURN)  # then waits for the bot's next line to be spoken
        barge_in_at = spoken.spoken[-1][0]
    finally:
        speaker.stop()
        await call.stop()

    assert session.timeline.interruptions, "the caller's speech did not interrupt the bot"
    assert call.conversation.visited == ["greet", "confirm"], user_turns(call)
    assert bot_lines(call)[-1] == CONFIRM

    samples = speaker.samples()
    segments = speech_segments(samples)
    cut = _segment_around(segments, speaker.sample_at(barge_in_at))
    quiet_after_s = speaker.time_of_sample(cut[1]) - barge_in_at
    assert quiet_after_s > 0, "the bot had stopped before the caller spoke"
    # How fast it stops (VAD start, pipeline, audio buffers) is a latency for the bench; here the bot
    # must stop well before its line would have ended.
    greeting_start = next(start for start, _ in segments
                          if start >= speaker.sample_at(session.timeline.bot_started[0] - 0.1))
    played_s = (cut[1] - greeting_start) / SAMPLE_RATE
    assert played_s < _full_greeting_seconds(caller_wav_dir) - 1.0, f"{played_s:.1f} s of the greeting played"
    assert heard(CONFIRM, transcribe(samples[cut[1]:]))


def _segment_around(segments: list[tuple[int, int]], sample: int) -> tuple[int, int]:
    """The stretch of the greeting playing at `sample`, or resuming just after a pause in it."""
    for start, end in segments:
        if end >= sample and start <= sample + SAMPLE_RATE // 2:
            return start, end
    raise AssertionError(f"the bot was not speaking when the caller started ({segments}, at {sample})")


def _full_greeting_seconds(wav_dir: Path) -> float:
    return wav_seconds(synthesize_caller_wav(GREETING, wav_dir / "full-greeting.wav"))


async def test_a_device_lost_mid_call_ends_it_with_the_reason(tmp_path: Path, caller_wav_dir: Path,
                                                              virtual_audio: VirtualAudioServer) -> None:
    from bench.pulseaudio import using_server

    with VirtualAudioServer(tmp_path / "pulse") as doomed, using_server(doomed):
        spoken = await start_spoken_call(doomed, SCHEMA, PATIENT, caller_wav_dir, VoiceConfig(record=True))
        call = spoken.call
        await spoken.wait_bot_silent()
        doomed.kill()
        ended = await call.wait_until_ended(10)
    if not ended:
        await call.stop()
    assert ended, "the call went on without its devices"
    assert call.status is CallStatus.ENDED and call.end_reason.startswith("audio device lost: ")
    history = call.events.history
    errors = [e for e in history if isinstance(e, ev.CallError) and e.source == "audio"]
    assert len(errors) == 1 and errors[0].fatal and errors[0].message == call.end_reason
    assert isinstance(history[-1], ev.CallEnded) and history[-1].reason == call.end_reason
    assert [e.seq for e in history] == list(range(history[0].seq, history[0].seq + len(history)))
    assert bot_lines(call) == [GREETING]
    for path in spoken.session.recorder.written().values():
        with wave.open(path) as handle:
            assert handle.getnframes() > 0
