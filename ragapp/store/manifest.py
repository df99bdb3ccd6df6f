"""The manifest and the word index: SQLite, beside Chroma, on the app's host.

The manifest lists each ingested file with its content hash, the files that could not be read, and
the writes begun in Chroma and not yet recorded (the journal, see ragapp/store/collection.py). The
word index is a full-text table (FTS5, BM25 ranking) of each collection's passages: Chroma has no
word search of its own outside its cloud. A file's record and its passages' index entries are
written in one transaction. SQLite is safe for several processes: readers see each write whole.

Each write also raises the collection's generation, so a process that caches anything about the
collection (its Chroma handle) sees on its next question that another process has written.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ragapp.documents import Passage
from ragapp.store.filters import Scope
from ragapp.text import is_word, query_words

MANIFEST_FILE = "manifest.sqlite3"
ALL_DOCUMENTS = "*"  # the journal's name for a write to the whole collection (a reset)

# BM25 weight of a match in the document title, against 1.0 for one in the passage text.
TITLE_WEIGHT = 0.5
# In a collection of more than LARGE_COLLECTION passages, words held by more than
# COMMON_WORD_SHARE of them are left out of lexical searches (see Manifest._telling_words).
# Measured on ../shared/bench/squad2-dev with the pruning forced on: hybrid retrieval unchanged
# (recall@5 0.972, MRR@10 0.897), lexical alone 0.948 -> 0.941 and 0.877 -> 0.864; at 100,000
# passages it cut retrieval p95 from 174 ms to 78 ms.
LARGE_COLLECTION = 20_000
COMMON_WORD_SHARE = 0.1


def lexical_query(text: str | Sequence[str]) -> str:
    """An FTS5 query matching any of the text's meaningful words (each quoted: no FTS syntax)."""
    words = query_words(text) if isinstance(text, str) else text
    return " OR ".join(f'"{w}"' for w in words)


def _token(kind: str, value: str) -> str:
    """One index token standing for a collection name or document id: a letter, then the value's
    bytes as 3-digit numbers. Digits only after the letter, so the tokenizer keeps it whole and
    Porter stemming (which trims letter endings) leaves it exactly as it is."""
    return kind + "".join(f"{b:03d}" for b in value.encode("utf-8"))


def lexical_table(collection: str) -> str:
    """The name of a collection's full-text table."""
    return f"lexical_{_token('c', collection)}"


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
    precision: str = ""  # the embedder's number format its vectors were made in ("" before it was recorded)


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
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        # Write-ahead log: a question read in one process never waits for another process's write.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS files (
                    collection TEXT NOT NULL, doc_id TEXT NOT NULL, path TEXT NOT NULL,
                    source TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL,
                    content_hash TEXT NOT NULL, pages INTEGER NOT NULL, passages INTEGER NOT NULL,
                    ingested_at REAL NOT NULL, recipe TEXT NOT NULL DEFAULT '',
                    precision TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY (collection, doc_id))"""
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
            if "recipe" not in columns:  # a manifest from before passages recorded their recipe
                self._db.execute("ALTER TABLE files ADD COLUMN recipe TEXT NOT NULL DEFAULT ''")
            if "precision" not in columns:  # nor the precision of their vectors
                self._db.execute("ALTER TABLE files ADD COLUMN precision TEXT NOT NULL DEFAULT ''")
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
            # Raised by every write of a collection; readers compare it with what they last saw.
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS generations (
                    collection TEXT PRIMARY KEY, generation INTEGER NOT NULL)"""
            )
            # This manifest's identity: the Chroma collections it writes carry it, so that another
            # host's manifest (another app host on a shared Chroma server) can tell them apart.
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))
            self.store_id = self._db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0]
        self._tables: set[str] = set()

    def generation(self, collection: str) -> int:
        """How many writes the collection has seen (0: none yet)."""
        with self._lock:
            row = self._db.execute("SELECT generation FROM generations WHERE collection = ?", (collection,)).fetchone()
        return row[0] if row else 0

    def _advance(self, collection: str) -> None:
        # Inside the caller's transaction, under its lock.
        self._db.execute(
            "INSERT INTO generations (collection, generation) VALUES (?, 1) "
            "ON CONFLICT (collection) DO UPDATE SET generation = generation + 1",
            (collection,),
        )

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
                "SELECT doc_id, path, source, title, kind, content_hash, pages, passages, ingested_at, recipe, precision "
                "FROM files WHERE collection = ? AND doc_id = ?",
                (collection, doc_id),
            ).fetchone()
        return DocumentRecord(*row) if row else None

    def all(self, collection: str) -> list[DocumentRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, path, source, title, kind, content_hash, pages, passages, ingested_at, recipe, precision "
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
            self._advance(collection)

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
            self._advance(collection)
            self._db.execute(
                "INSERT OR REPLACE INTO files (collection, doc_id, path, source, title, kind, content_hash, "
                "pages, passages, ingested_at, recipe, precision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection, record.doc_id, record.path, record.source, record.title, record.kind,
                 record.content_hash, record.pages, record.passages, record.ingested_at, record.recipe,
                 record.precision),
            )

    def delete(self, collection: str, doc_id: str | None = None) -> None:
        """Forget a file (or every file of the collection) and its passages' index entries; its
        write is finished."""
        with self._lock, self._db:
            self._db.execute(
                "DELETE FROM unfinished WHERE collection = ? AND doc_id = ?", (collection, doc_id or ALL_DOCUMENTS)
            )
            self._unindex(collection, doc_id)
            self._advance(collection)
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
                if is_word(word):
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
            self._advance(collection)

    def collections(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT collection FROM files ORDER BY 1")]
