"""Turn texts into vectors. One required method, `embed_batch`; helpers build on it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol, Sequence


class Embedder(Protocol):
    """What ingest and retrieval need from an embedding model."""

    name: str

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text."""

    def count_tokens(self, text: str) -> int:
        """Length of the text in the model's own tokens (sizes passages to its window)."""


def embed_one(embedder: Embedder, text: str) -> list[float]:
    return embedder.embed_batch([text])[0]


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, loaded on first use; thread-safe."""

    def __init__(self, model_dir: Path, batch_size: int = 32) -> None:
        model_dir = Path(model_dir)
        # The bundled model sits in a folder called "model": name it after its package instead.
        self.name = model_dir.parent.name if model_dir.name == "model" else model_dir.name
        self.model_dir = model_dir
        self.batch_size = batch_size
        self._model = None
        # Neither the model nor its fast tokenizer may be used from two threads at once.
        self._lock = threading.Lock()
        # Counting tokens (to cut passages) uses a tokenizer of its own: it needs no model
        # weights, and does not wait for the model while it embeds.
        self._counter = None
        self._counter_lock = threading.Lock()

    def _loaded(self):
        # Importing sentence-transformers takes seconds: a re-run over unchanged files never pays it.
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            # The splitter measures whole texts before cutting them to size; transformers warns
            # that such a text is "longer than the maximum sequence length", which is expected.
            logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)
            # Nor should every ingest and ask print a progress bar for loading 90 MB of weights.
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()

            self._model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        return self._model

    def load(self) -> None:
        """Load the model now rather than on the first question."""
        with self._lock:
            self._loaded()

    @property
    def max_tokens(self) -> int:
        with self._lock:
            return int(self._loaded().max_seq_length)

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of the texts, in order. Many texts are sorted by length (less padding) and
        embedded one batch at a time, each batch under the lock: a question asked while an upload
        embeds hundreds of passages waits for one batch, not for all of them."""
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors: list[list[float] | None] = [None] * len(texts)
        for at in range(0, len(order), self.batch_size):
            batch = order[at : at + self.batch_size]
            with self._lock:
                embedded = self._loaded().encode(
                    [texts[i] for i in batch],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            for i, vector in zip(batch, embedded.tolist()):
                vectors[i] = vector
        return vectors

    def set_threads(self, threads: int) -> None:
        """Torch's threads for the next embeddings (see ragapp/cpu.py). Torch's pool is one per
        process, so this is only ever lowered while other processes are busy, and raised after."""
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def count_tokens(self, text: str) -> int:
        with self._counter_lock:
            if self._counter is None:
                self._counter = self._token_counter()
            return self._counter(text)

    def _token_counter(self):
        """The same count as the model's tokenizer.tokenize(), from tokenizer.json when there is one."""
        tokenizer_file = self.model_dir / "tokenizer.json"
        if tokenizer_file.is_file():
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.no_truncation()  # the model reads at most 256 tokens; counting must see all
            tokenizer.no_padding()
            return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)

        def count(text: str) -> int:
            with self._lock:
                return len(self._loaded().tokenizer.tokenize(text))

        return count
