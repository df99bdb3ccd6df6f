"""Find the passages that best match a question."""

from __future__ import annotations

from ragapp.documents import Hit
from ragapp.embedder import Embedder, embed_one
from ragapp.store import Store


def retrieve(question: str, embedder: Embedder, store: Store, k: int) -> list[Hit]:
    """The top-k passages for the question, best first (dense search in Chroma)."""
    if not question.strip():
        return []
    return store.query(embed_one(embedder, question), k)
