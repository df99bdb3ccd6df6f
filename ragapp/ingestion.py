"""Ingest files and folders into a store: discover, load (in sandboxed workers), split, embed,
store; incremental, crash-safe, one writer at a time."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from ragapp import loaders, ocr
from ragapp.documents import Document, document_id
from ragapp.embedder import Embedder, precision_of
from ragapp.sandbox import DEFAULT_LOADER, Sandbox
from ragapp.splitter import recipe, split
from ragapp.store import DocumentRecord, Store

ADDED, UPDATED, UNCHANGED, FAILED, SKIPPED, REMOVED = "added", "updated", "unchanged", "failed", "skipped", "removed"
MOVED = "moved"
OUTCOMES = (ADDED, UPDATED, UNCHANGED, MOVED, FAILED, SKIPPED, REMOVED)
# Counted in the summary line only when there are some.
_WHEN_ANY = (MOVED, REMOVED)


class UsageError(ValueError):
    """The request itself is wrong (a path that does not exist); nothing was done."""


@dataclass(frozen=True)
class FileOutcome:
    """How one file ended: stored (added/updated), unchanged, failed, skipped or removed."""

    path: str
    source: str
    status: str
    passages: int = 0
    reason: str = ""
    ocr_pages: int = 0  # of a stored file: pages read by OCR

    def describe(self) -> str:
        """What became of the file, in words: the same in the CLI and the app."""
        passages = f"{self.passages} passage{'' if self.passages == 1 else 's'}"
        ocr = f"; OCR, {self.ocr_pages} page{'' if self.ocr_pages == 1 else 's'}" if self.ocr_pages else ""
        return {
            ADDED: f"stored, {passages} (new{ocr})",
            UPDATED: f"stored, {passages} (changed{ocr})",
            UNCHANGED: f"unchanged, {passages}",
            MOVED: f"moved, {passages} kept ({self.reason})",
            REMOVED: f"removed, {passages} ({self.reason})",
        }.get(self.status, f"{self.status}: {self.reason}")


@dataclass(frozen=True)
class Progress:
    """Where an ingest stands, reported after each file."""

    files_done: int
    files_total: int
    passages: int
    current: str
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        if self.files_done == 0:
            return None
        return self.elapsed_s / self.files_done * (self.files_total - self.files_done)


@dataclass
class IngestReport:
    """Every file's outcome, and the totals the summary line shows."""

    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def passages(self) -> int:
        """Passages written in this run."""
        return sum(o.passages for o in self.outcomes if o.status in (ADDED, UPDATED))

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in OUTCOMES if s not in _WHEN_ANY or self.count(s))
        return f"{counts} files; {self.passages} passages; {self.seconds:.1f} s"

    def to_json(self) -> dict:
        return {
            **{s: self.count(s) for s in OUTCOMES},
            "passages": self.passages,
            "seconds": round(self.seconds, 3),
            "files": [o.__dict__ for o in self.outcomes],
        }


def discover(paths: Iterable[Path], missing_ok: bool = False) -> list[tuple[Path, Path]]:
    """(file, root) for every file under the given paths; names starting with '.' are ignored.
    missing_ok: a path that does not exist holds no files (pruning a folder that is gone)."""
    found: list[tuple[Path, Path]] = []
    for given in paths:
        given = Path(given).expanduser()
        if not given.exists():
            if missing_ok:
                continue
            raise UsageError(f"no such file or folder: {given}")
        if given.is_file():
            found.append((given.resolve(), given.resolve().parent))
            continue
        root = given.resolve()
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            found.append((path, root))
    unique: dict[Path, tuple[Path, Path]] = {}
    for path, root in found:
        unique.setdefault(path, (path, root))
    return list(unique.values())


@dataclass(frozen=True)
class Limits:
    """What reading one file may cost: its size on disk, and the time and memory of its worker."""

    max_file_mb: float = 200.0
    parse_timeout_s: float = 120.0
    parse_memory_mb: int = 2048
    workers: int = 0  # 0: one per core
    loader: str = DEFAULT_LOADER  # "module:function" the workers call; tests name a hostile one
    ocr: bool = True  # read pages without text, and images, by OCR (ragapp.ocr)
    ocr_languages: str = "eng"

    def attempt(self, cut: str) -> str:
        """What a remembered failure depends on: more time or memory, a newer reader, or OCR
        switched on or installed since, deserves another try."""
        ocr_state = f"ocr-{self.ocr_languages}" if self.ocr and ocr.installed() else "no-ocr"
        return f"{cut};{self.parse_timeout_s:g}s;{self.parse_memory_mb}MB;reader-v{loaders.READER_VERSION};{ocr_state}"

    def worker_env(self) -> dict[str, str]:
        """What the readers learn of the settings, through their environment (see ragapp.ocr)."""
        return {"RAGAPP_OCR": "1" if self.ocr else "0", "RAGAPP_OCR_LANGUAGES": self.ocr_languages,
                "RAGAPP_READ_TIMEOUT_S": f"{self.parse_timeout_s:g}"}


def ingest(
    paths: Sequence[Path],
    store: Store,
    embedder: Embedder,
    chunk_size: int,
    chunk_overlap: int,
    prune: bool = False,
    reset: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    limits: Limits = Limits(),
    embed_batch: int = 64,
    wait_s: float = 300.0,
    on_wait: Callable[[str], None] | None = None,
    names: Mapping[str, str] | None = None,
    prune_gone: bool = False,
) -> IngestReport:
    """Bring the store in line with the given files and folders; one outcome per file.

    names maps a file's absolute path to the name it is known by (an upload, stored under a
    generated name, keeps the name it was uploaded with); others are named by their path under
    the folder given.

    Holds the store's write lock throughout (waiting up to wait_s for another writer), and first
    undoes whatever a crashed earlier run left half-written.

    prune_gone (with prune): a given folder that no longer exists is pruned whole, for `ingest
    --prune OLD` after the folder was moved away (its files ingested at the new place have moved
    with it already). Never for a watch: a share unmounted for a minute is not a folder emptied."""
    started = time.perf_counter()
    files = discover(paths, missing_ok=prune and prune_gone)
    with store.lock.hold(wait_s, on_wait):
        store.recover()
        if reset:
            store.reset()
        run = _Run(files, store, embedder, recipe(chunk_size, chunk_overlap), chunk_size, chunk_overlap, limits, on_progress, started)
        run.names = dict(names or {})
        report = run.go(embed_batch)
        if prune:
            report.outcomes.extend(_prune(paths, {str(p) for p, _ in files}, store))
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Waiting:
    """A file read and cut into passages, waiting for its vectors."""

    index: int
    document: object
    passages: list
    previous: DocumentRecord | None


class _Run:
    """One ingest: files that need no reading are settled at once; the rest are read by the
    sandbox's workers while this process embeds and stores the ones already read."""

    def __init__(self, files, store: Store, embedder: Embedder, cut: str, chunk_size: int, chunk_overlap: int,
                 limits: Limits, on_progress, started: float) -> None:
        self.files, self.store, self.embedder, self.cut = files, store, embedder, cut
        self._precision = precision_of(embedder)
        self.chunk_size, self.chunk_overlap, self.limits = chunk_size, chunk_overlap, limits
        self.on_progress, self.started = on_progress, started
        self.outcomes: dict[int, FileOutcome] = {}
        self.passages_stored = 0
        self.names: dict[str, str] = {}
        self._stored_by_hash: dict[str, list[DocumentRecord]] | None = None

    def go(self, embed_batch: int) -> IngestReport:
        self._tell("")  # show the bar at once: loading the embedding model can take seconds
        to_read: dict[str, tuple[int, DocumentRecord | None, str]] = {}
        for index, (path, root) in enumerate(self.files):
            outcome, previous, digest = self._triage(path, root)
            if outcome is not None:
                self._settle(index, outcome)
            else:
                to_read[str(path)] = (index, previous, digest)
        sandbox = Sandbox(
            self.limits.workers or os.cpu_count() or 1,
            self.limits.parse_timeout_s,
            self.limits.parse_memory_mb,
            self.limits.loader,
            env=self.limits.worker_env(),
        )
        waiting: list[_Waiting] = []
        jobs = [(path, root) for path, root in self.files if str(path) in to_read]
        for parsed in sandbox.parse(jobs):
            index, previous, digest = to_read[str(parsed.path)]
            source = self._source(index)
            if parsed.document is None:
                if parsed.files_fault:
                    self.store.remember_failure(
                        document_id(str(parsed.path)), digest, self.limits.attempt(self.cut), parsed.reason, source
                    )
                self._settle(index, FileOutcome(str(parsed.path), source, FAILED, reason=parsed.reason))
                continue
            document = self._named(parsed.document, source)
            try:
                passages = split(document, self.embedder.count_tokens, self.chunk_size, self.chunk_overlap)
            except Exception as exc:  # one bad file must not stop the batch
                self._settle(index, FileOutcome(str(parsed.path), source, FAILED, reason=f"cannot cut into passages ({exc})"))
                continue
            waiting.append(_Waiting(index, document, passages, previous))
            # Several small files share one embedding call: the model is fastest on full batches.
            if sum(len(w.passages) for w in waiting) >= embed_batch:
                self._embed_and_store(waiting)
                waiting = []
        self._embed_and_store(waiting)
        report = IngestReport()
        report.outcomes = [self.outcomes[i] for i in sorted(self.outcomes)]
        return report

    def _source(self, index: int) -> str:
        path, root = self.files[index]
        return self.names.get(str(path)) or path.relative_to(root).as_posix()

    def _named(self, document: Document, source: str) -> Document:
        """The document under the name it is known by; a title made from a generated file name
        is made from that name instead."""
        if source == document.source:
            return document
        title = document.title
        if title == loaders.title_from_name(Path(document.path)):
            title = loaders.title_from_name(Path(source))
        return dataclasses.replace(document, source=source, title=title)

    def _triage(self, path: Path, root: Path) -> tuple[FileOutcome | None, DocumentRecord | None, str]:
        """The outcome of a file that needs no reading (unsupported, too large, unreadable,
        unchanged, failed before as it is now); else None, its manifest record and hash."""
        source = self.names.get(str(path)) or path.relative_to(root).as_posix()
        if not loaders.is_supported(path):
            return FileOutcome(str(path), source, SKIPPED, reason=f"unsupported file type '{path.suffix or path.name}'"), None, ""
        try:
            size = path.stat().st_size
            if size > self.limits.max_file_mb * 1_000_000:
                reason = f"over the size limit ({size / 1_000_000:.1f} MB; the limit is {self.limits.max_file_mb:g} MB)"
                return FileOutcome(str(path), source, SKIPPED, reason=reason), None, ""
            digest = file_hash(path)
        except OSError as exc:
            return FileOutcome(str(path), source, FAILED, reason=f"cannot read file: {exc.strerror or exc}"), None, ""
        doc_id = document_id(str(path))
        previous = self.store.record(doc_id)
        if previous and previous.content_hash == digest and previous.source == source and previous.recipe == self.cut:
            return FileOutcome(str(path), source, UNCHANGED, passages=previous.passages), previous, digest
        if previous is None:
            moved = self._moved_here(str(path), source, digest)
            if moved is not None:
                return moved, None, digest
        failed_before = self.store.failure(doc_id, digest, self.limits.attempt(self.cut))
        if failed_before:
            return FileOutcome(str(path), source, FAILED, reason=failed_before), previous, digest
        return None, previous, digest

    def _moved_here(self, path: str, source: str, digest: str) -> FileOutcome | None:
        """A file new at this path that is a stored file whose folder moved or was renamed: the
        same content and the same path under the folder given (or one under the other, when a
        folder above or below is given now), and nothing left at its old path. It keeps what is
        stored, under its new path; a file copied (both still there) is a file of its own."""
        if self._stored_by_hash is None:
            self._stored_by_hash = {}
            for record in self.store.documents():
                self._stored_by_hash.setdefault(record.content_hash, []).append(record)
        for record in self._stored_by_hash.get(digest, []):
            same_place = record.source == source or source.endswith("/" + record.source) or record.source.endswith("/" + source)
            if not same_place or record.recipe != self.cut or Path(record.path).exists():
                continue
            self._stored_by_hash[digest].remove(record)  # two moved copies do not claim one record
            try:
                moved = self.store.move_document(record, path, source)
            except Exception:  # then it is read and stored afresh, as a new file would be
                return None
            return FileOutcome(path, source, MOVED, passages=moved.passages, reason=f"from {record.path}")
        return None

    def _embed_and_store(self, waiting: list[_Waiting]) -> None:
        if not waiting:
            return
        try:
            vectors = self.embedder.embed_batch([p.text for w in waiting for p in w.passages])
        except Exception:
            vectors = None  # find out which file it was: embed them one by one
        if vectors is not None:
            at, files = 0, []
            for item in waiting:
                files.append((item.document, item.passages, vectors[at : at + len(item.passages)]))
                at += len(item.passages)
            try:  # all at once: a Chroma call costs as much again for each file stored alone
                self.store.replace_documents(files, self.cut, self._precision)
            except Exception:
                pass  # find out which file it was: store them one by one, below
            else:
                for item in waiting:
                    self._stored(item)
                return
        at = 0
        for item in waiting:
            path, source = item.document.path, self._source(item.index)
            try:
                if vectors is None:
                    mine = self.embedder.embed_batch([p.text for p in item.passages])
                else:
                    mine = vectors[at : at + len(item.passages)]
                    at += len(item.passages)
                self.store.replace_document(item.document, item.passages, mine, self.cut, self._precision)
            except Exception as exc:  # one bad file must not stop the batch
                self._settle(item.index, FileOutcome(path, source, FAILED, reason=f"{type(exc).__name__}: {exc}"))
                continue
            self._stored(item)

    def _stored(self, item: _Waiting) -> None:
        status = UPDATED if item.previous else ADDED
        self._settle(item.index, FileOutcome(item.document.path, self._source(item.index), status,
                                             passages=len(item.passages), ocr_pages=item.document.ocr_pages))

    def _settle(self, index: int, outcome: FileOutcome) -> None:
        self.outcomes[index] = outcome
        if outcome.status in (ADDED, UPDATED):
            self.passages_stored += outcome.passages
        self._tell(outcome.source)

    def _tell(self, current: str) -> None:
        if self.on_progress:
            self.on_progress(
                Progress(len(self.outcomes), len(self.files), self.passages_stored, current, time.perf_counter() - self.started)
            )


def file_hash(path: Path) -> str:
    """The file's content hash (as documents.content_hash), read in pieces: files may be large."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _prune(paths: Sequence[Path], present: set[str], store: Store) -> list[FileOutcome]:
    """Remove the files recorded under the given folders that are no longer there."""
    roots = [Path(p).expanduser().resolve() for p in paths]
    removed = []
    for record in store.documents():
        recorded = Path(record.path)
        under = any(recorded == root or recorded.is_relative_to(root) for root in roots)
        if under and record.path not in present:
            count = store.remove_document(record.doc_id)
            gone = next((root for root in roots if not root.exists() and Path(record.path).is_relative_to(root)), None)
            reason = f"folder {gone} is gone" if gone else "file is gone"
            removed.append(FileOutcome(record.path, record.source, REMOVED, passages=count, reason=reason))
    present_ids = {document_id(p) for p in present}
    for failure in store.failures():
        if failure.doc_id not in present_ids:
            store.forget_failure(failure.doc_id)
    return removed
