"""A configured cross-encoder reorders the hybrid candidates (RAGAPP_RERANKER_PATH).

No trained cross-encoder can be installed offline here, so the test builds one from the bundled
MiniLM weights with a fresh scoring head: a real sentence-transformers CrossEncoder folder whose
scores mean nothing, which is enough to check that ragapp loads it and ranks by what it says.
"""

from __future__ import annotations

import pytest

from ragapp.models import ModelNotFoundError, bundled_embed_model
from ragapp.pipeline import Pipeline
from ragapp.reranker import CrossEncoderReranker
from ragapp.retriever import RERANK_CANDIDATES, retrieve

pytestmark = pytest.mark.integration

QUESTION = "How many days of paid annual leave do full-time employees get?"


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory):
    from sentence_transformers import CrossEncoder

    folder = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(str(bundled_embed_model()), num_labels=1, device="cpu", local_files_only=True).save(str(folder))
    return folder


def test_the_cross_encoder_decides_the_order_of_the_hybrid_candidates(ingested, cross_encoder_dir):
    pipeline, _ = ingested
    store, embedder = pipeline.store(), pipeline.embedder
    reranker = CrossEncoderReranker(cross_encoder_dir)
    candidates = retrieve(QUESTION, embedder, store, RERANK_CANDIDATES)
    assert len(candidates) == RERANK_CANDIDATES
    scores = reranker.scores(QUESTION, [h.passage.text for h in candidates])
    by_cross_encoder = sorted(range(len(candidates)), key=lambda i: -scores[i])
    reranked = retrieve(QUESTION, embedder, store, 3, reranker=reranker)
    assert [h.passage.id for h in reranked] == [candidates[i].passage.id for i in by_cross_encoder[:3]]


def test_the_setting_turns_it_on_and_a_missing_folder_is_named(ingested, cross_encoder_dir, tmp_path):
    pipeline, _ = ingested
    assert pipeline.reranker is None  # off by default
    configured = Pipeline(
        pipeline.settings.replace(reranker_path=str(cross_encoder_dir)), embedder=pipeline.embedder,
    )
    assert isinstance(configured.reranker, CrossEncoderReranker)
    answer = configured.ask("Who won the 2022 football World Cup?")  # declined by the gate: no model call
    assert answer.refused and answer.related
    missing = Pipeline(pipeline.settings.replace(reranker_path=str(tmp_path / "nowhere")), embedder=pipeline.embedder)
    with pytest.raises(ModelNotFoundError, match="reranker model not found: .*nowhere"):
        missing.reranker
