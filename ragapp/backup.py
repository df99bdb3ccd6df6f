"""`ragapp backup DEST` and `ragapp restore SRC`: a consistent copy of a store, taken while the app runs.

A backup holds the store folder (Chroma's files, the manifest and word index, any other file kept
there), the accounts and history file (RAGAPP_APP_DB) and the uploaded originals (RAGAPP_UPLOAD_DIR).
Not the files that only say which process runs now (the locks, the local Chroma server's address
and log, the model lending file): they mean nothing to another process or another day.

Consistency: the copy is taken holding the store's write lock, the one every ingest, upload and
delete holds, so no write is half done while the files are read (an ingest under way is waited
for). Readers go on answering meanwhile. SQLite files (Chroma's own, the manifest, the accounts and
history) are copied with SQLite's backup API, which reads one consistent state of the database
including what still sits in its write-ahead log; a plain file copy of a database in use can miss
that or catch a page half written.

The backup is written into DEST/.incomplete and moved into DEST when complete, its description
(backup.json: what, when, versions, each file's size and sha256) last: a folder without
backup.json is never taken for a backup. Restore checks every file against it before touching the
store, and never deletes a store: one that is there is moved aside (with --force) and kept.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import sqlite3
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

import ragapp
from ragapp.ingestion import file_hash
from ragapp.lending import FILE as LENDING_FILE, lender
from ragapp.settings import Settings
from ragapp.store.chroma import OWNER_FILE, SERVER_FILE, SERVER_LOG, START_FILE, USERS_FILE, chroma_version, stop_local_server
from ragapp.store.lock import LOCK_FILE, WriteLock
from ragapp.store.manifest import MANIFEST_FILE

BACKUP_FILE = "backup.json"
FORMAT = "ragapp-backup"
FORMAT_VERSION = 1
STAGING = ".incomplete"  # inside DEST while the backup is written
STORE, UPLOADS, APP_DB = "store", "uploads", "app.sqlite"  # the parts of a backup, as folder/file names in it

# Files of the store folder that describe the processes running now, not the store.
RUNTIME_FILES = {
    LOCK_FILE, OWNER_FILE, USERS_FILE, START_FILE, SERVER_FILE, SERVER_FILE + ".part", SERVER_LOG,
    LENDING_FILE, Path(LENDING_FILE).with_suffix(".tmp").name,
}
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")  # read through the database itself by the backup API
OWNER_WAIT_S = 30.0  # a local Chroma server asked to stop takes a moment to let go of the folder


class BackupError(Exception):
    """A backup or restore that cannot be done as asked; the message says why and what to do."""


@dataclass
class BackupReport:
    dest: Path
    files: int
    bytes: int
    collections: dict[str, dict[str, int]]
    seconds: float


@dataclass
class RestoreReport:
    store_dir: Path
    files: int
    collections: dict[str, dict[str, int]]
    taken_at: str
    kept_aside: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- backup --------------------------------------------------------------------------------------


def backup(settings: Settings, dest: Path, on_wait: Callable[[str], None] | None = None) -> BackupReport:
    """Copy the store, the accounts and history file and the uploads into dest (new or empty)."""
    started = time.monotonic()
    _require_vectors_in_store_folder(settings, "back up")
    store_dir = settings.store_dir
    if not (store_dir / MANIFEST_FILE).is_file() and not (store_dir / "chroma.sqlite3").is_file():
        raise BackupError(f"there is no store in {store_dir} to back up (set RAGAPP_STORE_DIR to the store folder)")
    dest = Path(dest)
    _check_dest(dest, settings)
    staging = dest / STAGING
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise BackupError(f"cannot write the backup to {dest}: {exc.strerror or exc}") from None
    moved: list[Path] = []
    try:
        with WriteLock(store_dir).hold(settings.write_wait_s, on_wait, what="ragapp backup"):
            skip = {settings.app_db_path, settings.upload_dir}
            _copy_tree(store_dir, staging / STORE, skip=skip, top_level_skip=RUNTIME_FILES)
            if settings.app_db_path.is_file():
                _copy_file(settings.app_db_path, staging / APP_DB)
            if settings.upload_dir.is_dir():
                _copy_tree(settings.upload_dir, staging / UPLOADS)
        # The checksums are of the copies, read after the lock is given back: writers wait no longer
        # than the copy takes.
        files = _describe_files(staging)
        description = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "taken_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "ragapp": ragapp.__version__,
            "chromadb": chroma_version(),
            "source": {
                "store_dir": str(store_dir.resolve()),
                "upload_dir": str(settings.upload_dir.resolve()),
                "app_db": str(settings.app_db_path.resolve()),
            },
            "collections": _collections(staging / STORE / MANIFEST_FILE),
            "files": files,
        }
        (staging / BACKUP_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False))
        for entry in sorted(staging.iterdir()):
            if entry.name != BACKUP_FILE:
                entry.rename(dest / entry.name)
                moved.append(dest / entry.name)
        # Last: from this rename on, and not before, the folder is a backup.
        (staging / BACKUP_FILE).rename(dest / BACKUP_FILE)
        staging.rmdir()
    except BaseException as exc:
        # dest was new or empty: what is in it now is this backup's, unfinished.
        for path in (staging, *moved):
            _remove(path)
        if isinstance(exc, OSError):
            raise BackupError(f"the backup to {dest} failed, nothing was kept: {_reason(exc)}") from None
        raise
    return BackupReport(
        dest, len(files), sum(f["size"] for f in files), description["collections"], time.monotonic() - started
    )


def _check_dest(dest: Path, settings: Settings) -> None:
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{dest} is a file: give a new or empty folder for the backup")
    try:
        if dest.is_dir() and any(dest.iterdir()):
            raise BackupError(f"{dest} is not empty: give a new or empty folder (a backup never overwrites anything)")
    except PermissionError:
        raise BackupError(f"cannot write the backup to {dest}: permission denied") from None
    resolved = dest.resolve()
    for inside, what in ((settings.store_dir, "store"), (settings.upload_dir, "upload")):
        if resolved.is_relative_to(inside.resolve()):
            raise BackupError(f"{dest} is inside the {what} folder {inside}: put the backup somewhere else")


def _copy_tree(src: Path, dst: Path, skip: set[Path] = frozenset(), top_level_skip: set[str] = frozenset()) -> None:
    skipped = {p.resolve() for p in skip}
    dst.mkdir(parents=True, exist_ok=True)
    for folder, dirs, names in os.walk(src):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in skipped)
        for name in sorted(names):
            path = here / name
            if here == src and name in top_level_skip:
                continue
            if path.resolve() in skipped or _is_sidecar(path) or (name.startswith(".") and name.endswith(".part")):
                continue  # (".upload-*.part" and the like: a file still being written, see ragapp/uploads.py)
            _copy_file(path, dst / path.relative_to(src))


def _is_sidecar(path: Path) -> bool:
    for suffix in SQLITE_SIDECARS:
        if path.name.endswith(suffix) and _is_sqlite(path.with_name(path.name[: -len(suffix)])):
            return True
    return False


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _copy_file(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not _is_sqlite(src):
        shutil.copy2(src, dst)
        return
    source = sqlite3.connect(src, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)  # all pages in one step: one consistent state, even while others write
            # One self-contained file, without a write-ahead log beside it; whatever opens the
            # database again sets the journal mode it uses (ragapp's files: WAL).
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()


def _describe_files(root: Path) -> list[dict]:
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        files.append({"path": path.relative_to(root).as_posix(), "size": path.stat().st_size, "sha256": file_hash(path)})
    return files


def _collections(manifest: Path) -> dict[str, dict[str, int]]:
    """Files and passages of each collection, as the manifest in the backup records them."""
    if not manifest.is_file():
        return {}
    db = sqlite3.connect(manifest)
    try:
        rows = db.execute("SELECT collection, COUNT(*), SUM(passages) FROM files GROUP BY collection").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    return {name: {"files": files, "passages": passages or 0} for name, files, passages in rows}


# --- restore -------------------------------------------------------------------------------------


def verify(src: Path) -> dict:
    """The description of the backup in src, once every file it lists is there as it was written;
    BackupError otherwise."""
    src = Path(src)
    description_file = src / BACKUP_FILE
    if not description_file.is_file():
        unfinished = " (it holds an unfinished backup: the backup was interrupted)" if (src / STAGING).exists() else ""
        raise BackupError(f"{src} is not a ragapp backup: it has no {BACKUP_FILE}{unfinished}")
    try:
        description = json.loads(description_file.read_text())
        files = description["files"]
        if description.get("format") != FORMAT or not isinstance(files, list):
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(f"{src} is not a ragapp backup: its {BACKUP_FILE} cannot be read") from None
    if description.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"the backup in {src} has format version {description.get('format_version')}; this ragapp reads "
            f"version {FORMAT_VERSION} (restore it with the ragapp that took it)"
        )
    for entry in files:
        try:
            relative = _part_path(entry["path"])
            size, sha256 = int(entry["size"]), str(entry["sha256"])
        except (KeyError, TypeError, ValueError):
            raise BackupError(f"{src} is not a ragapp backup: its {BACKUP_FILE} lists a file it cannot name") from None
        path = src / relative
        if not path.is_file():
            raise BackupError(f"the backup in {src} is damaged: {entry['path']} is missing. Nothing was restored.")
        if path.stat().st_size != size or file_hash(path) != sha256:
            raise BackupError(
                f"the backup in {src} is damaged: {entry['path']} has changed since the backup was taken (its "
                "checksum differs). Nothing was restored."
            )
    return description


def _part_path(name: str) -> PurePosixPath:
    """A file's path in a backup: under store/ or uploads/, or the app database; never outside."""
    path = PurePosixPath(name)
    in_part = len(path.parts) > 1 and path.parts[0] in (STORE, UPLOADS)
    if path.is_absolute() or ".." in path.parts or not (in_part or str(path) == APP_DB):
        raise ValueError(name)
    return path


def restore(settings: Settings, src: Path, force: bool = False) -> RestoreReport:
    """Bring the backup in src back as the configured store, accounts file and uploads."""
    _require_vectors_in_store_folder(settings, "restore")
    src = Path(src)
    description = verify(src)
    store_dir, upload_dir, app_db = settings.store_dir, settings.upload_dir, settings.app_db_path
    resolved = src.resolve()
    for inside in (store_dir, upload_dir):
        if resolved.is_relative_to(inside.resolve()):
            raise BackupError(f"the backup {src} is inside {inside}, which the restore replaces: move it elsewhere first")
    app_db_in_store = app_db.resolve().is_relative_to(store_dir.resolve())
    targets = [store_dir, upload_dir] + ([] if app_db_in_store else [app_db])
    occupied = [t for t in targets if t.is_file() or (t.is_dir() and any(t.iterdir()))]
    if occupied and not force:
        listed = " and ".join(str(t) for t in occupied)
        raise BackupError(
            f"{listed} {'is' if len(occupied) == 1 else 'are'} not empty: restore into an empty store folder, or "
            "add --force to replace what is there (it is kept beside, renamed, not deleted)"
        )
    report = RestoreReport(
        store_dir, len(description["files"]), description.get("collections", {}), description.get("taken_at", "?")
    )
    with _store_unused(store_dir) if store_dir in occupied else nullcontext():
        for target in occupied:
            report.kept_aside.append(_move_aside(target))

    # Each part is put together under a temporary name beside its place, then renamed into it: an
    # interrupted restore leaves no half store where the app would look for one.
    places = {STORE: store_dir, UPLOADS: upload_dir}
    staged: dict[Path, Path] = {}
    try:
        for entry in description["files"]:
            relative = _part_path(entry["path"])
            if str(relative) == APP_DB and app_db_in_store:
                part, inner = store_dir, app_db.resolve().relative_to(store_dir.resolve())
            elif str(relative) == APP_DB:
                part, inner = app_db, None  # the part is the file itself
            else:
                part, inner = places[relative.parts[0]], Path(*relative.parts[1:])
            if part not in staged:
                staged[part] = part.with_name(f".{part.name}.restoring-{os.getpid()}")
                _remove(staged[part])
            destination = staged[part] / inner if inner is not None else staged[part]
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / relative, destination)
        for part, stage in staged.items():
            if part.is_dir() and not any(part.iterdir()):
                part.rmdir()  # an empty folder was there: the restored one takes its place
            stage.rename(part)
    except BaseException as exc:
        for stage in staged.values():
            _remove(stage)
        if not isinstance(exc, OSError):
            raise
        kept = f"; what was there is kept in {', '.join(map(str, report.kept_aside))}" if report.kept_aside else ""
        raise BackupError(f"the restore into {store_dir} failed: {_reason(exc)}{kept}") from None

    source = description.get("source", {})
    if description.get("chromadb") != chroma_version():
        report.notes.append(
            f"the backup was taken with chromadb {description.get('chromadb')}, this ragapp has {chroma_version()}: "
            "Chroma converts the store on first use (a newer backup may not open with an older chromadb)"
        )
    if (src / UPLOADS).is_dir() and source.get("upload_dir") not in (None, str(upload_dir.resolve())):
        # Documents are known by their absolute path (ragapp/documents.py), uploads included.
        report.notes.append(
            f"the uploads were kept in {source['upload_dir']} when the backup was taken, and are now in "
            f"{upload_dir}: citations of uploaded documents open their originals only with "
            f"RAGAPP_UPLOAD_DIR={source['upload_dir']} (or upload them again)"
        )
    return report


@contextmanager
def _store_unused(store_dir: Path) -> Iterator[None]:
    """Hold the store's locks while it is moved aside: refused while a writer holds it or a process
    uses it. A local Chroma server that no process uses any more (it waits out its idle time before
    stopping by itself) is stopped."""
    with ExitStack() as held:
        write = _lock_within(store_dir / LOCK_FILE, 1.0)
        if write is None:
            raise BackupError(f"{WriteLock(store_dir).holder()} is writing to {store_dir}: restore when it has finished")
        held.enter_context(write)
        serving = lender(store_dir)
        if serving is not None:
            raise BackupError(f"ragapp serve (pid {serving.pid}) is using the store {store_dir}: stop it, then restore")
        # The local server takes this lock itself for an instant each second to see whether it is idle.
        users = _lock_within(store_dir / USERS_FILE, 3.0)
        if users is None:
            raise BackupError(
                f"the store {store_dir} is in use by a running process (the app, ragapp serve, ingest --watch, "
                "ragapp ask or mcp): stop it, then restore"
            )
        held.enter_context(users)
        owner = _lock_within(store_dir / OWNER_FILE, 0.0)
        if owner is None:
            stop_local_server(store_dir)
            owner = _lock_within(store_dir / OWNER_FILE, OWNER_WAIT_S)
        if owner is None:
            raise BackupError(
                f"the store {store_dir} is open in another process (one with RAGAPP_CHROMA=embedded?): stop it, then restore"
            )
        held.enter_context(owner)
        yield


def _lock_within(path: Path, seconds: float) -> IO | None:
    """The file, opened and exclusively flocked, trying for up to `seconds`; None if another holds it."""
    handle = open(path, "a+")
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                return None
            time.sleep(0.1)


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.before-restore-{stamp}-{n}")
    path.rename(aside)
    # A database's write-ahead log goes with it: left behind, SQLite would apply it to the restored file.
    for suffix in SQLITE_SIDECARS:
        sidecar = path.with_name(path.name + suffix)
        if sidecar.is_file():
            sidecar.rename(aside.with_name(aside.name + suffix))
    return aside


# --- both ----------------------------------------------------------------------------------------


def _require_vectors_in_store_folder(settings: Settings, doing: str) -> None:
    if settings.chroma_url:
        raise BackupError(
            f"ragapp cannot {doing} this store: its vectors are on the Chroma server at {settings.chroma_url} "
            "(RAGAPP_CHROMA_URL), and a backup covers a store whose vectors are kept in its store folder. "
            "Back up that server with its own tools, and the store folder's manifest and app.sqlite with it."
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
