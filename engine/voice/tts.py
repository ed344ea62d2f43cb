"""Text to speech: Piper on one shared voice or OpenAI, both with the scripted-line cache, or any
Pipecat TTS service.

A service from `VoiceConfig.tts_factory` is used as it comes: it has the line cache if its
class does, e.g. a factory returning `with_line_cache(ElevenLabsTTSService)(...)`.
"""

from __future__ import annotations

from pathlib import Path

from pipecat.services.piper.tts import PiperTTSSettings
from pipecat.services.tts_service import TTSService

from engine.voice import models
from engine.voice.config import SAMPLE_RATE, ServiceSpec, VoiceConfig
from engine.voice.pipecat_private import SharedVoicePiperTTS
from engine.voice.tts_cache import with_line_cache

OPENAI_TTS_SAMPLE_RATE = 24000


def piper_voice_path(spec: ServiceSpec) -> Path:
    if spec.argument:
        return models.check_custom_piper_voice(Path(spec.argument))
    return models.piper_voice_file()


def build_tts(config: VoiceConfig) -> TTSService:
    """The TTS service: the configured one with the scripted-line cache, or the factory's."""
    if config.tts_factory is not None:
        service: TTSService = config.tts_factory()
        return service
    spec = config.tts_spec()
    if spec.kind == "openai":
        from pipecat.services.openai.tts import OpenAITTSService, OpenAITTSSettings

        settings = OpenAITTSSettings(voice=spec.argument) if spec.argument else None
        return with_line_cache(OpenAITTSService)(settings=settings, sample_rate=OPENAI_TTS_SAMPLE_RATE)
    voice = piper_voice_path(spec)
    return with_line_cache(SharedVoicePiperTTS)(voice=models.shared_piper_voice(str(voice)),
                                                settings=PiperTTSSettings(voice=voice.stem),
                                                sample_rate=SAMPLE_RATE)


def load_piper(config: VoiceConfig) -> None:
    """Load the shared Piper voice the call's TTS will use, if it uses one; slow."""
    if config.tts_factory is None and config.tts_spec().kind == "piper":
        models.shared_piper_voice(str(piper_voice_path(config.tts_spec())))
