"""A loader for the ingest workers that misbehaves on request (by file name), as a hostile or
broken file can make a real parser misbehave: `*.slow.*` never finishes, `*.hog.*` asks for
far more memory than any limit, `*.crash.*` kills its process. Everything else loads normally."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ragapp.loaders import load as real_load


def load(path: Path, root: Path):
    name = Path(path).name
    if ".slow." in name:
        while True:  # an infinite loop, as in pypdf's advisories
            time.sleep(1)
    if ".hog." in name:
        # 16 GiB, more than any cap, in pieces each over the test's cap: the first is refused at
        # once. Smaller pieces are each written to (zeroed) before the next is asked for, which on
        # a busy machine took longer than the file's time limit, so it timed out instead.
        hoard = [bytearray(4 * 1024 * 1024 * 1024) for _ in range(4)]
        return hoard
    if ".crash." in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    return real_load(path, root)
