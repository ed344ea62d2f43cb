"""`devices`: the audio devices a voice call can use; `voice-call`: a headless voice call.

The voice call uses the local microphone and speaker, the offline models by
default, and is recorded in the call history like `call`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from cli.cmd_calls import Transcript, add_data_dir, add_schema_and_patient, out, schema_and_patient
from engine import driving
from engine.errors import AudioDeviceError
from engine.paths import data_dir

if TYPE_CHECKING:
    from engine.voice.devices import AudioDevice


def add_devices(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("devices", help="list the audio devices (microphones and speakers)")
    parser.add_argument("--json", action="store_true", help="print the devices as JSON")
    parser.set_defaults(run=run_devices)


def run_devices(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.voice.devices import list_devices

    devices = list_devices()
    if args.json:
        out(json.dumps([asdict(d) for d in devices], indent=2))
        return 0
    if not devices:
        raise AudioDeviceError("no audio devices: PortAudio finds none (no sound card, and no "
                               "PulseAudio/PipeWire server reachable)")
    for device in devices:
        out(device.describe())
    out("choose one with --input-device / --output-device INDEX-or-NAME")
    return 0


def device_spec(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text.strip()


def add_voice_call(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("voice-call", help="run a headless voice call on the microphone and speaker")
    add_schema_and_patient(parser)
    parser.add_argument("--input-device", type=device_spec, metavar="DEVICE",
                        help="microphone: index or name from `voice-console devices` (default: the system's)")
    parser.add_argument("--output-device", type=device_spec, metavar="DEVICE", help="speaker, likewise")
    parser.add_argument("--record", action="store_true",
                        help="write caller.wav, bot.wav and call.wav into the call's data folder")
    parser.add_argument("--stt", default="whisper", metavar="SPEC",
                        help="whisper (bundled), whisper:DIR, openai[:MODEL] (default: whisper)")
    parser.add_argument("--tts", default="piper", metavar="SPEC",
                        help="piper (bundled voice), piper:VOICE.onnx, openai[:VOICE] (default: piper)")
    parser.add_argument("--turn", choices=("smart-turn", "silence"), default="smart-turn",
                        help="end-of-turn detection (default: smart-turn)")
    parser.add_argument("--no-precache", action="store_true",
                        help="do not synthesise the scripted lines at call start")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="end the call after S seconds")
    parser.add_argument("--json", action="store_true", help="end with the voice report as one JSON line")
    add_data_dir(parser)
    parser.set_defaults(run=run_voice_call)


def run_voice_call(args: argparse.Namespace) -> int:
    return asyncio.run(_run_voice_call(args))


async def _run_voice_call(args: argparse.Namespace) -> int:
    from engine.calls import create_call
    from engine.store import CallStore
    from engine.voice import TurnTuning, VoiceConfig, VoiceSession

    schema, patient = schema_and_patient(args.schema, args.patient)
    config = VoiceConfig(input_device=args.input_device, output_device=args.output_device, record=args.record,
                         recordings_root=data_dir(args.data_dir) / "calls", stt=args.stt, tts=args.tts,
                         turn=TurnTuning(turn=args.turn), precache=not args.no_precache)
    session = VoiceSession(config)
    call = create_call(schema, patient, voice=session)
    with CallStore.open_default(args.data_dir) as store:
        store.attach(call)
        call.events.subscribe(Transcript())
        reason = "interrupted"
        try:
            await driving.start_call(call)
            out(f"speak now (microphone: {_device_name(session.microphone)}, "
                f"speaker: {_device_name(session.speaker)}); Ctrl-C ends the call")
            ended = await call.wait_until_ended(args.max_seconds)
            reason = "the call ran for --max-seconds" if not ended else reason
        finally:
            await driving.finish(call, reason)
        _print_voice_report(session.report(), args.json)
    return 0 if call.status.value == "ended" and not session.device_lost else 1


def _device_name(device: AudioDevice | None) -> str:
    """A started voice call has both devices; `?` only if a device went missing meanwhile."""
    return device.name if device is not None else "?"


def _print_voice_report(report: dict[str, Any], as_json: bool) -> None:
    v2v = report["voice_to_voice_ms"]
    out(f"voice-to-voice: {v2v['count']} turns, p50 {v2v['p50']:.0f} ms, p95 {v2v['p95']:.0f} ms")
    cache = report["cache"]
    if cache:
        out(f"line cache: {cache['hits']} hits, {cache['misses']} misses, "
            f"{cache['time_saved_ms']:.0f} ms of synthesis wait saved")
    for name, path in report["recording"].items():
        out(f"recording ({name}): {path}")
    if as_json:
        out(json.dumps(report))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_devices(sub)
    add_voice_call(sub)
