"""The embedding stage: every example and description of a schema's intents, embedded once.

The index is built on the process's one NLU worker thread as soon as the schema loads, so neither
the model load nor the example embeddings run on the event loop, and schemas loaded together take
one core, not all. A turn waits for its index only if it arrives first.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from engine.nlu.encoder import Encoder, Vectors, shared_encoder
from engine.nlu.result import Candidate

if TYPE_CHECKING:
    from engine.schema.model import Intent


# Its thread is joined at exit: leaving while the model loads would abort inside onnxruntime.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu-index")


class SemanticIndex:
    """Example vectors per intent; scores a turn against the intents it may mean."""

    def __init__(self, intents: dict[str, Intent]) -> None:
        self._texts = {name: [*intent.examples, intent.description] for name, intent in intents.items()}
        self._built: Future[tuple[Encoder, dict[str, Vectors]]] = _WORKER.submit(self._build)

    def _build(self) -> tuple[Encoder, dict[str, Vectors]]:
        encoder = shared_encoder()
        names = list(self._texts)
        vectors = encoder.embed_examples([text for name in names for text in self._texts[name]])
        by_intent, start = {}, 0
        for name in names:
            count = len(self._texts[name])
            by_intent[name] = vectors[start:start + count]
            start += count
        return encoder, by_intent

    @property
    def ready(self) -> bool:
        return self._built.done()

    def wait_ready(self) -> Encoder:
        """The encoder, once this index is built (raises what building it raised)."""
        return self._built.result()[0]

    def scores(self, text: str, candidates: tuple[str, ...]) -> list[Candidate]:
        """Each candidate's best cosine similarity to `text`, best first."""
        encoder, vectors = self._built.result()
        turn = encoder.embed([text])[0]
        scored = [Candidate(name, round(float(np.max(vectors[name] @ turn)), 3)) for name in candidates]
        return sorted(scored, key=lambda c: -c.score)
