"""The only place the stages are wired together: ingest files, answer questions."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from ragapp import factory
from ragapp.documents import Answer, Citation, Timings
from ragapp.embedder import Embedder
from ragapp.generator import Generator
from ragapp.ingestion import IngestReport, Progress, ingest
from ragapp.prompts import REFUSAL, answer_grammar, build_messages, cited_numbers, is_refusal
from ragapp.retriever import retrieve
from ragapp.settings import Settings
from ragapp.store import DocumentRecord, Store

NO_DOCUMENTS = "There are no documents in this collection yet: upload some or run ingest."
NO_ROOM = (
    "Not even one passage fits in the model's context with room for the answer: "
    "raise RAGAPP_CONTEXT_SIZE or lower RAGAPP_MAX_ANSWER_TOKENS."
)


class Pipeline:
    """Holds the settings and the shared, lazily loaded backends; safe to share between threads."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, generator: Generator | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._generator = generator
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()

    # --- backends, loaded on first use ---------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = factory.make_embedder(self.settings)
            return self._embedder

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                self._generator = factory.make_generator(self.settings)
            return self._generator

    def warm_up(self) -> None:
        """Load both models now, so the first question does not wait for them."""
        load = getattr(self.embedder, "load", None)
        if load:
            load()
        self.generator

    def store(self, collection: str | None = None) -> Store:
        name = collection or self.settings.collection
        embedder_name = self.embedder.name
        with self._lock:
            if name not in self._stores:
                self._stores[name] = factory.make_store(self.settings, name, embedder_name)
            return self._stores[name]

    # --- ingest --------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[Path],
        collection: str | None = None,
        prune: bool = False,
        reset: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> IngestReport:
        """Add, update (and with prune, remove) the given files and folders in a collection."""
        return ingest(
            paths,
            self.store(collection),
            self.embedder,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            prune=prune,
            reset=reset,
            on_progress=on_progress,
        )

    def documents(self, collection: str | None = None) -> list[DocumentRecord]:
        return self.store(collection).documents()

    def delete_document(self, doc_id: str, collection: str | None = None) -> int:
        """Remove a document's passages; an uploaded file (our own copy) is deleted too."""
        store = self.store(collection)
        record = store.record(doc_id)
        removed = store.remove_document(doc_id)
        if record is not None:
            path = Path(record.path)
            if path.is_relative_to(self.settings.upload_dir.resolve()):
                path.unlink(missing_ok=True)
        return removed

    # --- ask -----------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        collection: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer from the collection's passages only, citing them; streams through on_token."""
        started = time.perf_counter()
        timings = Timings()
        store = self.store(collection)
        hits = retrieve(question, self.embedder, store, self.settings.top_k)
        timings.retrieval_s = time.perf_counter() - started
        if not hits:
            text = NO_DOCUMENTS if store.count() == 0 else REFUSAL
            timings.total_s = time.perf_counter() - started
            return Answer(question, text, [], refused=True, timings=timings)

        generator = self.generator
        budget = generator.context_size - self.settings.max_answer_tokens
        messages, shown = build_messages(question, hits, generator.count_tokens, budget)
        if not shown:
            timings.total_s = time.perf_counter() - started
            return Answer(question, NO_ROOM, [], refused=True, timings=timings)
        pieces: list[str] = []
        grammar = answer_grammar(len(shown))
        for piece in generator.stream(messages, self.settings.max_answer_tokens, grammar):
            if timings.first_token_s is None:
                timings.first_token_s = time.perf_counter() - started
            pieces.append(piece)
            if on_token:
                on_token(piece)
        text = _drop_unknown_citations("".join(pieces).strip(), len(shown))
        refused = is_refusal(text)
        citations = [] if refused else _citations(text, shown)
        timings.total_s = time.perf_counter() - started
        return Answer(question, text or REFUSAL, citations, refused=refused, timings=timings, hits=shown)


def _citations(text: str, shown) -> list[Citation]:
    return sorted((Citation(n, shown[n - 1].passage) for n in cited_numbers(text)), key=lambda c: c.n)


def _drop_unknown_citations(text: str, shown: int) -> str:
    """Remove [n] markers that name no passage shown to the model: they would point nowhere."""

    def keep(match: re.Match) -> str:
        numbers = [n.strip() for n in match.group(1).split(",") if 1 <= int(n) <= shown]
        return f"[{', '.join(numbers)}]" if numbers else ""

    return re.sub(r"\[(\d+(?:\s*,\s*\d+)*)\]", keep, text)
