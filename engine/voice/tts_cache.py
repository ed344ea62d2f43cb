"""Pre-synthesised scripted lines: the first bot line plays with no TTS wait.

`with_line_cache(ServiceClass)` makes a subclass of any Pipecat TTS service whose
base class opens the audio context itself (`push_start_frame=True`: Piper,
OpenAI and the other HTTP/local services). At pipeline start it synthesises the
call's static lines sentence by sentence, cut exactly as the service cuts
them; the first state's line before the pipeline finishes starting, the rest in
the background, paused while the caller speaks. When the bot's text for a
sentence equals a cached one, `run_tts` yields the cached audio frames instead
of synthesising.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    StartFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TextAggregationMode, TTSService
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

from engine.voice.pipecat_private import opens_audio_context, text_aggregation_mode

# The mixin is always combined with a TTSService subclass; mypy checks it as one.
if TYPE_CHECKING:
    _MixinBase = TTSService
else:
    _MixinBase = object

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
# Set inside precache synthesis only: the service's own metric calls made there must not
# close the TTFB of a live line being timed at the same moment.
_PRECACHING: ContextVar[bool] = ContextVar("tts_precaching", default=False)


def normalize(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class CachedAudio:
    chunks: tuple[bytes, ...]
    sample_rate: int
    first_byte_ms: float  # what the caller would have waited for the first audio
    synthesis_ms: float

    @property
    def size(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


class AudioCacheStore:
    """Synthesised sentences, shared by the process's calls, least recently used dropped first."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], CachedAudio] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[str, str]) -> CachedAudio | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, str], entry: CachedAudio) -> None:
        previous = self._entries.pop(key, None)
        self._bytes += entry.size - (previous.size if previous else 0)
        self._entries[key] = entry
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.size

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


SHARED_STORE = AudioCacheStore()


@dataclass
class CacheStats:
    """One call's use of the cache."""

    hits: int = 0
    misses: int = 0
    waited_for_precache: int = 0
    time_saved_ms: float = 0.0
    synthesis_saved_ms: float = 0.0
    precached_sentences: int = 0
    precache_ms: float = 0.0
    first_line_precache_ms: float = 0.0
    missed: list[str] = field(default_factory=list)

    def hit(self, entry: CachedAudio) -> None:
        self.hits += 1
        self.time_saved_ms += entry.first_byte_ms
        self.synthesis_saved_ms += entry.synthesis_ms

    def report(self) -> dict[str, Any]:
        lookups = self.hits + self.misses
        return {
            "hits": self.hits, "misses": self.misses,
            "hit_rate": round(self.hits / lookups, 4) if lookups else 0.0,
            "waited_for_precache": self.waited_for_precache,
            "time_saved_ms": round(self.time_saved_ms, 1),
            "synthesis_saved_ms": round(self.synthesis_saved_ms, 1),
            "precached_sentences": self.precached_sentences,
            "precache_ms": round(self.precache_ms, 1),
            "first_line_precache_ms": round(self.first_line_precache_ms, 1),
        }


class LineCacheMixin(_MixinBase):
    """Mixed in before a TTSService subclass; see the module docstring."""

    _cache_service_name = "tts"
    _REOPEN_AFTER_TURN_S = 3.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup_line_cache([], [], enabled=False)  # off until the session gives it the lines

    def setup_line_cache(self, first_lines: Iterable[str], other_lines: Iterable[str],
                         store: AudioCacheStore | None = None, enabled: bool = True) -> None:
        self._cache_store = store if store is not None else SHARED_STORE
        self._cache_first_lines = [normalize(line) for line in first_lines if line.strip()]
        self._cache_other_lines = [normalize(line) for line in other_lines if line.strip()]
        self._cache_enabled = enabled
        self.cache_stats = CacheStats()
        self._synthesis_lock = asyncio.Lock()
        self._in_progress: dict[tuple[str, str], asyncio.Future[CachedAudio | None]] = {}
        self._precache_gate = asyncio.Event()
        self._precache_gate.set()
        self._precache_task: asyncio.Task[None] | None = None
        self._reopen_task: asyncio.Task[None] | None = None

    # ----- lifecycle ----------------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if not self._cache_usable():
            return
        started = time.perf_counter()
        await self._precache(await self._sentences_of(self._cache_first_lines))
        self.cache_stats.first_line_precache_ms = (time.perf_counter() - started) * 1000
        self._precache_task = self.create_task(self._precache_rest(), name="tts-line-precache")

    async def stop(self, frame: EndFrame) -> None:
        await self._cancel_precache()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._cancel_precache()
        await super().cancel(frame)

    async def _cancel_precache(self) -> None:
        for task in (self._precache_task, self._reopen_task):
            if task is not None and not task.done():
                await self.cancel_task(task)
        self._precache_task = self._reopen_task = None

    def _cache_usable(self) -> bool:
        return (self._cache_enabled and opens_audio_context(self)
                and text_aggregation_mode(self) == TextAggregationMode.SENTENCE)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, UserStartedSpeakingFrame):
            self._precache_gate.clear()  # leave the CPU to the caller's transcription and the answer
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._precache_gate.set()
        elif isinstance(frame, UserStoppedSpeakingFrame) and not self._precache_gate.is_set() \
                and (self._reopen_task is None or self._reopen_task.done()):
            self._reopen_task = self.create_task(self._reopen_gate_later(), name="tts-precache-reopen")
        await super().process_frame(frame, direction)

    async def _reopen_gate_later(self) -> None:
        """A turn the bot does not answer must not stop precaching for good."""
        await asyncio.sleep(self._REOPEN_AFTER_TURN_S)
        self._precache_gate.set()

    # ----- precaching ---------------------------------------------------------------------

    async def _precache_rest(self) -> None:
        started = time.perf_counter()
        await self._precache(await self._sentences_of(self._cache_other_lines))
        self.cache_stats.precache_ms = (time.perf_counter() - started) * 1000

    async def _sentences_of(self, lines: list[str]) -> list[str]:
        """Each line cut into the sentences this service will be asked to speak, in order, once."""
        sentences: dict[str, None] = {}
        for line in lines:
            aggregator = SimpleTextAggregator(
                aggregation_type=text_aggregation_mode(self), language=self.text_aggregation_language)
            pieces = [piece.text async for piece in aggregator.aggregate(line)]
            rest = await aggregator.flush()
            pieces += [rest.text] if rest else []
            sentences.update(dict.fromkeys(normalize(p) for p in pieces if p.strip()))
        return list(sentences)

    async def _precache(self, sentences: list[str]) -> None:
        for sentence in sentences:
            await self._precache_gate.wait()
            key = self._cache_key(sentence)
            if key in self._cache_store or key in self._in_progress:
                continue
            try:
                await self._synthesize_into_cache(key, sentence)
            except Exception as error:
                logger.debug(f"{self}: could not precache [{sentence}]: {error}")

    async def _synthesize_into_cache(self, key: tuple[str, str], sentence: str) -> None:
        done: asyncio.Future[CachedAudio | None] = asyncio.get_running_loop().create_future()
        self._in_progress[key] = done
        try:
            async with self._synthesis_lock:
                token = _PRECACHING.set(True)
                try:
                    entry = await self._synthesize(sentence)
                finally:
                    _PRECACHING.reset(token)
            if entry is not None:
                self._cache_store.put(key, entry)
                self.cache_stats.precached_sentences += 1
            done.set_result(entry)
        finally:
            if not done.done():
                done.set_result(None)
            self._in_progress.pop(key, None)

    async def _synthesize(self, sentence: str) -> CachedAudio | None:
        started = time.perf_counter()
        first_byte_ms = 0.0
        chunks: list[bytes] = []
        async for frame in super().run_tts(sentence, f"precache-{id(sentence)}"):
            if isinstance(frame, TTSAudioRawFrame):
                if not chunks:
                    first_byte_ms = (time.perf_counter() - started) * 1000
                chunks.append(frame.audio)
        if not chunks:
            return None
        synthesis_ms = (time.perf_counter() - started) * 1000
        return CachedAudio(tuple(chunks), self.sample_rate, first_byte_ms, synthesis_ms)

    async def stop_ttfb_metrics(self, *args: Any, **kwargs: Any) -> None:
        if not _PRECACHING.get():
            await super().stop_ttfb_metrics(*args, **kwargs)

    async def start_tts_usage_metrics(self, text: str) -> None:
        if not _PRECACHING.get():
            await super().start_tts_usage_metrics(text)

    # ----- speaking -------------------------------------------------------------------------

    def _cache_key(self, sentence: str) -> tuple[str, str]:
        settings = cast(TTSSettings, self.settings)
        voice = f"{self._cache_service_name}:{settings.model}:{settings.voice}:{self.sample_rate}"
        return voice, normalize(sentence)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        if not self._cache_usable():
            async for frame in super().run_tts(text, context_id):
                yield frame
            return
        key = self._cache_key(text)
        entry = await self._cached(key)
        if entry is not None:
            self.cache_stats.hit(entry)
            await self.stop_ttfb_metrics()
            for chunk in entry.chunks:
                yield TTSAudioRawFrame(chunk, entry.sample_rate, 1, context_id=context_id)
            return
        self.cache_stats.misses += 1
        self.cache_stats.missed.append(key[1])
        async for frame in self._synthesize_live(key, text, context_id):
            yield frame

    async def _cached(self, key: tuple[str, str]) -> CachedAudio | None:
        entry = self._cache_store.get(key)
        pending = self._in_progress.get(key)
        if entry is None and pending is not None:
            self.cache_stats.waited_for_precache += 1
            entry = await asyncio.shield(pending)
        return entry

    async def _synthesize_live(self, key: tuple[str, str], text: str,
                               context_id: str) -> AsyncGenerator[Frame | None, None]:
        started = time.perf_counter()
        first_byte_ms = 0.0
        chunks: list[bytes] = []
        async with self._synthesis_lock:
            async for frame in super().run_tts(text, context_id):
                if isinstance(frame, TTSAudioRawFrame):
                    if not chunks:
                        first_byte_ms = (time.perf_counter() - started) * 1000
                    chunks.append(frame.audio)
                yield frame
        if chunks:
            self._cache_store.put(key, CachedAudio(tuple(chunks), self.sample_rate, first_byte_ms,
                                                   (time.perf_counter() - started) * 1000))


_cached_classes: dict[type, type] = {}


def with_line_cache(service_class: type[TTSService]) -> type[TTSService]:
    """`service_class` with the scripted-line cache mixed in (one class per service class)."""
    cached = _cached_classes.get(service_class)
    if cached is None:
        cached = type(f"Cached{service_class.__name__}", (LineCacheMixin, service_class),
                      {"_cache_service_name": service_class.__name__})
        _cached_classes[service_class] = cached
    return cached
