"""Store passages and their vectors in Chroma, with a manifest of ingested files beside them."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ragapp.documents import Document, Hit, Passage

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
MANIFEST_FILE = "manifest.sqlite3"


class StoreError(Exception):
    """The store cannot be used as asked; the message says why."""


def check_collection_name(name: str) -> str:
    """Collection names: 3-63 letters, digits, '.', '_' or '-', starting and ending alphanumeric."""
    if not COLLECTION_NAME.match(name or ""):
        raise StoreError(
            f"invalid collection name {name!r}: use 3-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def open_chroma(store_dir: Path):
    """The one place a Chroma client is made; a Chroma server client can take its place later."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    store_dir.mkdir(parents=True, exist_ok=True)
    # The product promises that nothing leaves the machine: no telemetry, ever.
    return chromadb.PersistentClient(
        path=str(store_dir),
        settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
    )


@dataclass(frozen=True)
class DocumentRecord:
    """What the manifest knows of one ingested file."""

    doc_id: str
    path: str
    source: str
    title: str
    kind: str
    content_hash: str
    pages: int
    passages: int
    ingested_at: float


class Manifest:
    """A SQLite table of ingested files and their content hashes, per collection."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS files (
                    collection TEXT NOT NULL, doc_id TEXT NOT NULL, path TEXT NOT NULL,
                    source TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL,
                    content_hash TEXT NOT NULL, pages INTEGER NOT NULL, passages INTEGER NOT NULL,
                    ingested_at REAL NOT NULL, PRIMARY KEY (collection, doc_id))"""
            )

    def get(self, collection: str, doc_id: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc_id, path, source, title, kind, content_hash, pages, passages, ingested_at "
                "FROM files WHERE collection = ? AND doc_id = ?",
                (collection, doc_id),
            ).fetchone()
        return DocumentRecord(*row) if row else None

    def all(self, collection: str) -> list[DocumentRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, path, source, title, kind, content_hash, pages, passages, ingested_at "
                "FROM files WHERE collection = ? ORDER BY source",
                (collection,),
            ).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def put(self, collection: str, record: DocumentRecord) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection, record.doc_id, record.path, record.source, record.title, record.kind,
                 record.content_hash, record.pages, record.passages, record.ingested_at),
            )

    def delete(self, collection: str, doc_id: str | None = None) -> None:
        with self._lock, self._db:
            if doc_id is None:
                self._db.execute("DELETE FROM files WHERE collection = ?", (collection,))
            else:
                self._db.execute("DELETE FROM files WHERE collection = ? AND doc_id = ?", (collection, doc_id))

    def collections(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT collection FROM files ORDER BY 1")]


class Store:
    """One collection of passages: Chroma for vectors, the manifest for files."""

    def __init__(self, client: Callable[[], Any], manifest: Manifest, collection: str, embedder_name: str) -> None:
        self.name = check_collection_name(collection)
        self._client_factory = client
        self._manifest = manifest
        self._embedder_name = embedder_name
        self._chroma_collection = None
        self._open_lock = threading.Lock()

    @property
    def _client(self) -> Any:
        return self._client_factory()

    @property
    def _collection(self) -> Any:
        # Opened on first use: a re-run over unchanged files only reads the manifest.
        with self._open_lock:
            if self._chroma_collection is None:
                self._chroma_collection = self._open_collection()
            return self._chroma_collection

    def _open_collection(self):
        collection = self._client.get_or_create_collection(
            name=self.name,
            metadata={"hnsw:space": "cosine", "embedder": self._embedder_name},
            embedding_function=None,
        )
        built_with = (collection.metadata or {}).get("embedder")
        if built_with and built_with != self._embedder_name:
            raise StoreError(
                f"collection '{self.name}' was built with the embedding model '{built_with}', "
                f"not '{self._embedder_name}': re-ingest it with --reset"
            )
        return collection

    # --- files -------------------------------------------------------------------------------

    def record(self, doc_id: str) -> DocumentRecord | None:
        return self._manifest.get(self.name, doc_id)

    def documents(self) -> list[DocumentRecord]:
        """Every ingested file of this collection, by source path."""
        return self._manifest.all(self.name)

    def replace_document(self, document: Document, passages: Sequence[Passage], vectors: Sequence[list[float]]) -> None:
        """Store a file's passages, drop the ones of its previous version, then record it."""
        new_ids = {p.id for p in passages}
        old_ids = set(self._ids_of(document.doc_id))
        batch = max(1, int(self._client.get_max_batch_size()))
        for at in range(0, len(passages), batch):
            part = passages[at : at + batch]
            self._collection.upsert(
                ids=[p.id for p in part],
                documents=[p.text for p in part],
                metadatas=[p.metadata() for p in part],
                embeddings=[list(v) for v in vectors[at : at + batch]],
            )
        stale = sorted(old_ids - new_ids)
        if stale:
            self._collection.delete(ids=stale)
        # The manifest is written last: a crash before this line makes the next run redo the file.
        self._manifest.put(
            self.name,
            DocumentRecord(
                doc_id=document.doc_id,
                path=document.path,
                source=document.source,
                title=document.title,
                kind=document.kind,
                content_hash=document.content_hash,
                pages=sum(1 for p in document.pages if p.number is not None),
                passages=len(passages),
                ingested_at=time.time(),
            ),
        )

    def remove_document(self, doc_id: str) -> int:
        """Delete a file's passages and its manifest entry; returns how many passages went."""
        ids = self._ids_of(doc_id)
        if ids:
            self._collection.delete(ids=ids)
        self._manifest.delete(self.name, doc_id)
        return len(ids)

    def reset(self) -> None:
        """Empty the collection and forget its files."""
        existing = {c.name if hasattr(c, "name") else c for c in self._client.list_collections()}
        if self.name in existing:
            self._client.delete_collection(self.name)
        self._manifest.delete(self.name)
        with self._open_lock:
            self._chroma_collection = None

    def _ids_of(self, doc_id: str) -> list[str]:
        return list(self._collection.get(where={"doc_id": doc_id}, include=[])["ids"])

    # --- passages ----------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._collection.count())

    def passages_of(self, doc_id: str) -> list[Passage]:
        got = self._collection.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        passages = [Passage.from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(passages, key=lambda p: p.index)

    def query(self, vector: Sequence[float], k: int, where: dict | None = None) -> list[Hit]:
        """The k passages nearest to the vector, best first, with cosine similarity as score."""
        if k <= 0 or self.count() == 0:
            return []
        result = self._collection.query(
            query_embeddings=[list(vector)],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for pid, text, meta, distance in zip(
            result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
        ):
            hits.append(Hit(Passage.from_record(pid, text, meta), 1.0 - float(distance)))
        return hits


def open_store(store_dir: Path, collection: str, embedder_name: str) -> Store:
    """Open (creating if needed) one collection of the store under store_dir."""
    return Store(lambda: _client_for(store_dir), _manifest_for(store_dir), collection, embedder_name)


# Chroma allows one client per path and process; the app opens many stores over one client.
_clients: dict[str, Any] = {}
_manifests: dict[str, Manifest] = {}
_open_lock = threading.Lock()


def _client_for(store_dir: Path) -> Any:
    key = str(Path(store_dir).resolve())
    with _open_lock:
        if key not in _clients:
            _clients[key] = open_chroma(Path(key))
        return _clients[key]


def _manifest_for(store_dir: Path) -> Manifest:
    key = str(Path(store_dir).resolve())
    with _open_lock:
        if key not in _manifests:
            _manifests[key] = Manifest(Path(key) / MANIFEST_FILE)
        return _manifests[key]
