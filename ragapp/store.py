"""Store passages and their vectors in Chroma, with a manifest and a lexical index beside them.

Chroma holds the vectors. A SQLite file beside it holds the manifest (each ingested file and its
content hash) and a full-text index of the passages (FTS5, BM25 ranking): local Chroma has no
lexical search. The manifest and the lexical index are written in one SQLite transaction, after
Chroma. Before Chroma is touched for a file, the manifest notes the write as unfinished (a journal
row, committed); the transaction that records the file clears it. A crash at any moment leaves
at most the files noted unfinished out of step, and `Store.recover` (run before every write)
removes whatever they left in Chroma and the index, so the next run redoes them and the store
ends exactly as a clean run leaves it.

One writer at a time: writes hold `WriteLock`, a lock file in the store folder, so the CLI and the
app (or two ingests) never write one store at once.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ragapp.documents import Document, Hit, Passage

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
MANIFEST_FILE = "manifest.sqlite3"
LOCK_FILE = "write.lock"
ALL_DOCUMENTS = "*"  # the journal's name for a write to the whole collection (a reset)

# BM25 weight of a match in the document title, against 1.0 for one in the passage text.
TITLE_WEIGHT = 0.5

# Words that carry no meaning of their own: left out of lexical queries, where they would match
# nearly every passage.
QUERY_STOPWORDS = frozenset(
    """a about after all also an and any are as at be been but by can could did do does for from had
    has have how i if in into is it its me my no not of on or our so than that the their them then
    there these they this those to was we were what when where which while who whom whose why will
    with would you your""".split()
)
_QUERY_WORD = re.compile(r"\w+")
# In a collection of more than LARGE_COLLECTION passages, words held by more than
# COMMON_WORD_SHARE of them are left out of lexical searches (see Manifest._telling_words).
# Measured on ../shared/bench/squad2-dev with the pruning forced on: hybrid retrieval unchanged
# (recall@5 0.972, MRR@10 0.897), lexical alone 0.948 -> 0.941 and 0.877 -> 0.864; at 100,000
# passages it cut retrieval p95 from 174 ms to 78 ms.
LARGE_COLLECTION = 20_000
COMMON_WORD_SHARE = 0.1


def query_words(text: str) -> list[str]:
    """The text's meaningful words, lower case, each once, in order."""
    words: list[str] = []
    for word in _QUERY_WORD.findall(text.lower()):
        if word not in QUERY_STOPWORDS and word not in words:
            words.append(word)
    return words


def lexical_query(text: str | Sequence[str]) -> str:
    """An FTS5 query matching any of the text's meaningful words (each quoted: no FTS syntax)."""
    words = query_words(text) if isinstance(text, str) else text
    return " OR ".join(f'"{w}"' for w in words)


def file_type(source: str) -> str:
    """A document's type as filters name it: its extension, lower case, without the dot."""
    return Path(source).suffix.lower().lstrip(".")


@dataclass(frozen=True)
class Filter:
    """Restricts a question to some documents: by source path, folder or file type.

    Within one kind any value may match (documents a OR b); kinds combine (in folder f AND a PDF).
    """

    documents: tuple[str, ...] = ()  # source paths, as listed by `ragapp documents`
    folders: tuple[str, ...] = ()  # folders of source paths: "handbook" holds "handbook/x.md"
    types: tuple[str, ...] = ()  # file types: "pdf", "md", "txt"

    KINDS = {"doc": "documents", "document": "documents", "folder": "folders", "type": "types"}

    @classmethod
    def parse(cls, specs: Sequence[str]) -> "Filter":
        """From `doc=handbook/expenses.md`, `folder=handbook`, `type=pdf` (each may repeat)."""
        chosen: dict[str, list[str]] = {"documents": [], "folders": [], "types": []}
        for spec in specs:
            kind, _, value = spec.partition("=")
            field_name = cls.KINDS.get(kind.strip().lower())
            if field_name is None or not value.strip():
                raise ValueError(f"cannot read the filter {spec!r}: use doc=PATH, folder=FOLDER or type=EXTENSION")
            value = value.strip()
            if field_name == "types":
                value = value.lower().lstrip("*").lstrip(".")
            chosen[field_name].append(value.strip("/") if field_name == "folders" else value)
        return cls(**{name: tuple(values) for name, values in chosen.items()})

    def is_empty(self) -> bool:
        return not (self.documents or self.folders or self.types)

    def matches(self, record: "DocumentRecord") -> bool:
        source = record.source
        if self.documents and source not in self.documents:
            return False
        if self.folders and not any(source.startswith(f.strip("/") + "/") for f in self.folders):
            return False
        if self.types and file_type(source) not in {t.lower().lstrip(".") for t in self.types}:
            return False
        return True

    def describe(self) -> str:
        parts = [*self.documents, *(f"{f.strip('/')}/" for f in self.folders), *(f"*.{t.lstrip('.')}" for t in self.types)]
        return ", ".join(parts)


@dataclass(frozen=True)
class Scope:
    """The documents one search may see, by id: only `doc_ids` (all when None), never
    `exclude_doc_ids`."""

    doc_ids: list[str] | None = None
    exclude_doc_ids: list[str] = field(default_factory=list)

    def chroma_where(self) -> dict | None:
        conditions = []
        if self.doc_ids is not None:
            conditions.append({"doc_id": {"$in": self.doc_ids}})
        if self.exclude_doc_ids:
            conditions.append({"doc_id": {"$nin": self.exclude_doc_ids}})
        if not conditions:
            return None
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _token(kind: str, value: str) -> str:
    """One index token standing for a collection name or document id: a letter, then the value's
    bytes as 3-digit numbers. Digits only after the letter, so the tokenizer keeps it whole and
    Porter stemming (which trims letter endings) leaves it exactly as it is."""
    return kind + "".join(f"{b:03d}" for b in value.encode("utf-8"))


def lexical_table(collection: str) -> str:
    """The name of a collection's full-text table."""
    return f"lexical_{_token('c', collection)}"


class StoreError(Exception):
    """The store cannot be used as asked; the message says why."""


class StoreBusyError(StoreError):
    """Another writer held the store for longer than we were willing to wait."""


class WriteLock:
    """The store's one-writer lock: a lock file in the store folder, held with flock.

    flock locks belong to an open file, so two threads of one process (two app sessions) exclude
    each other as two processes do, and the kernel releases the lock of a killed process."""

    POLL_S = 0.2

    def __init__(self, store_dir: Path) -> None:
        self.path = Path(store_dir) / LOCK_FILE

    @contextmanager
    def hold(self, timeout_s: float, on_wait: Callable[[str], None] | None = None, what: str = "") -> Iterator[None]:
        """Hold the lock for the block; wait up to timeout_s for another writer to finish,
        telling on_wait once who it is, then raise StoreBusyError."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            deadline = time.monotonic() + timeout_s
            told = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusyError(
                            f"the store is busy: {self.holder()} has been writing to it; "
                            f"gave up after waiting {timeout_s:g} s (try again when it has finished)"
                        ) from None
                    if on_wait and not told:
                        on_wait(f"waiting for {self.holder()} to finish writing to the store (up to {timeout_s:g} s)")
                        told = True
                    time.sleep(self.POLL_S)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "what": what or " ".join(sys.argv[:2]), "since": time.time()}))
            handle.flush()
            yield
        finally:
            handle.close()  # closing the file releases the lock

    def holder(self) -> str:
        """Who holds the lock, in words (from what the holder wrote into the lock file)."""
        try:
            info = json.loads(self.path.read_text() or "{}")
            since = time.strftime("%H:%M:%S", time.localtime(info["since"]))
            return f"another writer ({info.get('what') or 'process'}, pid {info['pid']}, since {since})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another writer"


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
    recipe: str = ""  # how its passages were cut (splitter.recipe); another recipe means cut again


@dataclass(frozen=True)
class Failure:
    """A file that could not be stored, and why (as its last ingest found)."""

    doc_id: str
    source: str
    reason: str
    failed_at: float


class Manifest:
    """SQLite, per collection: the ingested files with their content hashes, and the full-text
    index of their passages (written together, in one transaction)."""

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
                    ingested_at REAL NOT NULL, recipe TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY (collection, doc_id))"""
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
            if "recipe" not in columns:  # a manifest from before passages recorded their recipe
                self._db.execute("ALTER TABLE files ADD COLUMN recipe TEXT NOT NULL DEFAULT ''")
            self._db.execute("DROP TABLE IF EXISTS passage_text")  # the first index; rebuilt from Chroma
            # Files that could not be read, by content: an unchanged broken file is not read again.
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS failures (
                    collection TEXT NOT NULL, doc_id TEXT NOT NULL, content_hash TEXT NOT NULL,
                    attempt TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
                    failed_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (collection, doc_id))"""
            )
            if "source" not in {row[1] for row in self._db.execute("PRAGMA table_info(failures)")}:
                self._db.execute("ALTER TABLE failures ADD COLUMN source TEXT NOT NULL DEFAULT ''")
                self._db.execute("ALTER TABLE failures ADD COLUMN failed_at REAL NOT NULL DEFAULT 0")
            # Writes begun in Chroma and not yet recorded here (see the module docstring).
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS unfinished (
                    collection TEXT NOT NULL, doc_id TEXT NOT NULL, PRIMARY KEY (collection, doc_id))"""
            )
        self._tables: set[str] = set()

    def _table(self, collection: str) -> str:
        """The collection's full-text table, created on first use (under the caller's lock).

        One table per collection keeps each search and its BM25 statistics to the collection's
        own passages. Porter stemming: "travelling" finds "travel". The title (with the
        passage's headings) is a column of its own so that a passage that never names its
        document's subject still matches it, weakly. The document is indexed as one token (see
        _token) so that choosing documents is part of the full-text match: filtering rows by an
        unindexed column reads every matching row, which at 100,000 passages cost more than the
        search itself."""
        table = lexical_table(collection)
        if table not in self._tables:
            self._db.execute(
                f"""CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(
                    text, title, doc_token, passage_id UNINDEXED,
                    tokenize = 'porter unicode61 remove_diacritics 2')"""
            )
            self._tables.add(table)
        return table

    def get(self, collection: str, doc_id: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc_id, path, source, title, kind, content_hash, pages, passages, ingested_at, recipe "
                "FROM files WHERE collection = ? AND doc_id = ?",
                (collection, doc_id),
            ).fetchone()
        return DocumentRecord(*row) if row else None

    def all(self, collection: str) -> list[DocumentRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, path, source, title, kind, content_hash, pages, passages, ingested_at, recipe "
                "FROM files WHERE collection = ? ORDER BY source",
                (collection,),
            ).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def remember_failure(
        self, collection: str, doc_id: str, content_hash: str, attempt: str, reason: str, source: str = ""
    ) -> None:
        """Remember why a file (this content, read this way) could not be stored."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO failures (collection, doc_id, content_hash, attempt, reason, source, failed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (collection, doc_id, content_hash, attempt, reason, source, time.time()),
            )

    def failure(self, collection: str, doc_id: str, content_hash: str, attempt: str) -> str | None:
        """The reason this very content, read this very way, failed before (None: it did not)."""
        with self._lock:
            row = self._db.execute(
                "SELECT reason FROM failures WHERE collection = ? AND doc_id = ? AND content_hash = ? AND attempt = ?",
                (collection, doc_id, content_hash, attempt),
            ).fetchone()
        return row[0] if row else None

    def failures(self, collection: str) -> list[Failure]:
        """Every remembered failure of the collection, by source path."""
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, source, reason, failed_at FROM failures WHERE collection = ? ORDER BY source", (collection,)
            ).fetchall()
        return [Failure(*row) for row in rows]

    def forget_failure(self, collection: str, doc_id: str | None = None) -> None:
        with self._lock, self._db:
            if doc_id is None:
                self._db.execute("DELETE FROM failures WHERE collection = ?", (collection,))
            else:
                self._db.execute("DELETE FROM failures WHERE collection = ? AND doc_id = ?", (collection, doc_id))

    def begin(self, collection: str, doc_id: str) -> None:
        """Note (durably) that a write of this document (ALL_DOCUMENTS: of the collection) begins."""
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO unfinished (collection, doc_id) VALUES (?, ?)", (collection, doc_id))

    def unfinished(self, collection: str) -> list[str]:
        """Documents whose write began and never ended (ALL_DOCUMENTS first)."""
        with self._lock:
            rows = self._db.execute("SELECT doc_id FROM unfinished WHERE collection = ?", (collection,)).fetchall()
        return sorted((r[0] for r in rows), key=lambda d: d != ALL_DOCUMENTS)

    def finish(self, collection: str, doc_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM unfinished WHERE collection = ? AND doc_id = ?", (collection, doc_id))

    def put(self, collection: str, record: DocumentRecord, passages: Sequence[Passage]) -> None:
        """Record a file and replace its passages in the lexical index, all or nothing; its
        write is finished."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM unfinished WHERE collection = ? AND doc_id = ?", (collection, record.doc_id))
            self._db.execute("DELETE FROM failures WHERE collection = ? AND doc_id = ?", (collection, record.doc_id))
            self._unindex(collection, record.doc_id)
            self._index(collection, passages)
            self._db.execute(
                "INSERT OR REPLACE INTO files (collection, doc_id, path, source, title, kind, content_hash, "
                "pages, passages, ingested_at, recipe) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection, record.doc_id, record.path, record.source, record.title, record.kind,
                 record.content_hash, record.pages, record.passages, record.ingested_at, record.recipe),
            )

    def delete(self, collection: str, doc_id: str | None = None) -> None:
        """Forget a file (or every file of the collection) and its passages' index entries; its
        write is finished."""
        with self._lock, self._db:
            self._db.execute(
                "DELETE FROM unfinished WHERE collection = ? AND doc_id = ?", (collection, doc_id or ALL_DOCUMENTS)
            )
            self._unindex(collection, doc_id)
            if doc_id is None:
                self._db.execute("DELETE FROM failures WHERE collection = ?", (collection,))
                self._db.execute("DELETE FROM files WHERE collection = ?", (collection,))
            else:
                self._db.execute("DELETE FROM files WHERE collection = ? AND doc_id = ?", (collection, doc_id))

    # _index and _unindex are called inside the caller's transaction, under its lock.
    def _index(self, collection: str, passages: Sequence[Passage]) -> None:
        self._db.executemany(
            f"INSERT INTO {self._table(collection)} (text, title, doc_token, passage_id) VALUES (?, ?, ?, ?)",
            [(p.text, p.headline, _token("d", p.doc_id), p.id) for p in passages],
        )

    def _unindex(self, collection: str, doc_id: str | None = None) -> None:
        """Remove a document's passages (all of the collection's when doc_id is None)."""
        table = self._table(collection)
        if doc_id is None:
            self._db.execute(f"DELETE FROM {table}")
        else:
            self._db.execute(f"DELETE FROM {table} WHERE {table} MATCH ?", (f"doc_token : {_token('d', doc_id)}",))

    def passage_count(self, collection: str) -> int:
        """Passages of the collection's files, as recorded (no need to open Chroma)."""
        with self._lock:
            return self._db.execute("SELECT coalesce(sum(passages), 0) FROM files WHERE collection = ?", (collection,)).fetchone()[0]

    def search(self, collection: str, text: str, k: int, scope: "Scope | None" = None) -> list[tuple[str, float]]:
        """(id, BM25 score) of the k passages that best match the text's words, best first.

        Scores are positive, higher is better; they compare passages of one query only."""
        words = self._telling_words(collection, query_words(text))
        if not words or k <= 0:
            return []
        match = f"({lexical_query(words)})"
        if scope is not None and scope.doc_ids is not None:
            if not scope.doc_ids:
                return []
            match += f" AND doc_token : ({' OR '.join(_token('d', d) for d in scope.doc_ids)})"
        if scope is not None and scope.exclude_doc_ids:
            match += f" NOT doc_token : ({' OR '.join(_token('d', d) for d in scope.exclude_doc_ids)})"
        with self._lock:
            table = self._table(collection)
            rank = f"bm25({table}, 1.0, {TITLE_WEIGHT}, 0.0)"  # text, title, and never the document token
            rows = self._db.execute(
                f"SELECT passage_id, -{rank} FROM {table} WHERE {table} MATCH ? ORDER BY {rank} LIMIT ?",
                (match, k),
            ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def _telling_words(self, collection: str, words: list[str]) -> list[str]:
        """The words worth searching for. In a large collection, those in at most
        COMMON_WORD_SHARE of its passages (the rarest one when all are common), less the words
        found nowhere.

        BM25 must score every passage that holds any word of the query, so a common word makes a
        search slow in a large collection while adding little to the order (its weight is low)."""
        total = self.passage_count(collection)
        if len(words) <= 1 or total <= LARGE_COLLECTION:
            return words
        frequencies = self.document_frequencies(collection, words)
        found = [w for w in words if frequencies.get(w, 1)]
        telling = [w for w in found if frequencies.get(w, 0) <= COMMON_WORD_SHARE * total]
        return telling or sorted(found, key=lambda w: frequencies.get(w, 0))[:1]

    def document_frequencies(self, collection: str, words: Sequence[str]) -> dict[str, int]:
        """How many of the collection's passages hold each word (stemmed as the index stems it)."""
        frequencies = {}
        with self._lock:
            table = self._table(collection)
            for word in words:
                if _QUERY_WORD.fullmatch(word):
                    frequencies[word] = self._db.execute(
                        f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (f'"{word}"',)
                    ).fetchone()[0]
        return frequencies

    def indexed_passages(self, collection: str) -> int:
        with self._lock:
            return self._db.execute(f"SELECT count(*) FROM {self._table(collection)}").fetchone()[0]

    def reindex(self, collection: str, passages: Sequence[Passage]) -> None:
        """Rebuild the collection's lexical index from its passages (a store from before it existed)."""
        with self._lock, self._db:
            self._unindex(collection)
            self._index(collection, passages)

    def collections(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT collection FROM files ORDER BY 1")]


class Store:
    """One collection of passages: Chroma for vectors, the manifest for files."""

    def __init__(
        self, client: Callable[[], Any], manifest: Manifest, collection: str, embedder_name: str, lock: WriteLock
    ) -> None:
        self.name = check_collection_name(collection)
        self.lock = lock
        self._client_factory = client
        self._manifest = manifest
        self._embedder_name = embedder_name
        self._chroma_collection = None
        self._open_lock = threading.Lock()
        self._lexical_checked = False

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

    def collections(self) -> list[str]:
        """Every collection of the store this one belongs to that holds files."""
        return self._manifest.collections()

    def documents(self) -> list[DocumentRecord]:
        """Every ingested file of this collection, by source path."""
        return self._manifest.all(self.name)

    def remember_failure(self, doc_id: str, content_hash: str, attempt: str, reason: str, source: str = "") -> None:
        self._manifest.remember_failure(self.name, doc_id, content_hash, attempt, reason, source)

    def failure(self, doc_id: str, content_hash: str, attempt: str) -> str | None:
        return self._manifest.failure(self.name, doc_id, content_hash, attempt)

    def failures(self) -> list["Failure"]:
        """The files that could not be stored, as last tried, with the reason."""
        return self._manifest.failures(self.name)

    def forget_failure(self, doc_id: str) -> None:
        self._manifest.forget_failure(self.name, doc_id)

    def replace_document(
        self, document: Document, passages: Sequence[Passage], vectors: Sequence[list[float]], recipe: str = ""
    ) -> None:
        """Store a file's passages, drop the ones of its previous version, then record it.

        Callers hold the write lock."""
        self._manifest.begin(self.name, document.doc_id)
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
                recipe=recipe,
            ),
            passages,
        )

    def remove_document(self, doc_id: str) -> int:
        """Delete a file's passages and its manifest entry; returns how many passages went.

        Callers hold the write lock."""
        self._manifest.begin(self.name, doc_id)
        ids = self._ids_of(doc_id)
        if ids:
            self._collection.delete(ids=ids)
        self._manifest.delete(self.name, doc_id)
        return len(ids)

    def reset(self) -> None:
        """Empty the collection and forget its files. Callers hold the write lock."""
        self._manifest.begin(self.name, ALL_DOCUMENTS)
        existing = {c.name if hasattr(c, "name") else c for c in self._client.list_collections()}
        if self.name in existing:
            self._client.delete_collection(self.name)
        self._manifest.delete(self.name)
        with self._open_lock:
            self._chroma_collection = None

    def recover(self) -> list[str]:
        """Undo the writes a crash left unfinished: each such document loses what it has in
        Chroma and the manifest, so the next ingest stores it afresh. Returns their doc ids.

        Callers hold the write lock (no write can be under way)."""
        unfinished = self._manifest.unfinished(self.name)
        for doc_id in unfinished:
            if doc_id == ALL_DOCUMENTS:
                self.reset()
            else:
                self.remove_document(doc_id)
        return unfinished

    def _ids_of(self, doc_id: str) -> list[str]:
        return list(self._collection.get(where={"doc_id": doc_id}, include=[])["ids"])

    # --- passages ----------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._collection.count())

    def passages_of(self, doc_id: str) -> list[Passage]:
        got = self._collection.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        passages = [Passage.from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(passages, key=lambda p: p.index)

    def page_text(self, doc_id: str, page: int | None) -> str:
        """The text of one page (or of the whole file, page None) as ingested, put together from
        its passages at their offsets: what surrounds a cited passage, even when the file has
        changed or gone since. Gaps between passages (whitespace the splitter dropped) are spaces."""
        passages = [p for p in self.passages_of(doc_id) if p.page == page]
        if not passages:
            return ""
        text = [" "] * max(p.end for p in passages)
        for passage in passages:
            text[passage.start : passage.end] = passage.text
        return "".join(text)

    def search_text(self, text: str, k: int, scope: "Scope | None" = None) -> list[tuple[str, float]]:
        """(id, BM25 score) of the k passages whose words best match the text, best first."""
        self._check_lexical_index()
        return self._manifest.search(self.name, text, k, scope)

    def scope(self, only: "Filter | None" = None, exclude_sources: Sequence[str] = ()) -> "Scope | None":
        """Which documents a search may see: those the filter names, less the excluded ones.

        None when every document may be seen."""
        if (only is None or only.is_empty()) and not exclude_sources:
            return None
        records = self.documents()
        chosen = [r for r in records if only.matches(r)] if only is not None and not only.is_empty() else None
        excluded = set(exclude_sources)
        return Scope(
            doc_ids=None if chosen is None else [r.doc_id for r in chosen],
            exclude_doc_ids=[r.doc_id for r in records if r.source in excluded],
        )

    def _check_lexical_index(self) -> None:
        # A store ingested before the lexical index existed has passages but no index: build it
        # once from Chroma, which holds every passage's text and metadata.
        if self._lexical_checked:
            return
        recorded = self._manifest.passage_count(self.name)
        if recorded and self._manifest.indexed_passages(self.name) != recorded:
            passages = [p for record in self.documents() for p in self.passages_of(record.doc_id)]
            self._manifest.reindex(self.name, passages)
        self._lexical_checked = True

    def word_weights(self, words: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each word in this collection: rare words weigh more."""
        self._check_lexical_index()
        total = self._manifest.passage_count(self.name)
        frequencies = self._manifest.document_frequencies(self.name, words)
        return {w: math.log(1 + total / (1 + df)) for w, df in frequencies.items()}

    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored embedding of each passage id."""
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["embeddings"])
        return {pid: [float(x) for x in vector] for pid, vector in zip(got["ids"], got["embeddings"])}

    def hits(self, ids: Sequence[str], vector: Sequence[float]) -> dict[str, Hit]:
        """The passages with these ids, each scored by cosine similarity to the vector."""
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        found = {}
        for pid, text, meta, embedding in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
            similarity = float(sum(float(a) * float(b) for a, b in zip(vector, embedding)))
            found[pid] = Hit(Passage.from_record(pid, text, meta), similarity)
        return found

    def query(self, vector: Sequence[float], k: int, scope: "Scope | None" = None) -> list[Hit]:
        """The k passages nearest to the vector, best first, with cosine similarity as score."""
        # No count() first: Chroma answers an empty collection with no hits, and counting costs
        # more than the search itself in a large one (10 ms against 4 at 100,000 passages).
        if k <= 0:
            return []
        if scope is not None and scope.doc_ids is not None and not scope.doc_ids:
            return []
        result = self._collection.query(
            query_embeddings=[list(vector)],
            n_results=k,
            where=scope.chroma_where() if scope else None,
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
    return Store(lambda: _client_for(store_dir), _manifest_for(store_dir), collection, embedder_name, WriteLock(store_dir))


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
