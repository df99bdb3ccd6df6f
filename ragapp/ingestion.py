"""Ingest files and folders into a store: discover, load, split, embed, store; incremental."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ragapp import loaders
from ragapp.documents import content_hash, document_id
from ragapp.embedder import Embedder
from ragapp.splitter import recipe, split
from ragapp.store import Store

ADDED, UPDATED, UNCHANGED, FAILED, SKIPPED, REMOVED = "added", "updated", "unchanged", "failed", "skipped", "removed"
OUTCOMES = (ADDED, UPDATED, UNCHANGED, FAILED, SKIPPED, REMOVED)


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
        counts = ", ".join(f"{self.count(s)} {s}" for s in OUTCOMES if s != REMOVED or self.count(s))
        return f"{counts} files; {self.passages} passages; {self.seconds:.1f} s"

    def to_json(self) -> dict:
        return {
            **{s: self.count(s) for s in OUTCOMES},
            "passages": self.passages,
            "seconds": round(self.seconds, 3),
            "files": [o.__dict__ for o in self.outcomes],
        }


def discover(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(file, root) for every file under the given paths; names starting with '.' are ignored."""
    found: list[tuple[Path, Path]] = []
    for given in paths:
        given = Path(given).expanduser()
        if not given.exists():
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


def ingest(
    paths: Sequence[Path],
    store: Store,
    embedder: Embedder,
    chunk_size: int,
    chunk_overlap: int,
    prune: bool = False,
    reset: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> IngestReport:
    """Bring the store in line with the given files and folders; one outcome per file."""
    started = time.perf_counter()
    files = discover(paths)
    if reset:
        store.reset()
    report = IngestReport()
    passages_total = 0
    if on_progress:  # show the bar at once: loading the embedding model can take seconds
        on_progress(Progress(0, len(files), 0, "", time.perf_counter() - started))
    for done, (path, root) in enumerate(files, start=1):
        outcome = _ingest_file(path, root, store, embedder, chunk_size, chunk_overlap)
        report.outcomes.append(outcome)
        if outcome.status in (ADDED, UPDATED):
            passages_total += outcome.passages
        if on_progress:
            on_progress(Progress(done, len(files), passages_total, outcome.source, time.perf_counter() - started))
    if prune:
        report.outcomes.extend(_prune(paths, {str(p) for p, _ in files}, store))
    report.seconds = time.perf_counter() - started
    return report


def _ingest_file(path: Path, root: Path, store: Store, embedder: Embedder, chunk_size: int, chunk_overlap: int) -> FileOutcome:
    source = path.relative_to(root).as_posix()
    if not loaders.is_supported(path):
        return FileOutcome(str(path), source, SKIPPED, reason=f"unsupported file type '{path.suffix or path.name}'")
    try:
        digest = content_hash(path.read_bytes())
    except OSError as exc:
        return FileOutcome(str(path), source, FAILED, reason=f"cannot read file: {exc.strerror or exc}")
    previous = store.record(document_id(str(path)))
    cut = recipe(chunk_size, chunk_overlap)
    if previous and previous.content_hash == digest and previous.source == source and previous.recipe == cut:
        return FileOutcome(str(path), source, UNCHANGED, passages=previous.passages)
    try:
        document = loaders.load(path, root)
        passages = split(document, embedder.count_tokens, chunk_size, chunk_overlap)
        vectors = embedder.embed_batch([p.text for p in passages])
        store.replace_document(document, passages, vectors, cut)
    except loaders.LoadError as exc:
        return FileOutcome(str(path), source, FAILED, reason=str(exc))
    except Exception as exc:  # one bad file must not stop the batch
        return FileOutcome(str(path), source, FAILED, reason=f"{type(exc).__name__}: {exc}")
    return FileOutcome(str(path), source, UPDATED if previous else ADDED, passages=len(passages))


def _prune(paths: Sequence[Path], present: set[str], store: Store) -> list[FileOutcome]:
    """Remove the files recorded under the given folders that are no longer there."""
    roots = [Path(p).expanduser().resolve() for p in paths]
    removed = []
    for record in store.documents():
        recorded = Path(record.path)
        under = any(recorded == root or recorded.is_relative_to(root) for root in roots)
        if under and record.path not in present:
            count = store.remove_document(record.doc_id)
            removed.append(FileOutcome(record.path, record.source, REMOVED, passages=count, reason="file is gone"))
    return removed
