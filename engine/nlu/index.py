"""The embedding stage: every example and description of a schema's intents, embedded once.

The index is built on the process's one NLU worker thread once a call is about to use it
(`prepare`, at call creation), so neither the model load nor the example embeddings run on the event
loop, a command that only loads a schema (validate, render) never loads the model, and schemas
prepared together take one core, not all. A turn that arrives first embeds the few intents it
needs itself.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from engine.nlu.anchors import OFF_TOPIC_ANCHORS
from engine.nlu.result import Candidate

TOP_K = 2  # an intent's score: the mean of its two nearest texts, so one stray example cannot carry it

if TYPE_CHECKING:
    from engine.nlu.encoder import Encoder, Vectors
    from engine.schema.model import Intent


# Its thread is joined at exit: leaving while the model loads would abort inside onnxruntime.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu-index")


class SemanticIndex:
    """Example vectors per intent; scores a turn against the intents it may mean."""

    def __init__(self, intents: dict[str, Intent]) -> None:
        self._texts = {name: [*intent.examples, intent.description] for name, intent in intents.items()}
        self._vectors: dict[str, Vectors] = {}
        self._anchors: Vectors | None = None
        self._lock = threading.Lock()
        self._starting = threading.Lock()
        self._built: Future[None] | None = None

    def prepare(self) -> Future[None]:
        """Start embedding every intent on the worker thread (once); the build's future."""
        with self._starting:
            if self._built is None:
                self._built = _WORKER.submit(self._build)
            return self._built

    def _build(self) -> None:
        self._anchor_vectors()
        for name in self._texts:
            self._intent_vectors(name)

    def _intent_vectors(self, name: str) -> Vectors:
        """Embedded by the worker, or by a turn that needs the intent before the worker got to it."""
        with self._lock:
            if name not in self._vectors:
                self._vectors[name] = _encoder().embed_examples(self._texts[name])
            return self._vectors[name]

    def _anchor_vectors(self) -> Vectors:
        """The off-topic anchors' vectors (embedded once per process, fetched once per index)."""
        with self._lock:
            if self._anchors is None:
                self._anchors = _encoder().embed_examples(list(OFF_TOPIC_ANCHORS))
            return self._anchors

    @property
    def ready(self) -> bool:
        return self._built is not None and self._built.done()

    def wait_ready(self) -> None:
        """Until every intent is embedded (raises what building the index raised)."""
        self.prepare().result()

    def scores(self, text: str, candidates: tuple[str, ...]) -> tuple[list[Candidate], float]:
        """Each candidate's score for `text` (best first), and the turn's similarity to small talk."""
        turn = _encoder().embed([text])[0]
        scored = [Candidate(name, _top_k_mean(self._intent_vectors(name) @ turn)) for name in candidates]
        off_topic = _top_k_mean(self._anchor_vectors() @ turn)
        return sorted(scored, key=lambda c: -c.score), off_topic


def _encoder() -> Encoder:
    from engine.nlu.encoder import shared_encoder  # numpy and onnxruntime: only once a call needs them

    return shared_encoder()


def _top_k_mean(similarities: Vectors) -> float:
    import numpy as np

    nearest = np.sort(similarities)[::-1][:TOP_K]
    return round(float(nearest.mean()), 3)
