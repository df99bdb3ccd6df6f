"""Find the passages that best match a question."""

from __future__ import annotations

from typing import Sequence

from ragapp.documents import Hit
from ragapp.embedder import Embedder, embed_one
from ragapp.store import Store


def retrieve(question: str, embedder: Embedder, store: Store, k: int, exclude_sources: Sequence[str] = ()) -> list[Hit]:
    """The top-k passages for the question, best first (dense search in Chroma).

    exclude_sources: documents (source paths) to leave out, as if they were not in the store.
    """
    if not question.strip():
        return []
    where = {"source": {"$nin": list(exclude_sources)}} if exclude_sources else None
    return store.query(embed_one(embedder, question), k, where=where)
