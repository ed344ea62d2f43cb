"""Whisper's short encoder window: the same words as the full 30 s window, and the full window
whenever the short one would not do."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from text_to_num import alpha2digit  # type: ignore[import-untyped]  # text2num ships no type hints

from bench.voice import caller_wav_name, read_wav, synthesize_caller_wav
from engine.voice import models, short_window
from engine.voice.stt import GreedyWhisper

pytestmark = pytest.mark.voice

LINES = ("Yes, it is.", "Pretty good.", "No, not really.", "It started about three days ago.",
         "I think so, but I need to check with my daughter first.", "That's fine with me.")


def whisper() -> GreedyWhisper:
    return GreedyWhisper(models.shared_whisper_model(str(models.whisper_model_dir())))


def words(text: str) -> list[str]:
    """The words of `text`, numbers as digits: Whisper writes "three" or "3" as it hears the voice,
    and Piper's voice varies between syntheses."""
    return re.sub(r"[^a-z0-9' ]", " ", alpha2digit(text, "en", threshold=0).lower()).split()


def spoken(text: str, folder: Path) -> np.ndarray:
    return read_wav(synthesize_caller_wav(text, folder / caller_wav_name(text))).astype(np.float32) / 32768


def transcript(model: GreedyWhisper, audio: np.ndarray, short: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(GreedyWhisper, "use_short_window", short)
    segments, _ = model.transcribe(audio, language="en")
    return " ".join(segment.text.strip() for segment in segments)


def test_short_turns_read_as_in_the_full_window(caller_wav_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    model = whisper()
    for line in LINES:
        audio = spoken(line, caller_wav_dir)
        assert short_window.window_seconds(len(audio) / 16000) < short_window.FULL_WINDOW_S
        short, full = (transcript(model, audio, flag, monkeypatch) for flag in (True, False))
        assert words(short) == words(full) == words(line), (line, short, full)


def test_a_turn_near_thirty_seconds_takes_the_full_window(caller_wav_dir: Path) -> None:
    audio = np.resize(spoken("It started about three days ago.", caller_wav_dir), 26 * 16000)
    assert short_window.window_seconds(len(audio) / 16000) == short_window.FULL_WINDOW_S
    model = models.shared_whisper_model(str(models.whisper_model_dir()))
    assert short_window.transcribe_turn(model, audio) is None


def test_a_one_word_answer_is_heard_and_silence_is_not(caller_wav_dir: Path) -> None:
    model = whisper()
    for answer in ("Yes.", "Yep.", "Okay.", "No.", "Sure."):
        segments, _ = model.transcribe(spoken(answer, caller_wav_dir), language="en")
        assert [words(s.text) for s in segments if short_window.is_speech(s)] \
            == [words(answer)], answer
    segments, _ = model.transcribe(np.zeros(16000, dtype=np.float32), language="en")
    assert not [s.text for s in segments if short_window.is_speech(s)]


@pytest.mark.parametrize("text", [
    "Pretty good. Pretty good. Pretty", "It started about three days ago. It started about three days ago.",
    "We moved here in 2019 2019 2019 2019", "That's fine with me. That's fine with me. That's fine with"])
def test_a_repeating_decode_is_seen_as_looped(text: str) -> None:
    assert short_window.looks_looped(text)


@pytest.mark.parametrize("text", [
    "Yes.", "My phone number is 555-0192.", "No, no, I'm fine.", "five five five, zero one nine two",
    "I take two tablets in the morning and one at night."])
def test_a_plain_turn_is_not_seen_as_looped(text: str) -> None:
    assert not short_window.looks_looped(text)


def test_the_bench_counts_a_line_cut_at_its_pause_and_the_line_that_took_its_end() -> None:
    from bench.voice import heard_whole, took_line_before

    assert heard_whole(["I take two tablets in the morning and one at night."],
                       ["I take two tablets in the morning, and one at night."])
    assert heard_whole(["Monday at 9 works for me."], ["Monday at nine works for me."])
    assert heard_whole(["Can we make it the 22nd instead?"], ["Can we make it the 20 second instead?",
                                                              "Can we make it the 22nd instead?"])
    assert not heard_whole(["I take two tablets in the morning."],
                           ["I take two tablets in the morning and one at night."])
    assert not heard_whole(["And one at night. Yeah, that's right."], ["Yeah, that's right."])
    assert took_line_before(["And one at night. Yeah, that's right."], ["Yeah, that's right."])
    assert not took_line_before(["I take two tablets in the morning."],
                                ["I take two tablets in the morning and one at night."])
    assert not took_line_before(["Yeah, that's right."], ["Yeah, that's right."])
    assert not heard_whole(["I was hoping to come in on", "Monday afternoon, if that works."],
                           ["I was hoping to come in on Monday afternoon, if that works."])
