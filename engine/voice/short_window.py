"""Whisper on a caller turn with a short encoder window.

Whisper's encoder always reads 30 seconds: a two-second "yes, that's right" is padded with 28 s of
nothing, and on two cores that padding is most of the turn's transcription time. A caller turn is
encoded here in a window a few seconds longer than the speech (at least WINDOW_MIN_S), which on this
project's 30 bench lines gave the same words in about a third of the time. Too short a window makes
Whisper repeat itself ("Pretty good. Pretty good. Pretty ...") and less sure that a one-word answer
is speech, so a decode that looks looped, runs out of tokens or may not be speech is done again on
the full 30 s window, as faster-whisper would have.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
FRAMES_PER_S = 100  # Whisper's mel frames per second of audio
FULL_WINDOW_S = 30
WINDOW_MIN_S = 15  # at 3-5 s a third of short answers came back repeated; at 8-10 s "Yep." was not speech
WINDOW_PAD_S = 5  # speech is followed by at least this much padding
TOKENS_PER_S = 7  # a fast caller says about 4 words (5-6 tokens) a second
TOKENS_SPARE = 10
NO_SPEECH_FALLBACK = 0.4  # a short-window decode this likely not to be speech is checked in full
# Whisper's own test for a segment that holds no speech (openai/whisper, faster-whisper): likely
# silence *and* a decode it is unsure of. Pipecat's Whisper service drops every segment at
# no_speech_prob 0.4 or more, which lost "Sure." in 10 of 12 renditions shaped as a VAD segment
# (0.37-0.57, each decoded with confidence: avg_logprob -0.71 or better).
NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -1.0
_WORD = re.compile(r"[a-z0-9']+")


def window_seconds(audio_s: float) -> int:
    """The encoder window for `audio_s` seconds of speech."""
    return min(FULL_WINDOW_S, max(WINDOW_MIN_S, math.ceil(audio_s) + WINDOW_PAD_S))


def looks_looped(text: str) -> bool:
    """Whether the words end in a repeat: a block of two or more words said twice in a row, or one
    word four times ("... in 2019 2019 2019 2019")."""
    words = _WORD.findall(text.lower())
    for size in range(2, len(words) // 2 + 1):
        if words[-size:] == words[-2 * size:-size]:
            return True
    return len(words) >= 4 and len(set(words[-4:])) == 1


def is_speech(segment: Any) -> bool:
    """Whether a faster-whisper segment holds speech, by Whisper's own rule."""
    return bool(segment.no_speech_prob <= NO_SPEECH_THRESHOLD or segment.avg_logprob > LOGPROB_THRESHOLD)


def transcribe_turn(model: Any, audio: np.ndarray, language: str | None = None,
                    initial_prompt: str | None = None, hotwords: str | None = None,
                    no_speech_fallback: float = NO_SPEECH_FALLBACK) -> list[Any] | None:
    """The one faster-whisper `Segment` of a caller turn, or None when the short window will not do
    (see above) and the caller should transcribe in full.

    `model` is a faster-whisper WhisperModel; `audio` float32 at 16 kHz, at most 30 s.
    """
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import Segment, get_compression_ratio, get_suppressed_tokens

    audio_s = len(audio) / SAMPLE_RATE
    window = window_seconds(audio_s)
    if window >= FULL_WINDOW_S:
        return None
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                          language=language or "en")
    previous = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=True, hotwords=hotwords)
    features = pad_or_trim(model.feature_extractor(audio), window * FRAMES_PER_S)
    budget = TOKENS_SPARE + math.ceil(TOKENS_PER_S * audio_s)
    result = model.model.generate(
        model.encode(features), [prompt], beam_size=1, max_length=len(prompt) + budget,
        return_scores=True, return_no_speech_prob=True, suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]))[0]
    tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
    text = tokenizer.decode(tokens)
    unsure = result.no_speech_prob >= no_speech_fallback or not text.strip()
    if unsure or len(result.sequences_ids[0]) >= budget or looks_looped(text):
        return None
    return [Segment(id=1, seek=0, start=0.0, end=round(audio_s, 3), text=text, tokens=tokens,
                    avg_logprob=float(result.scores[0]), compression_ratio=get_compression_ratio(text),
                    no_speech_prob=result.no_speech_prob, words=None, temperature=0.0)]
