"""The embedding stage: every example and description of a schema's intents, embedded once.

The index is built in a worker thread as soon as the schema loads, so neither the model load nor
the example embeddings run on the event loop. A turn waits for it only if it arrives first.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from engine.nlu.encoder import Encoder, Vectors, shared_encoder
from engine.nlu.result import Candidate

if TYPE_CHECKING:
    from engine.schema.model import Intent


class SemanticIndex:
    """Example vectors per intent; scores a turn against the intents it may mean."""

    def __init__(self, intents: dict[str, Intent]) -> None:
        self._texts = {name: [*intent.examples, intent.description] for name, intent in intents.items()}
        self._vectors: dict[str, Vectors] = {}
        self._encoder: Encoder | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._build, name="nlu-index", daemon=True)
        self._thread.start()

    def _build(self) -> None:
        try:
            encoder = shared_encoder()
            names = list(self._texts)
            vectors = encoder.embed([text for name in names for text in self._texts[name]])
            start = 0
            for name in names:
                count = len(self._texts[name])
                self._vectors[name] = vectors[start:start + count]
                start += count
            self._encoder = encoder
        except BaseException as error:  # handed to the first caller of `scores`
            self._error = error
        finally:
            self._ready.set()

    def wait_ready(self) -> Encoder:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._encoder is not None
        return self._encoder

    def scores(self, text: str, candidates: tuple[str, ...]) -> list[Candidate]:
        """Each candidate's best cosine similarity to `text`, best first."""
        encoder = self.wait_ready()
        turn = encoder.embed([text])[0]
        scored = [Candidate(name, round(float(np.max(self._vectors[name] @ turn)), 3)) for name in candidates]
        return sorted(scored, key=lambda c: -c.score)
