"""The store's one-writer lock."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ragapp.store.errors import StoreBusyError

LOCK_FILE = "write.lock"


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
