"""Voice calls on the local microphone and speaker, offline by default.

    from engine.calls import create_call
    from engine.voice import VoiceConfig, VoiceSession, list_devices

    call = create_call(schema, patient, voice=VoiceSession(VoiceConfig(input_device="pulse", record=True)))
    await call.start()   # EngineError "the call could not start: no input device: …" without a microphone

Importing this package loads no model and imports no Pipecat service; `VoiceSession`
is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.voice.config import TurnTuning, VoiceConfig
from engine.voice.devices import AudioDevice, list_devices, resolve_device

if TYPE_CHECKING:
    from engine.voice.session import VoiceSession, preload

__all__ = ["AudioDevice", "TurnTuning", "VoiceConfig", "VoiceSession", "list_devices", "preload",
           "resolve_device"]


def __getattr__(name: str) -> Any:
    if name in ("VoiceSession", "preload"):
        from engine.voice import session

        return getattr(session, name)
    raise AttributeError(name)
