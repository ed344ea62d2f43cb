"""A caller turn whose words end unfinished ("I was hoping to come in on") is not over, whatever
smart-turn makes of the voice.

smart-turn judges the end of a turn from the sound alone, and on the bundled synthetic voice it
called some phrases cut off at a preposition finished. The words settle those: no answer ends
on "the", "and" or "um", so such a turn is held as smart-turn's own "unfinished" is, until the
caller has been quiet for the same wait; speech in that time goes on with the same turn.
"""

from __future__ import annotations

import re
from typing import Any

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy

# Words an English answer does not end on: articles, conjunctions, most prepositions, possessives,
# "we" and "they", fillers. Left out because answers do end on them: "so" (I think so), "in"
# (count me in), "that", "her", "like", "though", "up", "it", "I" (so do I), "she" (this is she).
UNFINISHED_ENDINGS = frozenset({
    "a", "an", "the", "and", "or", "but", "because", "cause", "if", "than", "whether", "unless",
    "of", "to", "for", "with", "at", "from", "into", "onto", "about", "on", "my", "your", "our",
    "their", "its", "we", "they", "um", "uh", "er", "erm", "uhm",
})
TRAILING_OFF = ("...", "\u2026", "-", "\u2014")  # Whisper's marks for speech that trails off ("if we...")
_WORD = re.compile(r"[a-z']+")


def ends_unfinished(text: str) -> bool:
    """Whether `text` stops where no answer stops ("... come in on", "... and um", "if we...")."""
    words = _WORD.findall(text.lower())
    return bool(words) and (words[-1] in UNFINISHED_ENDINGS or text.rstrip().endswith(TRAILING_OFF))


class UnfinishedWordsStopStrategy(TurnAnalyzerUserTurnStopStrategy):
    """Pipecat's smart-turn stop strategy, holding a turn whose transcript ends unfinished until
    `hold_secs` of audio have passed since the VAD stop (audio frames, not the clock, as smart-turn
    counts its own wait); the VAD hearing speech again drops the hold."""

    def __init__(self, *, hold_secs: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hold_secs = hold_secs
        self._words = ""
        self._speaking = False  # by the VAD
        self._quiet_s = 0.0  # audio since the VAD stop
        self._held: dict[str, Any] | None = None  # the turn end held back, with its arguments

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, TranscriptionFrame):
            self._words = frame.text
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._held, self._speaking, self._quiet_s = None, True, 0.0
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speaking = False
        result = await super().process_frame(frame)
        if isinstance(frame, InputAudioRawFrame) and not self._speaking:
            self._quiet_s += len(frame.audio) / (2 * frame.sample_rate * frame.num_channels)
            if self._held is not None and self._quiet_s >= self._hold_secs:
                held, self._held = self._held, None
                await super().trigger_user_turn_stopped(**held)
        return result

    async def trigger_user_turn_stopped(self, **kwargs: Any) -> None:
        if ends_unfinished(self._words) and self._quiet_s < self._hold_secs:
            self._held = kwargs
            return
        await super().trigger_user_turn_stopped(**kwargs)

    async def handle_user_turn_started(self) -> None:
        self._words, self._held = "", None
        await super().handle_user_turn_started()  # type: ignore[no-untyped-call]  # unannotated in Pipecat

    async def handle_user_turn_stopped(self) -> None:
        self._words, self._held = "", None
        await super().handle_user_turn_stopped()  # type: ignore[no-untyped-call]  # unannotated in Pipecat
