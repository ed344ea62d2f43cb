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

from engine.nlu.result import Candidate

if TYPE_CHECKING:
    from engine.nlu.encoder import Vectors
    from engine.schema.model import Intent


# Its thread is joined at exit: leaving while the model loads would abort inside onnxruntime.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu-index")


class SemanticIndex:
    """Example vectors per intent; scores a turn against the intents it may mean."""

    def __init__(self, intents: dict[str, Intent]) -> None:
        self._texts = {name: [*intent.examples, intent.description] for name, intent in intents.items()}
        self._vectors: dict[str, Vectors] = {}
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
        for name in self._texts:
            self._intent_vectors(name)

    def _intent_vectors(self, name: str) -> Vectors:
        """Embedded by the worker, or by a turn that needs the intent before the worker got to it."""
        from engine.nlu.encoder import shared_encoder  # numpy and onnxruntime: only once a call needs them

        with self._lock:
            if name not in self._vectors:
                self._vectors[name] = shared_encoder().embed_examples(self._texts[name])
            return self._vectors[name]

    @property
    def ready(self) -> bool:
        return self._built is not None and self._built.done()

    def wait_ready(self) -> None:
        """Until every intent is embedded (raises what building the index raised)."""
        self.prepare().result()

    def scores(self, text: str, candidates: tuple[str, ...]) -> list[Candidate]:
        """Each candidate's best cosine similarity to `text`, best first."""
        import numpy as np

        from engine.nlu.encoder import shared_encoder

        turn = shared_encoder().embed([text])[0]
        scored = [Candidate(name, round(float(np.max(self._intent_vectors(name) @ turn)), 3))
                  for name in candidates]
        return sorted(scored, key=lambda c: -c.score)
