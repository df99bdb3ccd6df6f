"""Find the passages that best match a question: dense (Chroma) and lexical (BM25) search, fused."""

from __future__ import annotations

from typing import Sequence

from ragapp.documents import Hit
from ragapp.embedder import Embedder, embed_one
from ragapp.store import Store

DENSE, LEXICAL, HYBRID = "dense", "lexical", "hybrid"
MODES = (DENSE, LEXICAL, HYBRID)

# Weighted reciprocal rank fusion: a passage scores weight / (RRF_K + rank) in each ranking, from
# the best CANDIDATES passages of each. Tuned on ../shared/bench/squad2-dev (README, "Retrieval"):
# words (BM25) rank the right passage first more often than meaning does there (recall@1 0.82
# against 0.67), and a small RRF_K lets a first place count.
RRF_K = 5
CANDIDATES = 30
DENSE_WEIGHT, LEXICAL_WEIGHT = 1.0, 2.0


def retrieve(
    question: str,
    embedder: Embedder,
    store: Store,
    k: int,
    exclude_sources: Sequence[str] = (),
    mode: str = HYBRID,
) -> list[Hit]:
    """The top-k passages for the question, best first; each hit scored by cosine similarity.

    mode: HYBRID fuses dense and lexical rankings; DENSE or LEXICAL uses one of them alone.
    exclude_sources: documents (source paths) to leave out, as if they were not in the store.
    """
    if not question.strip() or k <= 0:
        return []
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
    vector = embed_one(embedder, question)
    depth = max(k, CANDIDATES) if mode == HYBRID else k
    rankings: list[list[str]] = []
    dense: dict[str, Hit] = {}
    if mode in (DENSE, HYBRID):
        where = {"source": {"$nin": list(exclude_sources)}} if exclude_sources else None
        dense_hits = store.query(vector, depth, where=where)
        if mode == DENSE:
            return dense_hits
        dense = {h.passage.id: h for h in dense_hits}
        rankings.append(list(dense))
    rankings.append(store.search_text(question, depth, exclude_sources))
    if mode == LEXICAL:
        chosen = rankings[0][:k]
    else:
        chosen = fuse(rankings, weights=(DENSE_WEIGHT, LEXICAL_WEIGHT))[:k]
    missing = [pid for pid in chosen if pid not in dense]
    found = {**dense, **store.hits(missing, vector)}
    return [found[pid] for pid in chosen if pid in found]


def fuse(rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None, rrf_k: int = RRF_K) -> list[str]:
    """Weighted reciprocal rank fusion of several rankings of ids: the fused order, best first.

    Ties keep the order of first appearance (the earlier ranking's, then the later ones').
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, pid in enumerate(dict.fromkeys(ranking), start=1):
            scores[pid] = scores.get(pid, 0.0) + weight / (rrf_k + rank)
    order = {pid: i for i, pid in enumerate(scores)}
    return sorted(scores, key=lambda pid: (-scores[pid], order[pid]))
