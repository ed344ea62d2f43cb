"""VoiceConfig: which devices, speech services, VAD/turn settings and recording a voice call uses.

The default needs no network and no keys: Whisper tiny.en and the Piper voice
bundled as Python packages, and the Silero VAD and smart-turn models inside
pipecat-ai. STT and TTS are chosen by a short spec:

    stt = "whisper"            bundled Whisper tiny.en
          "whisper:DIR"        another CTranslate2 Whisper folder
          "openai[:MODEL]"     OpenAI transcription (OPENAI_API_KEY)
    tts = "piper"              bundled Piper voice en_US-joe-medium
          "piper:VOICE.onnx"   another Piper voice (its .onnx.json beside it)
          "openai[:VOICE]"     OpenAI speech (OPENAI_API_KEY)

Any other Pipecat service can be plugged in with `stt_factory` / `tts_factory`; a factory's TTS
has the scripted-line cache when it is built from `tts_cache.with_line_cache(ServiceClass)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import VoiceConfigError

if TYPE_CHECKING:
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

SAMPLE_RATE = 16000  # microphone, speaker, synthesis and recordings

STT_KINDS = ("whisper", "openai")
TTS_KINDS = ("piper", "openai")
TURN_KINDS = ("smart-turn", "silence")


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    kind: str
    argument: str | None = None


def parse_spec(spec: str, kinds: tuple[str, ...], what: str) -> ServiceSpec:
    """'kind' or 'kind:argument'; VoiceConfigError for an unknown kind."""
    kind, _, argument = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in kinds:
        raise VoiceConfigError(f"unknown {what} '{spec}' (choose from: {', '.join(kinds)})")
    if kind == "openai" and not os.environ.get("OPENAI_API_KEY"):
        raise VoiceConfigError(f"{what} 'openai' needs OPENAI_API_KEY in the environment")
    return ServiceSpec(kind, argument.strip() or None)


@dataclass(frozen=True, slots=True)
class TurnTuning:
    """VAD and end-of-turn settings, tuned for short rehearsal turns (see docs/voice.md)."""

    vad_confidence: float = 0.7
    vad_start_secs: float = 0.2  # speech needed before a turn starts (and the bot is interrupted)
    vad_stop_secs: float = 0.4  # silence before the VAD calls speech over (0.3 cut Piper's commas)
    vad_min_volume: float = 0.6
    turn: str = "smart-turn"  # "smart-turn" (model decides) or "silence" (fixed silence timeout)
    # after the VAD stop, when smart-turn or the words judge the turn unfinished; holds a 0.6 s pause
    # mid-sentence (see docs/voice.md)
    smart_turn_max_silence_secs: float = 0.7
    # after the VAD stop, when the words end unfinished ("... ask if we...", "... come in on"): a caller
    # mid-sentence, so longer; a starved machine stretched a 0.6 s pause past smart-turn's wait
    unfinished_hold_secs: float = 1.5
    silence_timeout_secs: float = 0.5  # "silence": extra wait after the VAD stop
    interruptions: bool = True  # the caller's speech stops the bot at once

    def __post_init__(self) -> None:
        if self.turn not in TURN_KINDS:
            choices = ", ".join(TURN_KINDS)
            raise VoiceConfigError(f"unknown turn detection '{self.turn}' (choose from: {choices})")


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """How one voice call listens and speaks. Every field has an offline default."""

    input_device: int | str | None = None  # PortAudio index or (partial) name; None = default
    output_device: int | str | None = None
    record: bool = False  # write caller.wav, bot.wav and call.wav into the call's folder
    recordings_root: Path | None = None  # each call records into <root>/<call id>; default <data dir>/calls
    stt: str = "whisper"
    tts: str = "piper"
    turn: TurnTuning = field(default_factory=TurnTuning)
    precache: bool = True  # synthesise the schema's static lines at call start
    stt_factory: Callable[[], STTService] | None = None  # any Pipecat STTService, instead of `stt`
    # any Pipecat TTSService, instead of `tts`; with the line cache if built by `with_line_cache(Class)`
    tts_factory: Callable[[], TTSService] | None = None
    device_loss_secs: float = 2.0  # microphone delivering nothing this long = device lost

    def stt_spec(self) -> ServiceSpec:
        return parse_spec(self.stt, STT_KINDS, "STT")

    def tts_spec(self) -> ServiceSpec:
        return parse_spec(self.tts, TTS_KINDS, "TTS")

    def validate(self) -> None:
        """Raise VoiceConfigError for a setting that cannot work."""
        if self.stt_factory is None:
            self.stt_spec()
        if self.tts_factory is None:
            self.tts_spec()
