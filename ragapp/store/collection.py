"""One collection of passages: its vectors in Chroma, its files and word index in the manifest.

The manifest and the word index are written in one SQLite transaction, after Chroma. Before Chroma
is touched for a file, the manifest notes the write as unfinished (a journal row, committed); the
transaction that records the file clears it. A crash at any moment leaves at most the files noted
unfinished out of step, and `Store.recover` (run before every write) removes whatever they left in
Chroma and the index, so the next run redoes them and the store ends exactly as a clean run leaves it.

One writer at a time: writes hold `WriteLock`. Readers never wait for it: they read Chroma through
its one owning process (ragapp/store/chroma.py) and the manifest through SQLite, and a passage that
is written or removed while a question is answered is simply found or not.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ragapp.documents import Document, Hit, Passage, document_id, passage_id
from ragapp.store.chroma import LOCAL, ChromaConnection, ChromaPlace, connect
from ragapp.store.errors import StoreError, StoreUnavailable
from ragapp.store.filters import Filter, Scope
from ragapp.store.lock import WriteLock
from ragapp.store.manifest import ALL_DOCUMENTS, MANIFEST_FILE, DocumentRecord, Failure, Manifest

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")


def check_collection_name(name: str) -> str:
    """Collection names: 3-63 letters, digits, '.', '_' or '-', starting and ending alphanumeric."""
    if not COLLECTION_NAME.match(name or ""):
        raise StoreError(
            f"invalid collection name {name!r}: use 3-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


class Store:
    """One collection of passages: Chroma for vectors, the manifest for files."""

    def __init__(self, chroma: ChromaConnection, manifest: Manifest, collection: str, embedder_name: str, lock: WriteLock) -> None:
        self.name = check_collection_name(collection)
        self.lock = lock
        self.chroma = chroma
        self._manifest = manifest
        self._embedder_name = embedder_name
        self._chroma_collection = None
        self._open_lock = threading.Lock()
        self._lexical_checked = False
        self._seen_generation = manifest.generation(self.name)

    @property
    def _client(self) -> Any:
        return self.chroma.client()

    @property
    def _collection(self) -> Any:
        # Opened on first use: a re-run over unchanged files only reads the manifest.
        with self._open_lock:
            if self._chroma_collection is None:
                with self.chroma.translate_errors():
                    self._chroma_collection = self._open_collection()
            return self._chroma_collection

    def _open_collection(self):
        from chromadb.errors import NotFoundError

        try:
            collection = self._client.get_collection(self.name, embedding_function=None)
        except NotFoundError:
            recorded = self._manifest.passage_count(self.name)
            if recorded and ALL_DOCUMENTS not in self._manifest.unfinished(self.name):
                # Not a reset under way: the manifest claims vectors that this Chroma never had.
                raise StoreError(
                    f"the manifest of {self._manifest.path.parent} lists {recorded} passages of the collection "
                    f"'{self.name}', but {self.chroma.place.describe()} has no such collection (was "
                    "RAGAPP_CHROMA_URL changed, or the Chroma data replaced?): store them there again with "
                    f"`ingest --reset --collection {self.name} FOLDER...`"
                ) from None
            collection = self._client.get_or_create_collection(
                name=self.name,
                metadata={"hnsw:space": "cosine", "embedder": self._embedder_name, "manifest": self._manifest.store_id},
                embedding_function=None,
            )
        built_with = (collection.metadata or {}).get("embedder")
        if built_with and built_with != self._embedder_name:
            raise StoreError(
                f"collection '{self.name}' was built with the embedding model '{built_with}', "
                f"not '{self._embedder_name}': re-ingest it with --reset"
            )
        kept_by = (collection.metadata or {}).get("manifest")
        if kept_by and kept_by != self._manifest.store_id:
            # Its files are recorded in another manifest (another app host on a shared Chroma server):
            # this host's word index and file list know nothing of them, and a write from here would
            # store its files a second time beside the other host's.
            raise StoreError(
                f"the collection '{self.name}' in {self.chroma.place.describe()} is kept by another manifest "
                f"(store {kept_by[:8]}; this host's is {self._manifest.store_id[:8]}): this host holds no record of "
                "its files, so it neither writes to it nor answers from it. Use the app host that keeps it "
                "(its RAGAPP_STORE_DIR), or another collection name."
            )
        return collection

    def _chroma(self, operation: Callable[[Any], Any]) -> Any:
        """Run one Chroma operation on the collection, reopening it once if another process reset it
        since it was opened; an unreachable server becomes StoreUnavailable."""
        from chromadb.errors import NotFoundError

        for attempt in (1, 2):
            try:
                with self.chroma.translate_errors():
                    try:
                        return operation(self._collection)
                    except NotFoundError:
                        self._forget_collection()
                        return operation(self._collection)
            except StoreUnavailable:
                self._forget_collection()
                # The local server is ours to start again (it may have been killed); a team's is not.
                if attempt == 2 or self.chroma.place.mode != LOCAL:
                    raise

    def _forget_collection(self) -> None:
        with self._open_lock:
            self._chroma_collection = None

    def refresh(self) -> None:
        """Catch up with other processes' writes before a question: what this process remembers
        of the collection (its Chroma handle, the word index check) is dropped when the collection
        has been written since."""
        generation = self._manifest.generation(self.name)
        if generation != self._seen_generation:
            self._seen_generation = generation
            self._lexical_checked = False
            self._forget_collection()

    def describe(self) -> str:
        """Where this collection's vectors are, in words."""
        return self.chroma.place.describe()

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
        self, document: Document, passages: Sequence[Passage], vectors: Sequence[list[float]], recipe: str = "",
        precision: str = "",
    ) -> None:
        """Store a file's passages, drop the ones of its previous version, then record it.

        Callers hold the write lock."""
        self.replace_documents([(document, passages, vectors)], recipe, precision)

    def replace_documents(
        self, files: Sequence[tuple[Document, Sequence[Passage], Sequence[list[float]]]], recipe: str = "",
        precision: str = "",
    ) -> None:
        """replace_document for several files (document, passages, vectors) in a few Chroma calls
        for them all: each call has a cost of its own, and small files are many (storing 812
        passages took 0.54-0.62 s in calls of 51, 0.36-0.46 s in calls of 203). A crash midway
        leaves every one of them unfinished, and the next writer redoes them.

        Callers hold the write lock."""
        if not files:
            return
        for document, _, _ in files:
            self._manifest.begin(self.name, document.doc_id)
        passages = [p for _, file_passages, _ in files for p in file_passages]
        old_ids = set(self._ids_of_all([document.doc_id for document, _, _ in files]))
        self._upsert(passages, [v for _, _, file_vectors in files for v in file_vectors])
        stale = sorted(old_ids - {p.id for p in passages})
        if stale:
            self._chroma(lambda c: c.delete(ids=stale))
        # The manifest is written last: a crash before this line makes the next run redo the files.
        for document, file_passages, _ in files:
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
                    passages=len(file_passages),
                    ingested_at=time.time(),
                    recipe=recipe,
                    precision=precision,
                ),
                file_passages,
            )

    def _upsert(self, passages: Sequence[Passage], vectors: Sequence[list[float]]) -> None:
        with self.chroma.translate_errors():
            batch = max(1, int(self._client.get_max_batch_size()))
        for at in range(0, len(passages), batch):
            part = passages[at : at + batch]
            self._chroma(
                lambda c: c.upsert(
                    ids=[p.id for p in part],
                    metadatas=[p.metadata() for p in part],  # the text with them (see Passage.metadata)
                    embeddings=[list(v) for v in vectors[at : at + batch]],
                )
            )

    def move_document(self, record: DocumentRecord, path: str, source: str) -> DocumentRecord:
        """Keep a stored file at its new place (its folder was moved or renamed): its passages
        and their vectors are copied under the new identity, not read or embedded again, then
        the old identity goes. A crash in between leaves the move unfinished, and the next
        ingest stores the file afresh. Callers hold the write lock."""
        new_id = document_id(path)
        old = self.passages_of(record.doc_id)
        vectors = self.vectors([p.id for p in old])
        moved = [
            dataclasses.replace(
                p, id=passage_id(new_id, p.content_hash, p.page, p.start, p.text), doc_id=new_id, path=path, source=source
            )
            for p in old
        ]
        self._manifest.begin(self.name, new_id)
        self._upsert(moved, [vectors[p.id] for p in old])
        moved_record = dataclasses.replace(record, doc_id=new_id, path=path, source=source)
        self._manifest.put(self.name, moved_record, moved)
        self.remove_document(record.doc_id)
        return moved_record

    def remove_document(self, doc_id: str) -> int:
        """Delete a file's passages and its manifest entry; returns how many passages went.

        Callers hold the write lock."""
        self._manifest.begin(self.name, doc_id)
        ids = self._ids_of(doc_id)
        if ids:
            self._chroma(lambda c: c.delete(ids=ids))
        self._manifest.delete(self.name, doc_id)
        return len(ids)

    def reset(self) -> None:
        """Empty the collection and forget its files. Callers hold the write lock."""
        self._manifest.begin(self.name, ALL_DOCUMENTS)
        with self.chroma.translate_errors():
            existing = {c.name if hasattr(c, "name") else c for c in self._client.list_collections()}
            if self.name in existing:
                self._client.delete_collection(self.name)
        self._manifest.delete(self.name)
        self._forget_collection()

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
        return self._ids_of_all([doc_id])

    def _ids_of_all(self, doc_ids: Sequence[str]) -> list[str]:
        where = {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}
        return list(self._chroma(lambda c: c.get(where=where, include=[]))["ids"])

    # --- passages ----------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._chroma(lambda c: c.count()))

    def passages_of(self, doc_id: str) -> list[Passage]:
        got = self._chroma(lambda c: c.get(where={"doc_id": doc_id}, include=["documents", "metadatas"]))
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
        got = self._chroma(lambda c: c.get(ids=list(ids), include=["embeddings"]))
        return {pid: [float(x) for x in vector] for pid, vector in zip(got["ids"], got["embeddings"])}

    def hits(self, ids: Sequence[str], vector: Sequence[float]) -> dict[str, Hit]:
        """The passages with these ids, each scored by cosine similarity to the vector."""
        if not ids:
            return {}
        got = self._chroma(lambda c: c.get(ids=list(ids), include=["documents", "metadatas", "embeddings"]))
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
        result = self._chroma(
            lambda c: c.query(
                query_embeddings=[list(vector)],
                n_results=k,
                where=scope.chroma_where() if scope else None,
                include=["documents", "metadatas", "distances"],
            )
        )
        hits = []
        for pid, text, meta, distance in zip(
            result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
        ):
            hits.append(Hit(Passage.from_record(pid, text, meta), 1.0 - float(distance)))
        return hits


def open_store(store_dir: Path, collection: str, embedder_name: str, chroma: ChromaPlace | None = None) -> Store:
    """Open (creating if needed) one collection of the store under store_dir, its vectors where
    `chroma` says (by default the store folder's local Chroma server)."""
    store_dir = Path(store_dir)
    place = chroma or ChromaPlace(LOCAL, store_dir)
    return Store(connect(place), _manifest_for(store_dir), collection, embedder_name, WriteLock(store_dir))


# One manifest connection per store folder and process, shared by its collections and threads.
_manifests: dict[str, Manifest] = {}
_manifests_lock = threading.Lock()


def _manifest_for(store_dir: Path) -> Manifest:
    key = str(Path(store_dir).resolve())
    with _manifests_lock:
        if key not in _manifests:
            _manifests[key] = Manifest(Path(key) / MANIFEST_FILE)
        return _manifests[key]
