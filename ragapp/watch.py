"""Keep folders in sync with the store: ingest (with prune) whenever their files have changed and
then stayed still for a moment."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from ragapp.ingestion import discover

Snapshot = dict[str, tuple[int, int]]


def snapshot(paths: Sequence[Path]) -> Snapshot:
    """(size, modification time) of every file ingest would see under the paths."""
    found: Snapshot = {}
    for path, _root in discover(paths):
        try:
            stat = path.stat()
        except OSError:  # vanished while we looked: the next look sees it gone
            continue
        found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def watch(
    paths: Sequence[Path],
    sync: Callable[[], object],
    stop: threading.Event,
    poll_s: float = 1.0,
    settle_s: float = 2.0,
) -> None:
    """Call sync() at once, then each time the files under paths have changed (added, changed or
    deleted) and then not changed for settle_s, until stop is set.

    Waiting for files to settle means a file still being copied in is read once, complete."""
    synced = snapshot(paths)
    sync()
    seen, still_since = synced, time.monotonic()
    while not stop.wait(poll_s):
        now = snapshot(paths)
        if now != seen:
            seen, still_since = now, time.monotonic()
            continue
        if now != synced and time.monotonic() - still_since >= settle_s:
            synced = now
            sync()
