"""Voice benchmark through real audio devices: a private PulseAudio server with a virtual mic and speaker.

`bench_voice(turns=30)` speaks caller turns (synthesised with Piper) into the
virtual microphone of a real voice call and returns voice-to-voice p50/p95/p99 with
a per-stage breakdown, the turns split in two (a pause mid-sentence taken for an
end), the STT real-time factor, the TTS first-byte time, and
the first bot line with and without the line cache. Also home to the helpers
the voice tests share: caller audio, a speaker recorder, Whisper transcription.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from bench.pulseaudio import VirtualAudioServer, using_server
from engine import events as ev
from engine.errors import AudioDeviceError
from engine.latency import percentile
from engine.voice import models
from engine.voice.config import SAMPLE_RATE, VoiceConfig
from engine.voice.session import VoiceSession
from engine.voice.stt import GreedyWhisper
from engine.voice.tts_cache import AudioCacheStore

# A rehearsal schema whose every caller turn is short and whose bot lines are short, so that
# many spoken turns fit in a little time. "stay" answers loop on the reprompt.
BENCH_SCHEMA = """\
name: voice_bench
version: "1"
description: Short spoken turns for the voice benchmark.
role_message: You call {{ first_name }} to check in.
data:
  first_name: {type: name, example: Ann}
initial_node: check
intents:
  fine:
    description: The caller is doing fine.
    examples: [I am doing fine, all good thanks]
    keywords: [fine, good, great, well]
  stop:
    description: The caller wants to end the call.
    examples: [goodbye, that is all]
    keywords: [goodbye, bye]
nodes:
  check:
    task_messages:
      - content: Ask {{ first_name }} how they feel.
    say: Hi {{ first_name }}, how are you feeling today?
    reprompt: Sorry, how are you feeling?
    functions:
      - {intent: fine, transition_to: again}
      - {intent: stop, transition_to: done}
  again:
    task_messages:
      - content: Ask again.
    say: Glad to hear it. Anything else?
    reprompt: Anything else today?
    functions:
      - {intent: fine, transition_to: check}
      - {intent: stop, transition_to: done}
  done:
    task_messages:
      - content: Say goodbye.
    say: Thanks, goodbye!
    post_actions: [{type: end_conversation}]
"""
BENCH_PATIENT = '{"schema": "voice_bench", "id": "ann", "data": {"first_name": "Ann"}}'
# Rehearsal answers as callers give them: short answers, longer sentences, dates and numbers, and
# sentences with a pause mid-sentence ("|": MID_SENTENCE_PAUSE_S of silence) that must stay one turn.
PAUSE_MARK = "|"
MID_SENTENCE_PAUSE_S = 0.6
WHOLE_LINE_RATIO = 90  # a line's one transcript against its whole recording's ("9" for "nine" is 92)
CALLER_LINES = (
    "Yes.", "Yes, it is.", "Pretty good.", "I am doing fine, thank you.", "No, not really.",
    "My date of birth is March third, nineteen fifty six.", "Monday at nine works for me.",
    "I was hoping to come in on | Monday afternoon, if that works.",
    "Sure, that sounds good.", "I can do Tuesday the fourteenth at ten thirty.",
    "All good, thanks for asking.", "My phone number is five five five, zero one nine two.",
    "I think so, but I need to check with my daughter first.", "Not too bad.",
    "I take two tablets in the morning | and one at night.", "Yeah, that's right.",
    "It started about three days ago.", "About seven out of ten, I would say.",
    "Could you call me back after four?", "The pharmacy on Main Street, please.",
    "I feel great today.", "My weight is around a hundred and sixty pounds.",
    "We moved here in twenty nineteen.", "I'm not sure, maybe next week?",
    "That's fine with me.", "Can we make it the twenty second instead?",
    "I have been sleeping a lot better | since I changed the dose.", "Okay.",
    "The doctor said to come back in six weeks.", "Thank you, that's very helpful.",
)


# ----- caller audio (Piper) and Whisper, shared with the tests ---------------------------------


@lru_cache(maxsize=2)
def piper_voice(path: str | None = None) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(path or str(models.piper_voice_file()))


def synthesize_caller_wav(text: str, path: Path, lead_silence_s: float = 0.0) -> Path:
    """Speak `text` with Piper into a 16 kHz mono WAV (cached: an existing file is reused).

    Each PAUSE_MARK in `text` is a pause of MID_SENTENCE_PAUSE_S, as a caller who stops to think.
    """
    if path.exists():
        return path
    whole = _speak(spoken_text(text))
    pause = np.zeros(int(MID_SENTENCE_PAUSE_S * SAMPLE_RATE), dtype=np.int16)
    parts = [np.zeros(int(lead_silence_s * SAMPLE_RATE), dtype=np.int16)]
    start = 0
    for cut in _pause_points(whole, text):
        parts += [whole[start:cut], pause]
        start = cut
    write_wav(path, np.concatenate([*parts, whole[start:]]))
    return path


def _pause_points(samples: np.ndarray, text: str) -> list[int]:
    """Where each PAUSE_MARK of `text` falls in `samples`, the sentence spoken in one go: the
    quietest 10 ms between the words either side, found by Whisper's word timestamps. Speaking the
    sentence whole keeps the voice going on at the pause, as a caller who stops to think; halves
    spoken apart would each end as a finished sentence does."""
    pieces = text.split(PAUSE_MARK)
    if len(pieces) == 1:
        return []
    model = models.shared_whisper_model(str(models.whisper_model_dir()))
    segments, _ = model.transcribe(samples.astype(np.float32) / 32768, language="en", beam_size=1,
                                   word_timestamps=True)
    words = [word for segment in segments for word in (segment.words or [])]
    cuts = []
    for said_before, piece in zip(np.cumsum([len(p.split()) for p in pieces]), pieces[:-1], strict=False):
        last = _plain(piece.split()[-1])
        at = [i for i, word in enumerate(words[:-1]) if _plain(word.word) == last]
        if not at:
            raise ValueError(f"caller line {text!r}: Whisper did not hear {last!r} before the pause")
        nearest = min(at, key=lambda i: abs(i - (said_before - 1)))
        cuts.append(_quietest(samples, words[nearest].end, words[nearest + 1].start))
    return cuts


def _quietest(samples: np.ndarray, after_s: float, before_s: float) -> int:
    frame = SAMPLE_RATE // 100
    low = int(max(0.0, min(after_s, before_s) - 0.05) * SAMPLE_RATE)
    high = int((max(after_s, before_s) + 0.05) * SAMPLE_RATE)
    starts = range(low, max(low + 1, high - frame), frame)
    return min(starts, key=lambda i: float(np.abs(samples[i:i + frame].astype(np.float32)).mean()))


def _speak(text: str) -> np.ndarray:
    voice = piper_voice()
    audio = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
    return resample(np.frombuffer(audio, dtype=np.int16), voice.config.sample_rate, SAMPLE_RATE)


def spoken_text(line: str) -> str:
    """A caller line as the caller says it, without its pause marks."""
    return " ".join(line.replace(PAUSE_MARK, " ").split())


def caller_wav_name(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16] + ".wav"


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    import soxr

    floats: np.ndarray = soxr.resample(samples.astype(np.float32) / 32768, rate_in, rate_out)
    clipped: np.ndarray = np.clip(floats * 32768, -32768, 32767)
    return clipped.astype(np.int16)


def write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(samples.astype(np.int16).tobytes())


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes() / handle.getframerate()


def transcribe(samples: np.ndarray, short: bool = False) -> str:
    """Whisper tiny.en on 16 kHz int16 audio (the model shared with the calls).

    `short`: decode as a call decodes a caller turn (`GreedyWhisper`); otherwise with timestamps,
    which keep words whole across 30-second windows of a long recording.
    """
    model = models.shared_whisper_model(str(models.whisper_model_dir()))
    audio = samples.astype(np.float32) / 32768
    if short:
        segments, _ = GreedyWhisper(model).transcribe(audio, language="en")
    else:
        segments, _ = model.transcribe(audio, language="en", beam_size=1)
    return " ".join(segment.text.strip() for segment in segments).strip()


def heard_whole(heard: list[str], references: list[str]) -> bool:
    """Whether a caller line arrived as one turn: one transcript, and close to one of what Whisper
    hears in the line's whole recording (a turn cut at a pause lacks its end; the next line's turn
    then starts with it, so counting turns alone misses both)."""
    return len(heard) == 1 and any(fuzz.ratio(_plain(heard[0]), _plain(reference)) >= WHOLE_LINE_RATIO
                                   for reference in references)


def took_line_before(heard: list[str], references: list[str]) -> bool:
    """Whether a line's one turn is the line itself after the end of the line before, which a cut
    left over ("... one at night. Yeah, that's right."): that line was cut, not this one."""
    return len(heard) == 1 and any(_plain(heard[0]).endswith(" " + _plain(reference))
                                   for reference in references)


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def _references(samples: np.ndarray) -> list[str]:
    """A caller line as Whisper hears its whole recording, in the short and the full window (the two
    may differ on a number: "22nd", "20 second")."""
    heard = []
    try:
        for short in (True, False):
            GreedyWhisper.use_short_window = short
            heard.append(transcribe(samples, short=True))
    finally:
        GreedyWhisper.use_short_window = True
    return heard


class SpeakerRecorder:
    """Records the virtual speaker (raw PCM from parecord), stamping when each chunk arrived."""

    def __init__(self, server: VirtualAudioServer) -> None:
        self._process = server.record_speaker()
        stdout = self._process.stdout
        if not isinstance(stdout, io.BufferedReader):
            raise AudioDeviceError("parecord gave no buffered output pipe")
        self._stdout = stdout
        self._chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            data = self._stdout.read1(3200)
            if not data:
                return
            with self._lock:
                self._chunks.append((time.monotonic(), data))

    def samples(self) -> np.ndarray:
        with self._lock:
            audio = b"".join(chunk for _, chunk in self._chunks)
        return np.frombuffer(audio[: len(audio) // 2 * 2], dtype=np.int16)

    def time_of_sample(self, index: int) -> float:
        """The monotonic time at which sample `index` was heard (end of its chunk, less the rest)."""
        with self._lock:
            chunks = list(self._chunks)
        seen = 0
        for arrived, data in chunks:
            seen += len(data) // 2
            if seen > index:
                return arrived - (seen - index) / SAMPLE_RATE
        return chunks[-1][0] if chunks else time.monotonic()

    def sample_at(self, moment: float) -> int:
        with self._lock:
            chunks = list(self._chunks)
        seen = 0
        for arrived, data in chunks:
            count = len(data) // 2
            if arrived >= moment:
                return max(0, seen + count - int((arrived - moment) * SAMPLE_RATE))
            seen += count
        return seen

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)
        self._thread.join(timeout=5)
        self._stdout.close()


def speech_segments(samples: np.ndarray, threshold: float = 500.0, min_gap_s: float = 0.35,
                    window_s: float = 0.02) -> list[tuple[int, int]]:
    """(start, end) sample indexes of loud stretches, joined across gaps shorter than `min_gap_s`."""
    window = int(window_s * SAMPLE_RATE)
    count = len(samples) // window
    if count == 0:
        return []
    frames = samples[: count * window].astype(np.float32).reshape(count, window)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > threshold
    segments: list[tuple[int, int]] = []
    for index in np.flatnonzero(loud):
        start, end = int(index) * window, (int(index) + 1) * window
        if segments and start - segments[-1][1] <= min_gap_s * SAMPLE_RATE:
            segments[-1] = (segments[-1][0], end)
        else:
            segments.append((start, end))
    return segments


# ----- driving a voice call through the virtual devices --------------------------------------


@dataclass
class SpokenCall:
    """A voice call on the virtual devices, and helpers to take spoken caller turns."""

    server: VirtualAudioServer
    call: Any
    session: VoiceSession
    wav_dir: Path
    spoken: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each caller turn

    async def wait_bot_silent(self, limit_s: float = 30.0, settle_s: float = 0.3) -> None:
        """Wait until the bot has started and finished speaking its current line."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not self.call.ended:
            line = self.session.timeline
            speaking = len(line.bot_started) > len(line.bot_stopped)
            if line.bot_started and not speaking and time.monotonic() - line.bot_stopped[-1] > settle_s:
                return
            await asyncio.sleep(0.05)

    async def say(self, text: str, wait_for_bot: bool = True, limit_s: float = 30.0) -> None:
        """Speak one caller turn into the microphone; then wait for the bot's answer to be spoken."""
        wav = synthesize_caller_wav(text, self.wav_dir / caller_wav_name(text))
        answered = self.bot_lines_started()
        started = time.monotonic()
        player = self.server.play_to_microphone(wav)
        await asyncio.get_running_loop().run_in_executor(None, player.wait)
        self.spoken.append((started, time.monotonic()))
        if wait_for_bot:
            await self.wait_for_answer(answered, limit_s)

    def bot_lines_started(self) -> int:
        """How many times the bot has started speaking: give it to `wait_for_answer`."""
        return len(self.session.timeline.bot_started)

    async def wait_for_answer(self, answered: int, limit_s: float = 30.0) -> None:
        """Wait until the bot has started a line after its first `answered`, and finished it."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not self.call.ended:
            if len(self.session.timeline.bot_started) > answered:
                await self.wait_bot_silent(deadline - time.monotonic())
                return
            await asyncio.sleep(0.05)


async def start_spoken_call(server: VirtualAudioServer, schema: Path | str, patient: Path | str,
                            wav_dir: Path, config: VoiceConfig | None = None,
                            cache_store: AudioCacheStore | None = None) -> SpokenCall:
    from engine.calls import create_call

    session = VoiceSession(config or VoiceConfig(), cache_store=cache_store)
    await session.prepare()  # devices and models, off the event loop
    call = create_call(schema, patient, voice=session)
    await call.start()
    return SpokenCall(server, call, session, wav_dir)


# ----- the benchmark -------------------------------------------------------------------------


def bench_voice(turns: int = len(CALLER_LINES), workdir: Path | None = None,
                progress: Callable[[str], None] | None = None,
                server: VirtualAudioServer | None = None) -> dict[str, Any]:
    """Voice-to-voice latency over `turns` spoken turns on virtual devices (needs pulseaudio).

    Starts a private PulseAudio server unless given a running one. Raises AudioDeviceError
    if the server cannot start. Takes about 20 s plus 4 s a turn.
    """
    report = progress or (lambda _message: None)
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as scratch:
        root = Path(workdir or scratch)
        if server is not None:
            with using_server(server):
                result = asyncio.run(_bench(server, root, max(1, turns), report))
        else:
            with VirtualAudioServer(root / "pulse") as own, using_server(own):
                result = asyncio.run(_bench(own, root, max(1, turns), report))
        report("turn taking without the clock")
        from bench.turns import bench_turn_taking

        result["turn_taking"] = bench_turn_taking(root / "caller", CALLER_LINES[:max(1, turns)])
        return result


async def _bench(server: VirtualAudioServer, root: Path, turns: int, progress: Callable[[str], None]
                 ) -> dict[str, Any]:
    schema, patient = root / "voice_bench.yaml", root / "ann.json"
    schema.write_text(BENCH_SCHEMA)
    patient.write_text(BENCH_PATIENT)
    wav_dir = root / "caller"
    for line in CALLER_LINES:
        synthesize_caller_wav(line, wav_dir / caller_wav_name(line))
    progress("first bot line without the line cache")
    uncached = await _first_line(server, schema, patient, wav_dir, precache=False)
    progress("first bot line with the line cache")
    cached = await _first_line(server, schema, patient, wav_dir, precache=True)
    progress(f"{turns} spoken turns")
    spoken = await _spoken_turns(server, schema, patient, wav_dir, turns)
    progress("TTS first byte and STT real-time factor, outside the pipeline")
    tts_first_byte = tts_first_byte_ms()
    return {**spoken, "first_line_uncached": uncached, "first_line_cached": cached,
            "tts_first_byte_ms": tts_first_byte, "stt_real_time_factor": stt_real_time_factor(wav_dir)}


async def _first_line(server: VirtualAudioServer, schema: Path, patient: Path, wav_dir: Path,
                      precache: bool) -> dict[str, Any]:
    config = VoiceConfig(precache=precache)
    spoken = await start_spoken_call(server, schema, patient, wav_dir, config, cache_store=AudioCacheStore())
    await spoken.wait_bot_silent(limit_s=20)
    await spoken.call.stop()
    return {**spoken.session.first_line_ms(), "cache": spoken.session.report()["cache"]}


async def _spoken_turns(server: VirtualAudioServer, schema: Path, patient: Path, wav_dir: Path,
                        turns: int) -> dict[str, Any]:
    references = {line: _references(read_wav(wav_dir / caller_wav_name(line))) for line in CALLER_LINES}
    spoken = await start_spoken_call(server, schema, patient, wav_dir, VoiceConfig(),
                                     cache_store=AudioCacheStore())
    session, call = spoken.session, spoken.call
    await spoken.wait_bot_silent(limit_s=20)
    per_line: list[dict[str, Any]] = []
    for index in range(turns):
        line = CALLER_LINES[index % len(CALLER_LINES)]
        measured, heard_before = len(session.turn_latencies), _caller_turns(call)
        await spoken.say(line)
        heard = _caller_turns(call)[len(heard_before):]
        per_line.append({"said": spoken_text(line), "heard": heard, "reference": references[line],
                         "whole": heard_whole(heard, references[line]),
                         "took_line_before": took_line_before(heard, references[line]),
                         "turns": [asdict(t) for t in session.turn_latencies[measured:]]})
    await spoken.call.stop()
    v2v = [t.voice_to_voice_ms for t in session.turn_latencies]
    heard = _caller_turns(call)
    return {
        "turns_spoken": turns,
        "turns_heard": len(heard),
        "turns_split": sum(1 for entry in per_line if not entry["whole"] and not entry["took_line_before"]),
        "split_lines": [entry for entry in per_line if not entry["whole"]],
        "turns_measured": len(v2v),
        "voice_to_voice_ms": _figures(v2v),
        "breakdown_ms": _breakdown(session),
        "stages_ms": _stages(call),
        "slowest_turns": sorted(per_line, key=_slowest, reverse=True)[:3],
        "transcripts": heard,
        "cache": session.report()["cache"],
    }


def _caller_turns(call: Any) -> list[str]:
    return [e.text for e in call.events.history if isinstance(e, ev.UserTurn)]


def _slowest(entry: dict[str, Any]) -> float:
    return max((turn["voice_to_voice_ms"] for turn in entry["turns"]), default=0.0)


def _figures(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1),
            "p99": round(percentile(values, 99), 1), "max": round(max(values), 1) if values else 0.0,
            "count": len(values)}


def _breakdown(session: VoiceSession) -> dict[str, dict[str, float]]:
    keys = sorted({key for turn in session.turn_latencies for key in turn.parts_ms})
    return {key: _figures(values) for key in keys
            if (values := [t.parts_ms[key] for t in session.turn_latencies if key in t.parts_ms])}


def _stages(call: Any) -> dict[str, dict[str, float]]:
    grouped: dict[str, list[float]] = {}
    for event in call.events.history:
        if isinstance(event, ev.Latency) and event.turn > 0:
            grouped.setdefault(event.stage, []).append(event.ms)
    return {stage: _figures(values) for stage, values in sorted(grouped.items())}


def stt_real_time_factor(wav_dir: Path) -> dict[str, dict[str, float]]:
    """Whisper's processing time over the audio's duration, for the caller lines: as a call
    transcribes them (the short encoder window), and on the full 30 s window (the baseline),
    alternating line by line so that both see the same machine."""
    transcribe(np.zeros(SAMPLE_RATE // 2, dtype=np.int16), short=True)  # warm
    ratios: dict[str, list[float]] = {"short_window": [], "full_window": []}
    try:
        for wav in sorted(wav_dir.glob("*.wav")):
            samples = read_wav(wav)
            for name, short in (("short_window", True), ("full_window", False)):
                GreedyWhisper.use_short_window = short
                started = time.perf_counter()
                transcribe(samples, short=True)
                ratios[name].append((time.perf_counter() - started) / (len(samples) / SAMPLE_RATE))
    finally:
        GreedyWhisper.use_short_window = True
    return {name: {"p50": round(percentile(values, 50), 3), "max": round(max(values), 3) if values else 0.0}
            for name, values in ratios.items()}


def tts_first_byte_ms(lines: tuple[str, ...] = ("Glad to hear it.", "Sorry, how are you feeling?",
                                                "Thanks, goodbye!")) -> dict[str, float]:
    """Piper's time to the first audio chunk, synthesising directly (no pipeline)."""
    voice = piper_voice()
    for _ in range(2):
        next(iter(voice.synthesize("Warm up.")))
    times = []
    for line in lines:
        started = time.perf_counter()
        next(iter(voice.synthesize(line)))
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": round(percentile(times, 50), 1), "max": round(max(times), 1)}
