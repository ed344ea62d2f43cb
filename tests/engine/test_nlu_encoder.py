"""The packaged sentence encoder: located in site-packages, sha256-checked, one vector per text."""

from __future__ import annotations

import numpy as np
import pytest

from engine.nlu.encoder import MINILM_L6_INT8, NluModelError, PackagedFile, shared_encoder


def test_the_model_file_must_match_its_sha256() -> None:
    wrong = PackagedFile(MINILM_L6_INT8.model.distribution, MINILM_L6_INT8.model.path, "0" * 64)
    with pytest.raises(NluModelError, match="sha256"):
        wrong.locate()


def test_a_missing_package_says_how_to_run_without_it() -> None:
    with pytest.raises(NluModelError, match="--nlu keywords"):
        PackagedFile("no-such-model-package", "model.onnx", "0" * 64).locate()


def test_vectors_are_unit_length_and_do_not_depend_on_the_batch() -> None:
    encoder = shared_encoder()
    texts = ["yes", "I'd need to push it back a week, the Thursday is no good for me at all"]
    together = encoder.embed(texts)
    alone = np.stack([encoder.embed([text])[0] for text in texts])
    assert together.shape == (2, 384)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(together, alone, atol=1e-4)  # padding in a batch changes nothing


def test_paraphrases_are_closer_than_unrelated_turns() -> None:
    encoder = shared_encoder()
    cancel, paraphrase, unrelated = encoder.embed(["I need to cancel my appointment",
                                                   "I'd like to drop the appointment altogether",
                                                   "my cat knocked over a vase"])
    assert float(cancel @ paraphrase) > float(cancel @ unrelated) + 0.3
    assert shared_encoder() is encoder
