"""Local audio helpers: the input level of a block and how a device is labelled.

Playing and metering through real devices is covered by tests/console/test_recordings.py and the
console's voice tests, which run against a private PulseAudio server."""

from __future__ import annotations

from array import array

from engine.voice.devices import AudioDevice
from engine.voice.playback import LEVEL_FULL_SCALE_RMS, block_level, device_label


def samples(*values: int) -> bytes:
    return array("h", values).tobytes()


def test_the_level_is_the_rms_over_full_scale_capped_at_one() -> None:
    assert block_level(b"") == 0.0
    assert block_level(samples(0, 0, 0, 0)) == 0.0
    assert block_level(samples(4000, -4000, 4000, -4000)) == 4000 / LEVEL_FULL_SCALE_RMS
    assert block_level(samples(32767, -32768)) == 1.0


def test_the_default_device_is_marked() -> None:
    device = AudioDevice(index=3, name="pulse", host_api="ALSA", max_input_channels=32,
                         max_output_channels=32, default_sample_rate=44100.0)
    assert device_label(device, default=True) == "pulse (default)"
    assert device_label(device, default=False) == "pulse"
