"""Rerank retrieved passages with a cross-encoder, when one is configured (RAGAPP_RERANKER_PATH).

A cross-encoder reads the question and a passage together and scores how well the passage answers
it: slower than comparing vectors, so it only reorders the best candidates of hybrid retrieval.
None ships with the product (none can be installed offline here); point the setting at a local
sentence-transformers CrossEncoder folder, such as cross-encoder/ms-marco-MiniLM-L-6-v2.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, Sequence

from ragapp.documents import Hit
from ragapp.models import ModelNotFoundError


class Reranker(Protocol):
    name: str

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        """The hits reordered, best answer to the question first."""


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder from a local folder, loaded on first use; thread-safe."""

    def __init__(self, model_dir: Path, batch_size: int = 32) -> None:
        model_dir = Path(model_dir).expanduser()
        if not model_dir.exists():
            raise ModelNotFoundError(f"reranker model not found: {model_dir}")
        self.model_dir = model_dir
        self.name = model_dir.name
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        if self._model is None:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(str(self.model_dir), device="cpu", local_files_only=True)
        return self._model

    def scores(self, question: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        with self._lock:
            predicted = self._loaded().predict(
                [(question, text) for text in texts], batch_size=self.batch_size, show_progress_bar=False
            )
        return [float(s) for s in predicted]

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        scores = self.scores(question, [h.passage.text for h in hits])
        order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
        return [hits[i] for i in order]
