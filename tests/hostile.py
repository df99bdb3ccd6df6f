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
        hoard = [bytearray(256 * 1024 * 1024) for _ in range(64)]  # 16 GiB, more than any cap
        return hoard
    if ".crash." in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    return real_load(path, root)
