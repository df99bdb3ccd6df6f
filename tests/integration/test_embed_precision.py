"""float32 and bf16 embeddings of the bundled model are the same vectors, as far as a store can tell."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, SAMPLE

from ragapp.embedder import SentenceTransformerEmbedder, choose_precision
from ragapp.models import resolve_embed_model
from ragapp.pipeline import Pipeline
from ragapp.retriever import retrieve
from ragapp.settings import Settings

pytestmark = pytest.mark.integration

QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "tests/data/handbook-qa.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def embedders():
    model_dir = resolve_embed_model("")
    return {
        value: SentenceTransformerEmbedder(model_dir, precision=choose_precision(value)) for value in ("float32", "bf16")
    }


def test_bf16_really_computes_in_bf16(embedders):
    """Every linear layer of the bf16 model holds a bf16 weight that oneDNN packed once, at load."""
    import torch

    from ragapp.bf16 import Bf16Linear, can_pack

    for embedder in embedders.values():
        embedder.load()
    layers = lambda e, kind: [m for m in e._model.modules() if isinstance(m, kind)]
    assert not layers(embedders["bf16"], torch.nn.Linear)
    packed = layers(embedders["bf16"], Bf16Linear)
    assert len(packed) == len(layers(embedders["float32"], torch.nn.Linear)) > 0
    assert all(layer.weight.dtype == torch.bfloat16 for layer in packed)
    # Packed once at load wherever oneDNN can pack bf16 (not on a CPU without AVX-512).
    assert all(layer.packed == can_pack() for layer in packed)
    assert {m.weight.dtype for m in layers(embedders["float32"], torch.nn.Linear)} == {torch.float32}


def test_float32_and_bf16_vectors_agree(embedders):
    passages = [p for path in sorted(SAMPLE.rglob("*.md")) for p in path.read_text().split("\n\n") if p.strip()]
    texts = QUESTIONS[:20] + passages[:60] + ["Paris"]  # single words, questions, whole passages
    full = np.array(embedders["float32"].embed_batch(texts))
    half = np.array(embedders["bf16"].embed_batch(texts))
    cosines = (full * half).sum(axis=1) / (np.linalg.norm(full, axis=1) * np.linalg.norm(half, axis=1))
    assert cosines.min() >= 0.999, texts[int(cosines.argmin())]
    assert np.allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-3)  # still normalised for cosine search


def test_vectors_are_sentence_transformers_own(embedders):
    """The embedder runs the model's steps itself (fewer milliseconds per question): its vectors
    are still those SentenceTransformer.encode gives, at both precisions, one text or many."""
    passages = [p for path in sorted(SAMPLE.rglob("*.md")) for p in path.read_text().split("\n\n") if p.strip()]
    for embedder in embedders.values():
        for texts in ([QUESTIONS[0]], QUESTIONS[:5] + passages[:40]):
            ours = np.array(embedder.embed_batch(texts))
            theirs = embedder._loaded().encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True)
            assert theirs.shape == ours.shape
            assert np.allclose(ours, theirs, atol=1e-6), embedder.precision.value


def test_a_store_written_at_one_precision_is_searched_at_the_other(tmp_path, embedders):
    """Each pairing finds the top passage that searching at the store's own precision finds."""
    tops: dict[tuple[str, str], list[str]] = {}
    for written in embedders:
        pipeline = Pipeline(Settings(store_dir=tmp_path / written), embedder=embedders[written])
        report = pipeline.ingest([SAMPLE])
        assert report.passages > 0
        store = pipeline.store()
        assert {r.precision for r in store.documents()} == {written}  # the manifest says how they were made
        for searched, embedder in embedders.items():
            tops[written, searched] = [retrieve(q, embedder, store, 3)[0].passage.id for q in QUESTIONS]
    for written in embedders:
        same = tops[written, written]
        for searched in embedders:
            agree = sum(a == b for a, b in zip(same, tops[written, searched]))
            assert agree == len(QUESTIONS), (written, searched, agree)
