"""A loader for the ingest workers whose import takes longer than the test's time limit for a file,
as starting a worker does on a busy machine (Python and the reader's imports). Loads normally."""

from __future__ import annotations

import time

from ragapp.loaders import load  # noqa: F401 (the loader the workers call)

time.sleep(2.5)
