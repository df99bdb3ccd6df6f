"""Keep folders in sync with the store: ingest (with prune) whenever their files have changed and
then stayed still for a moment.

A watch prunes, so it must never mistake a folder that has gone away for one that was emptied: a
watched path that is missing or unreadable, or a folder that held files and now holds none (what an
unmounted network share looks like), is not synced at all. The watch says so and waits for it to
come back. A sync that fails (a busy store, a store server that does not answer) is reported and
tried again; the watch goes on."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from ragapp.ingestion import UsageError, discover

Snapshot = dict[str, tuple[int, int]]
RETRY_S = 10.0  # after a failed sync, the next attempt


def snapshot(paths: Sequence[Path]) -> Snapshot:
    """(size, modification time) of every file ingest would see under the paths (those present)."""
    found: Snapshot = {}
    for given in paths:
        try:
            files = discover([given])
        except (UsageError, OSError):
            continue  # missing or unreadable: see unavailable()
        for path, _root in files:
            try:
                stat = path.stat()
            except OSError:  # vanished while we looked: the next look sees it gone
                continue
            found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def unavailable(paths: Sequence[Path], now: Snapshot, synced: Snapshot) -> str | None:
    """Why the paths cannot be synced safely now (in words), or None when they can."""
    for given in paths:
        path = Path(given).expanduser()
        try:
            if path.is_dir():
                os.listdir(path)
            elif not path.is_file():
                return f"{given} is missing"
            else:
                with open(path, "rb"):
                    pass
        except OSError as exc:
            return f"{given} cannot be read ({exc.strerror or exc})"
        if path.is_dir():
            inside = str(path.resolve()) + os.sep
            if any(k.startswith(inside) for k in synced) and not any(k.startswith(inside) for k in now):
                return f"{given} is empty now (an unmounted share looks like this)"
    return None


def watch(
    paths: Sequence[Path],
    sync: Callable[[], object],
    stop: threading.Event,
    poll_s: float = 1.0,
    settle_s: float = 2.0,
    on_problem: Callable[[str], None] | None = None,
    retry_s: float = RETRY_S,
) -> None:
    """Call sync() at once, then each time the files under paths have changed (added, changed or
    deleted) and then not changed for settle_s, until stop is set. on_problem(message) hears when
    the paths cannot be synced (and nothing is done) or a sync failed, and when all is well again.

    Waiting for files to settle means a file still being copied in is read once, complete."""
    say = on_problem or (lambda message: None)
    told: str | None = None
    synced: Snapshot = {}
    in_sync = False
    retry_at = 0.0

    def attempt(now: Snapshot) -> None:
        nonlocal told, synced, in_sync, retry_at
        problem = unavailable(paths, now, synced)
        if problem is None:
            try:
                sync()
            except Exception as exc:  # noqa: BLE001 - reported; the watch goes on
                problem = f"the sync failed ({exc}); trying again in {retry_s:g} s"
        if problem is not None:
            if problem != told:
                say(f"{problem}: nothing is removed from the store meanwhile" if "failed" not in problem else problem)
                told = problem
            in_sync, retry_at = False, time.monotonic() + retry_s
            return
        if told is not None:
            say("in sync again")
            told = None
        synced, in_sync = now, True

    seen = snapshot(paths)
    attempt(seen)
    still_since = time.monotonic()
    while not stop.wait(poll_s):
        now = snapshot(paths)
        if now != seen:
            seen, still_since = now, time.monotonic()
            continue
        settled = time.monotonic() - still_since >= settle_s
        if settled and (now != synced if in_sync else time.monotonic() >= retry_at):
            attempt(now)
